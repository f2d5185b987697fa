#include "columns.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

#include "codec_impl.h"

namespace mpp::sync {
namespace {

// Gives each distinct string an index in `table`, in the order of first use.
class Interner {
 public:
  explicit Interner(std::vector<std::string>* table) : table_(table) {}
  uint32_t operator()(const std::string& s) {
    auto [it, inserted] = ids_.try_emplace(s, static_cast<uint32_t>(table_->size()));
    if (inserted) table_->push_back(s);
    return it->second;
  }

 private:
  std::vector<std::string>* table_;
  std::unordered_map<std::string, uint32_t> ids_;
};

// Looks strings up by index; an index past the table marks the whole decode as bad, so the
// loops below stay simple and the caller refuses the body once at the end.
class TableLookup {
 public:
  TableLookup(const std::vector<std::string>& table, bool* bad) : table_(table), bad_(bad) {}
  const std::string& operator()(uint32_t index) const {
    if (index < table_.size()) return table_[index];
    *bad_ = true;
    return empty_;
  }

 private:
  const std::vector<std::string>& table_;
  bool* bad_;
  const std::string empty_;
};

// Positions of `names`, ordered by name and, within a name, by position: the order of the
// grouped columns. Encoder and decoder compute it from the same name column.
std::vector<size_t> GroupedByName(const std::vector<uint32_t>& names) {
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&names](size_t a, size_t b) { return names[a] < names[b]; });
  return order;
}

uint64_t Delta(int64_t value, int64_t from) {
  return static_cast<uint64_t>(value) - static_cast<uint64_t>(from);
}
int64_t Undelta(uint64_t delta, int64_t from) {
  return static_cast<int64_t>(static_cast<uint64_t>(from) + delta);
}

// Sum of per-item counts, which must equal the length of the columns they index.
bool CountsCover(const std::vector<uint32_t>& counts, size_t expected) {
  uint64_t total = 0;
  for (uint32_t c : counts) total += c;
  return total == expected;
}

template <class... Columns>
bool AllSized(size_t n, const Columns&... columns) {
  return ((columns.size() == n) && ...);
}

Error NotCanonical(const char* what) {
  return Error::Corrupt(std::string("the ") + what + " columns are not in canonical form");
}

}  // namespace

MutationColumns ToColumns(const std::vector<Mutation>& mutations) {
  MutationColumns c;
  Interner intern(&c.strings);
  uint64_t previous_seq = 0;
  int64_t previous_wall = 0;
  std::vector<const FieldWrite*> writes;
  for (const Mutation& m : mutations) {
    c.origin.push_back(intern(m.origin));
    c.seq.push_back(m.seq - previous_seq);
    c.hlc_wall.push_back(Delta(m.hlc.wall_ms, previous_wall));
    c.hlc_logical.push_back(m.hlc.logical);
    previous_seq = m.seq;
    previous_wall = m.hlc.wall_ms;
    c.actor.push_back(intern(m.actor));
    c.kind.push_back(static_cast<uint8_t>(m.kind));
    c.request_id.push_back(m.request_id);
    c.service_id.push_back(intern(m.service_id));
    c.receipt.push_back(m.receipt);
    c.write_count.push_back(static_cast<uint32_t>(m.writes.size()));
    for (const FieldWrite& w : m.writes) {
      c.write_name.push_back(intern(w.name));
      writes.push_back(&w);
    }
    c.status_to.push_back(static_cast<uint8_t>(m.status_to));
    c.status_base_wall.push_back(static_cast<uint64_t>(m.status_base.hlc.wall_ms));
    c.status_base_logical.push_back(m.status_base.hlc.logical);
    c.status_base_origin.push_back(intern(m.status_base.origin));
    c.note.push_back(m.note);
  }
  for (size_t i : GroupedByName(c.write_name)) {
    const FieldWrite& w = *writes[i];
    c.write_value.push_back(w.value);
    c.write_base_wall.push_back(static_cast<uint64_t>(w.base.hlc.wall_ms));
    c.write_base_logical.push_back(w.base.hlc.logical);
    c.write_base_origin.push_back(intern(w.base.origin));
  }
  return c;
}

Result<std::vector<Mutation>> FromColumns(const MutationColumns& c) {
  const size_t n = c.origin.size();
  const size_t w = c.write_name.size();
  if (!AllSized(n, c.seq, c.hlc_wall, c.hlc_logical, c.actor, c.kind, c.request_id, c.service_id,
                c.receipt, c.write_count, c.status_to, c.status_base_wall, c.status_base_logical,
                c.status_base_origin, c.note) ||
      !AllSized(w, c.write_value, c.write_base_wall, c.write_base_logical, c.write_base_origin) ||
      !CountsCover(c.write_count, w)) {
    return Error::Corrupt("the mutation columns have different lengths");
  }
  bool bad = false;
  const TableLookup str(c.strings, &bad);
  std::vector<Mutation> out(n);
  uint64_t seq = 0;
  int64_t wall = 0;
  size_t next_write = 0;
  for (size_t i = 0; i < n; ++i) {
    Mutation& m = out[i];
    m.origin = str(c.origin[i]);
    seq += c.seq[i];
    m.seq = seq;
    wall = Undelta(c.hlc_wall[i], wall);
    m.hlc = {wall, c.hlc_logical[i]};
    m.actor = str(c.actor[i]);
    if (c.kind[i] > kWireEnumMax<MutationKind> || c.status_to[i] > kWireEnumMax<RequestStatus>) {
      return Error::Corrupt("mutation " + std::to_string(i) + " has an unknown kind or status");
    }
    m.kind = static_cast<MutationKind>(c.kind[i]);
    m.request_id = c.request_id[i];
    m.service_id = str(c.service_id[i]);
    m.receipt = c.receipt[i];
    m.writes.resize(c.write_count[i]);
    for (FieldWrite& fw : m.writes) fw.name = str(c.write_name[next_write++]);
    m.status_to = static_cast<RequestStatus>(c.status_to[i]);
    m.status_base = {{static_cast<int64_t>(c.status_base_wall[i]), c.status_base_logical[i]},
                     str(c.status_base_origin[i])};
    m.note = c.note[i];
  }
  // The grouped columns, back to mutation order.
  std::vector<FieldWrite*> writes;
  writes.reserve(w);
  for (Mutation& m : out) {
    for (FieldWrite& fw : m.writes) writes.push_back(&fw);
  }
  const std::vector<size_t> order = GroupedByName(c.write_name);
  for (size_t j = 0; j < w; ++j) {
    FieldWrite& fw = *writes[order[j]];
    fw.value = c.write_value[j];
    fw.base = {{static_cast<int64_t>(c.write_base_wall[j]), c.write_base_logical[j]},
               str(c.write_base_origin[j])};
  }
  if (bad) return Error::Corrupt("a mutation column refers past the string table");
  if (ToColumns(out) != c) return NotCanonical("mutation");
  return out;
}

RequestColumns ToColumns(const std::vector<Request>& requests) {
  RequestColumns c;
  Interner intern(&c.strings);
  int64_t previous_wall = 0;
  std::vector<const FieldValue*> fields;
  std::vector<int64_t> field_created;  // each field's request's `created`: its timestamp's base
  for (const Request& r : requests) {
    const int64_t created = r.created.wall_ms;
    c.id.push_back(r.id);
    c.receipt.push_back(r.receipt);
    c.service_id.push_back(intern(r.service_id));
    c.device_id.push_back(intern(r.device_id));
    c.officer.push_back(intern(r.officer));
    c.status.push_back(static_cast<uint8_t>(r.status));
    c.created_wall.push_back(Delta(created, previous_wall));
    c.created_logical.push_back(r.created.logical);
    previous_wall = created;
    c.status_wall.push_back(Delta(r.status_version.hlc.wall_ms, created));
    c.status_logical.push_back(r.status_version.hlc.logical);
    c.status_origin.push_back(intern(r.status_version.origin));
    c.status_note.push_back(intern(r.status_note));
    c.field_count.push_back(static_cast<uint32_t>(r.fields.size()));
    for (const auto& [name, value] : r.fields) {
      c.field_name.push_back(intern(name));
      fields.push_back(&value);
      field_created.push_back(created);
    }
    c.history_count.push_back(static_cast<uint32_t>(r.history.size()));
    for (const HistoryEntry& h : r.history) {
      c.history_wall.push_back(Delta(h.at.wall_ms, created));
      c.history_logical.push_back(h.at.logical);
      c.history_actor.push_back(intern(h.actor));
      c.history_text.push_back(intern(h.text));
    }
  }
  for (size_t i : GroupedByName(c.field_name)) {
    c.field_value.push_back(fields[i]->value);
    c.field_wall.push_back(Delta(fields[i]->version.hlc.wall_ms, field_created[i]));
    c.field_logical.push_back(fields[i]->version.hlc.logical);
    c.field_origin.push_back(intern(fields[i]->version.origin));
  }
  return c;
}

Result<std::vector<Request>> FromColumns(const RequestColumns& c) {
  const size_t n = c.id.size();
  const size_t f = c.field_name.size();
  const size_t h = c.history_wall.size();
  if (!AllSized(n, c.receipt, c.service_id, c.device_id, c.officer, c.status, c.created_wall,
                c.created_logical, c.status_wall, c.status_logical, c.status_origin, c.status_note,
                c.field_count, c.history_count) ||
      !AllSized(f, c.field_value, c.field_wall, c.field_logical, c.field_origin) ||
      !AllSized(h, c.history_logical, c.history_actor, c.history_text) ||
      !CountsCover(c.field_count, f) || !CountsCover(c.history_count, h)) {
    return Error::Corrupt("the request columns have different lengths");
  }
  bool bad = false;
  const TableLookup str(c.strings, &bad);
  std::vector<Request> out(n);
  std::vector<std::string> names(f);
  std::vector<int64_t> field_created(f);
  int64_t wall = 0;
  size_t next_field = 0;
  size_t next_history = 0;
  for (size_t i = 0; i < n; ++i) {
    Request& r = out[i];
    r.id = c.id[i];
    r.receipt = c.receipt[i];
    r.service_id = str(c.service_id[i]);
    r.device_id = str(c.device_id[i]);
    r.officer = str(c.officer[i]);
    if (c.status[i] > kWireEnumMax<RequestStatus>) {
      return Error::Corrupt("request " + std::to_string(i) + " has an unknown status");
    }
    r.status = static_cast<RequestStatus>(c.status[i]);
    wall = Undelta(c.created_wall[i], wall);
    r.created = {wall, c.created_logical[i]};
    r.status_version = {{Undelta(c.status_wall[i], wall), c.status_logical[i]},
                        str(c.status_origin[i])};
    r.status_note = str(c.status_note[i]);
    for (uint32_t k = 0; k < c.field_count[i]; ++k, ++next_field) {
      names[next_field] = str(c.field_name[next_field]);
      field_created[next_field] = wall;
    }
    r.history.resize(c.history_count[i]);
    for (HistoryEntry& e : r.history) {
      e.at = {Undelta(c.history_wall[next_history], wall), c.history_logical[next_history]};
      e.actor = str(c.history_actor[next_history]);
      e.text = str(c.history_text[next_history]);
      ++next_history;
    }
  }
  // The grouped columns, back to request order; then each request's map, whose keys must be
  // the strictly increasing names ToColumns writes (the canonical check below sees to it).
  std::vector<FieldValue> values(f);
  const std::vector<size_t> order = GroupedByName(c.field_name);
  for (size_t j = 0; j < f; ++j) {
    const size_t i = order[j];
    values[i] = {
        c.field_value[j],
        {{Undelta(c.field_wall[j], field_created[i]), c.field_logical[j]}, str(c.field_origin[j])}};
  }
  next_field = 0;
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t k = 0; k < c.field_count[i]; ++k, ++next_field) {
      out[i].fields.emplace_hint(out[i].fields.end(), std::move(names[next_field]),
                                 std::move(values[next_field]));
    }
  }
  if (bad) return Error::Corrupt("a request column refers past the string table");
  if (ToColumns(out) != c) return NotCanonical("request");
  return out;
}

}  // namespace mpp::sync
