#include "sim/simulation.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "mpp/field/use_cases.h"
#include "mpp/sync/json_format.h"
#include "support/sync_world.h"

namespace mpp::sim {
namespace {

using sync::RequestStatus;
using test::Fault;

constexpr int64_t kDay = 86'400'000;

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kNone:
      return "none";
    case Fault::kDropRequest:
      return "fault_drop_request";
    case Fault::kCutAnswer:
      return "fault_cut_answer_after_apply";
    case Fault::kDuplicate:
      return "fault_duplicate";
    case Fault::kServerBusy:
      return "fault_server_503";
    case Fault::kReplayPrevious:
      return "fault_replay_old_answer";
    case Fault::kCorruptRequest:
      return "fault_corrupt_request";
    case Fault::kCorruptAnswer:
      return "fault_corrupt_answer";
    case Fault::kTruncateAnswer:
      return "fault_truncate_answer";
  }
  return "fault_unknown";
}

// Values that pass the catalog's validation, by field type (an officer filling the form). With
// places, a village is one of the catalog's and a NIK names one of its districts (Kemendagri
// codes); without, any well-formed code of Kubu Raya's shape.
std::string ValidValue(const sync::Catalog& catalog, const sync::FieldSpec& spec, sync::Rng& rng,
                       int serial) {
  char buf[64];
  switch (spec.type) {
    case sync::FieldType::kNik: {
      const auto& districts = catalog.districts();
      const int district = districts.empty()
                               ? 1 + static_cast<int>(rng.Uniform(9))
                               : std::stoi(districts[rng.Uniform(districts.size())].code.substr(6));
      snprintf(buf, sizeof buf, "6112%02d%02d%02d%02d%04d", district,
               1 + static_cast<int>(rng.Uniform(28)) + (rng.Uniform(2) ? 40 : 0),
               1 + static_cast<int>(rng.Uniform(12)), 50 + static_cast<int>(rng.Uniform(50)),
               1 + serial % 9999);
      return buf;
    }
    case sync::FieldType::kDate:
      snprintf(buf, sizeof buf, "19%02d-%02d-%02d", 50 + static_cast<int>(rng.Uniform(50)),
               1 + static_cast<int>(rng.Uniform(12)), 1 + static_cast<int>(rng.Uniform(28)));
      return buf;
    case sync::FieldType::kPhone:
      snprintf(buf, sizeof buf, "0812%08d", static_cast<int>(rng.Uniform(100'000'000)));
      return buf;
    case sync::FieldType::kNumber: {
      uint64_t bound = 1;
      for (uint32_t i = 0; i < std::min<uint32_t>(spec.max_length, 6); ++i) bound *= 10;
      return std::to_string(rng.Uniform(bound));
    }
    case sync::FieldType::kEnum:
      return spec.options[rng.Uniform(spec.options.size())];
    case sync::FieldType::kEmail:
      return "warga" + std::to_string(rng.Uniform(1000)) + "@contoh.id";
    case sync::FieldType::kVillageCode:
      if (!catalog.villages().empty()) {
        return catalog.villages()[rng.Uniform(catalog.villages().size())].code;
      }
      snprintf(buf, sizeof buf, "61.12.%02d.%04d", 1 + static_cast<int>(rng.Uniform(9)),
               2001 + static_cast<int>(rng.Uniform(20)));
      return buf;
    case sync::FieldType::kText: {
      static const char* kWords[] = {"Jl. Sungai Raya",
                                     "Desa Kuala Dua",
                                     "RT 003/RW 002",
                                     "Siti",
                                     "Budi",
                                     "O'Brien'); DROP TABLE requests;--",
                                     "Ñoño ünïcode",
                                     "catatan petugas"};
      std::string text = kWords[rng.Uniform(8)];
      text += " " + std::to_string(rng.Uniform(1000));
      return text.size() <= spec.max_length ? text : text.substr(0, spec.max_length);
    }
  }
  return "";
}

// The birth-date field a NIK-typed field's digits 7-12 must agree with (Catalog::CheckFormRules).
std::string BirthDateFieldOf(const std::string& nik_field) {
  if (nik_field == "nik") return "birth_date";
  if (nik_field.rfind("nik_", 0) == 0) return "tanggal_lahir_" + nik_field.substr(4);
  return {};
}

sync::FieldMap ValidForm(const sync::Catalog& catalog, const sync::Service& service, sync::Rng& rng,
                         int serial) {
  sync::FieldMap fields;
  for (const auto& spec : service.fields) {
    if (spec.required || rng.Uniform(2) == 0) {
      fields[spec.name] = ValidValue(catalog, spec, rng, serial);
    }
  }
  // A NIK's date part is the person's birth date (DDMMYY, +40 on the day for a woman).
  for (auto& [name, value] : fields) {
    auto birth = fields.find(BirthDateFieldOf(name));
    if (value.size() != 16 || birth == fields.end()) continue;
    const std::string& date = birth->second;  // YYYY-MM-DD
    const int day = std::stoi(date.substr(8, 2)) + (std::stoi(value.substr(6, 2)) > 40 ? 40 : 0);
    char part[8];
    snprintf(part, sizeof part, "%02d", day);
    value = value.substr(0, 6) + part + date.substr(5, 2) + date.substr(2, 2) + value.substr(12);
  }
  return fields;
}

class Simulation {
 public:
  explicit Simulation(const SimConfig& config)
      : config_(config),
        world_(config.seed, "", config.parent_dir),
        rng_(config.seed * 0x9E3779B97F4A7C15ull + 1) {
    catalog_ = world_.services().core.catalog();
  }

  SimResult Run() {
    // The first van has two tablets: one van code, two devices, registering offline at once.
    for (int i = 0; i <= config_.vans; ++i) {
      const int code = i < config_.vans ? i : 0;
      test::Van& van = world_.AddVan("KR" + std::to_string(10 + code));
      van.link->SetPolicy([this](const sync::HttpRequest&) { return PickFault(); });
      van.link->SetByteChooser([this](size_t size) { return rng_.Uniform(size); });
      revoked_at_seq_.push_back(0);
    }
    for (int step = 0; step < config_.steps; ++step) Step();
    Heal();
    Check();
    return std::move(result_);
  }

 private:
  void Count(const std::string& what, uint64_t n = 1) { result_.counts[what] += n; }

  Fault PickFault() {
    if (!faults_on_ || rng_.Uniform(1000) >= config_.fault_rate * 1000) return Fault::kNone;
    static constexpr Fault kFaults[] = {Fault::kDropRequest,    Fault::kCutAnswer,
                                        Fault::kDuplicate,      Fault::kServerBusy,
                                        Fault::kReplayPrevious, Fault::kCorruptRequest,
                                        Fault::kCorruptAnswer,  Fault::kTruncateAnswer};
    const Fault f = kFaults[rng_.Uniform(std::size(kFaults))];
    Count(FaultName(f));
    return f;
  }

  test::Van& RandomVan() { return world_.van(rng_.Uniform(world_.van_count())); }
  size_t IndexOf(const test::Van& van) {
    for (size_t i = 0; i < world_.van_count(); ++i) {
      if (&world_.van(i) == &van) return i;
    }
    return 0;
  }

  std::optional<std::string> RandomRequestOf(test::Van& van,
                                             std::optional<RequestStatus> status = std::nullopt) {
    store::RequestFilter filter;
    filter.status = status;
    auto rows = van.store->List(filter);
    if (!rows.ok() || rows->empty()) return std::nullopt;
    return (*rows)[rng_.Uniform(rows->size())].view.id;
  }

  std::optional<std::string> RandomServerRequest() {
    auto rows = world_.storage().ListRequests({});
    if (!rows.ok() || rows->empty()) return std::nullopt;
    return (*rows)[rng_.Uniform(rows->size())].request.id;
  }

  // Records every mutation a van will push, before it leaves the outbox, so the checks can
  // account for each one.
  void RecordPending(test::Van& van) {
    // A revoked van's outbox can no longer reach the server (a store it restores may even hold
    // mutations of seqs its re-sent copies took): nothing it sends from now on is acknowledged.
    if (revoked_.count(IndexOf(van)) > 0) return;
    auto pending = van.store->PendingMutations(1'000'000);
    if (!pending.ok()) return;
    for (auto& m : *pending) {
      // Keyed by seq and clock too: a restored store reuses seqs for other mutations, and a
      // recovery moves a mutation to another seq; each one stays accounted for.
      if (m.kind == sync::MutationKind::kRestore) continue;  // a copy of state, not new work
      const SentKey key{m.origin, m.seq, m.hlc, m.request_id};
      sent_[key] = std::move(m);
    }
  }

  void SyncVan(test::Van& van) {
    RecordPending(van);
    field::SyncOptions options;
    options.batch_size = 1 + rng_.Uniform(8);
    options.max_attempts = 1 + static_cast<int>(rng_.Uniform(4));
    auto report = world_.Sync(van, options);
    Count(report.ok() ? "sync_completed" : "sync_failed");
  }

  void Step() {
    world_.clock().Advance(static_cast<int64_t>(rng_.Uniform(600'000)));
    const uint64_t action = rng_.Uniform(100);
    test::Van& van = RandomVan();
    const int serial = static_cast<int>(++serial_);
    if (action < 25) {
      const auto& services = catalog_.services();
      const sync::Service& service = services[rng_.Uniform(services.size())];
      auto r = field::RegisterRequest(*van.store, service.id,
                                      ValidForm(catalog_, service, rng_, serial));
      // Every form is valid, so a refusal is a bug in the generator or the store.
      if (!r.ok()) Violation("valid registration refused: " + r.error().message());
      Count("van_register");
    } else if (action < 35) {
      auto id = RandomRequestOf(van);
      if (!id) return;
      auto row = van.store->Find(*id);
      const sync::Service* service = catalog_.FindService(row->view.service_id);
      const sync::FieldSpec& spec = service->fields[rng_.Uniform(service->fields.size())];
      auto r = field::UpdateRequest(*van.store, *id,
                                    {{spec.name, ValidValue(catalog_, spec, rng_, serial)}});
      // A final request refuses every edit on the van; the server keeps one made before the van
      // heard it became final as a conflict record (the invariants check it left a trace).
      if (r.ok() && sync::IsFinal(row->view.status)) {
        Violation("van edit of a final request accepted: " + row->view.receipt);
      }
      Count(r.ok()                            ? "van_update"
            : sync::IsFinal(row->view.status) ? "van_update_of_final_refused"
                                              : "van_update_refused");
    } else if (action < 40) {
      auto id = RandomRequestOf(van);
      if (!id) return;
      auto r = rng_.Uniform(2) ? field::CancelRequest(*van.store, *id, "pemohon membatalkan")
                               : field::DeliverRequest(*van.store, *id);
      Count(r.ok() ? "van_status" : "van_status_refused");
    } else if (action < 43) {
      // Mostly a request that waits for information, as an officer would pick.
      auto id = rng_.Uniform(4) != 0 ? RandomRequestOf(van, RequestStatus::kNeedsInfo)
                                     : RandomRequestOf(van);
      if (!id) return;
      auto row = van.store->Find(*id);
      const sync::Service* service = catalog_.FindService(row->view.service_id);
      const sync::FieldSpec* note = service->FindField("catatan");
      sync::FieldMap answer;
      if (note != nullptr && rng_.Uniform(4) != 0)
        answer["catatan"] = ValidValue(catalog_, *note, rng_, serial);
      auto r = field::AnswerRequest(*van.store, *id, answer);
      if (r.ok() && (answer.empty() || row->view.status != RequestStatus::kNeedsInfo)) {
        Violation("answer accepted without information or on a request not waiting for it: " +
                  row->view.receipt);
      }
      Count(r.ok() ? "van_answer" : "van_answer_refused");
    } else if (action < 45) {
      // The same citizen asks for the same service again on this van.
      auto id = RandomRequestOf(van);
      if (!id) return;
      auto row = van.store->Find(*id);
      auto fields = row->view.fields;
      sync::FieldMap form;
      for (const auto& [name, value] : fields) form[name] = value.value;
      auto open = field::OpenDuplicates(*van.store, row->view.service_id, form);
      const bool expect_refusal = !open->empty();
      if (!sync::IsFinal(row->view.status) && !expect_refusal) {
        Violation("an open request is not found as a duplicate of itself: " + row->view.receipt);
      }
      auto again = field::RegisterRequest(*van.store, row->view.service_id, form);
      if (again.ok() == expect_refusal) {
        Violation(std::string("a registration for a citizen with ") +
                  (expect_refusal ? "an open request was accepted without --force"
                                  : "no open request was refused") +
                  ": " + row->view.receipt + (again.ok() ? "" : ": " + again.error().message()));
      }
      if (!again.ok()) {
        field::RegisterOptions force;
        force.force = true;
        again = field::RegisterRequest(*van.store, row->view.service_id, form, force);
        if (!again.ok()) Violation("a forced registration was refused: " + again.error().message());
      }
      Count("van_register_again");
    } else if (action < 58) {
      auto id = RandomServerRequest();
      if (!id) return;
      static constexpr RequestStatus kStaff[] = {
          RequestStatus::kReceived,  RequestStatus::kInReview, RequestStatus::kNeedsInfo,
          RequestStatus::kCompleted, RequestStatus::kRejected, RequestStatus::kCancelled};
      // Staff mostly give a reason (a rejection without one is refused).
      const std::string note = rng_.Uniform(4) != 0 ? "alasan " + std::to_string(serial) : "";
      auto r = world_.services().staff.SetStatus(*id, kStaff[rng_.Uniform(std::size(kStaff))],
                                                 "staf" + std::to_string(rng_.Uniform(3)), note);
      Count(r.ok() ? "staff_status" : "staff_status_refused");
    } else if (action < 65) {
      auto id = RandomServerRequest();
      if (!id) return;
      auto found = world_.storage().FindRequest(*id);
      const sync::Service* service = catalog_.FindService((*found)->request.service_id);
      const sync::FieldSpec& spec = service->fields[rng_.Uniform(service->fields.size())];
      auto r = world_.services().staff.SetFields(
          *id, {{spec.name, ValidValue(catalog_, spec, rng_, serial)}},
          "staf" + std::to_string(rng_.Uniform(3)));
      Count(r.ok() ? "staff_edit" : "staff_edit_refused");
    } else if (action < 88) {
      SyncVan(van);
    } else if (action < 92) {
      const uint64_t what = rng_.Uniform(8);
      if (what == 0) {
        world_.SnapshotVan(van);
        Count("van_store_backup");
      } else if (what == 1 && world_.HasVanSnapshot(van)) {
        RestoreVan(van);
        Count("van_store_restored_from_older_copy");
      } else {
        world_.ReopenVan(van);
        Count("crash_van");
      }
    } else if (action < 94) {
      const uint64_t what = rng_.Uniform(6);
      if (what == 0) {
        world_.SnapshotServer();
        Count("server_backup");
      } else if (what == 1 && world_.HasServerSnapshot()) {
        RestoreServer();
        Count("server_restored_from_backup");
      } else {
        world_.RestartServer();
        Count("crash_server");
      }
      for (size_t i = 0; i < world_.van_count(); ++i) {
        world_.van(i).link->SetPolicy([this](const sync::HttpRequest&) { return PickFault(); });
        world_.van(i).link->SetByteChooser([this](size_t size) { return rng_.Uniform(size); });
      }
    } else if (action < 99) {
      // A dead RTC or a manual change: up to three days either way, sometimes back to right.
      const int64_t offset =
          rng_.Uniform(3) == 0 ? 0 : static_cast<int64_t>(rng_.Uniform(6 * kDay)) - 3 * kDay;
      van.clock->set_offset_ms(offset);
      Count("clock_jump");
    } else if (!revoked_any_ && world_.van_count() > 1) {
      revoked_any_ = true;
      const size_t i = IndexOf(van);
      auto device = world_.storage().FindDevice(van.device_id());
      revoked_at_seq_[i] = (*device)->last_applied_seq;
      revoked_[i] = true;
      ExemptWhatCanNoLongerArrive(van.device_id());
      auto r = world_.services().devices.RevokeDevice(van.device_id(), "admin");
      Count(r.ok() ? "revoke" : "revoke_refused");
    }
  }

  // The officer puts back an older copy of the store. What the van made after the copy and the
  // server never applied is gone with it (nothing can bring that back); what the server applied
  // must survive, and the van gets it back with its pulls.
  void RestoreVan(test::Van& van) {
    const std::string device_id = van.device_id();
    auto device = world_.storage().FindDevice(device_id);
    const uint64_t applied = (*device)->last_applied_seq;
    std::erase_if(sent_, [&](const auto& entry) {
      return entry.first.origin == device_id && entry.first.seq > applied;
    });
    world_.RestoreVanSnapshot(van);
  }

  // The administrator restores the server's backup. Acknowledged van work after it must come
  // back from the vans (invariant 2). A mutation that left no trace in the state even before
  // (it lost a concurrent write; its conflict record went with the backup) is not expected to.
  // Revocations after the backup are made again, as an administrator would.
  void RestoreServer() {
    std::map<std::string, uint64_t> applied_before;
    for (size_t i = 0; i < world_.van_count(); ++i) {
      const std::string id = world_.van(i).device_id();
      applied_before[id] = (*world_.storage().FindDevice(id))->last_applied_seq;
    }
    auto before = world_.storage().ListRequests({});
    std::map<std::string, sync::Request> state_before;
    for (auto& row : *before) state_before[row.request.id] = std::move(row.request);
    world_.RestoreServerSnapshot();
    for (const auto& [key, m] : sent_) {
      auto device = world_.storage().FindDevice(key.origin);
      if (!device.ok() || !*device) continue;
      if (m.seq <= (*device)->last_applied_seq || m.seq > applied_before[key.origin]) continue;
      auto it = state_before.find(m.request_id);
      if (it == state_before.end() || !LeftTrace(it->second, m)) exempt_.insert(key);
    }
    for (auto& [i, revoked] : revoked_) {
      if (!revoked) continue;
      const std::string id = world_.van(i).device_id();
      auto device = world_.storage().FindDevice(id);
      ExemptWhatCanNoLongerArrive(id);
      if (!(*device)->revoked()) (void)world_.services().devices.RevokeDevice(id, "admin");
      revoked_at_seq_[i] = (*device)->last_applied_seq;
    }
  }

  // A revoked device sends nothing more: its work the server does not hold now cannot arrive
  // (unless another tablet of the van holds it and re-sends it after a server restore). After a
  // restore the device's seqs may name re-sent copies, so its seq says less than its trace.
  void ExemptWhatCanNoLongerArrive(const std::string& device_id) {
    auto rows = world_.storage().ListRequests({});
    std::map<std::string, sync::Request> state;
    for (auto& row : *rows) state[row.request.id] = std::move(row.request);
    for (const auto& [key, m] : sent_) {
      if (key.origin != device_id) continue;
      auto it = state.find(m.request_id);
      if (it == state.end() || !LeftTrace(it->second, m)) exempt_.insert(key);
    }
  }

  bool LeftTrace(const sync::Request& r, const sync::Mutation& m) {
    if (m.kind == sync::MutationKind::kSetFields) {
      for (const auto& w : m.writes) {
        if (!HistoryHas(r, m, w.name)) return false;
      }
      return true;
    }
    if (m.kind == sync::MutationKind::kSetStatus) return HistoryHas(r, m, "status");
    return true;
  }

  void Heal() {
    faults_on_ = false;
    for (size_t i = 0; i < world_.van_count(); ++i) world_.van(i).clock->set_offset_ms(0);
    // Real time moves past every skewed timestamp the vans made, as it would in the field.
    world_.clock().Advance(4 * kDay);
    for (int round = 0; round < 2; ++round) {
      for (size_t i = 0; i < world_.van_count(); ++i) {
        test::Van& van = world_.van(i);
        RecordPending(van);
        auto report = world_.Sync(van);
        if (!revoked_.count(i) && !report.ok()) {
          // What the van still holds to send, to see why the server refuses it.
          std::string pending;
          if (auto outbox = van.store->PendingMutations(8); outbox.ok()) {
            for (const auto& m : *outbox) {
              pending += " seq " + std::to_string(m.seq) + " kind " +
                         std::to_string(static_cast<int>(m.kind)) + " " + m.request_id + ";";
            }
          }
          Violation("van " + van.van_code + " cannot sync after healing: " +
                    report.error().message() + "; pending:" + pending);
        }
      }
    }
  }

  void Violation(const std::string& what) { result_.violations.push_back(what); }

  bool HistoryHas(const sync::Request& r, const sync::Mutation& m, const std::string& fragment) {
    for (const auto& h : r.history) {
      if (h.at == m.hlc && h.actor == m.actor && h.text.find(fragment) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  void Check() {
    auto conflicts = world_.storage().ListConflicts();
    std::set<std::pair<std::string, sync::Version>> lost;  // (request/field, version) that lost
    for (const auto& c : *conflicts) {
      lost.insert({c.conflict.request_id + "/" + c.conflict.field, c.conflict.lost_version});
    }
    for (size_t i = 0; i < world_.van_count(); ++i) {
      test::Van& van = world_.van(i);
      const std::string device_id = van.device_id();
      auto device = world_.storage().FindDevice(device_id);
      const uint64_t applied = (*device)->last_applied_seq;
      const bool revoked = revoked_.count(i) > 0;
      if (revoked && applied != revoked_at_seq_[i]) {
        Violation("revoked van " + van.van_code + " had mutations applied after revocation");
      }
      auto van_device = van.store->Device();
      // Invariant 3 (exactly once) and 1 (convergence) for vans still enrolled.
      if (!revoked && van_device->pending != 0) {
        Violation("van " + van.van_code + " still has " + std::to_string(van_device->pending) +
                  " pending mutations after healing");
      }
      // The van's scope is its van code: its tablets hold each other's requests.
      auto server_rows = world_.storage().ListRequests({});
      std::map<std::string, sync::Request> server_by_id;
      for (auto& row : *server_rows) {
        if (row.request.receipt.rfind(van.van_code + "-", 0) == 0) {
          server_by_id[row.request.id] = row.request;
        }
      }
      std::set<std::string> receipts;
      for (const auto& [id, r] : server_by_id) {
        if (!receipts.insert(r.receipt).second) {
          Violation("receipt " + r.receipt + " names two requests on the server");
        }
      }
      if (!revoked) {
        auto van_rows = van.store->List({});
        if (van_rows->size() != server_by_id.size()) {
          Violation("van " + van.van_code + " holds " + std::to_string(van_rows->size()) +
                    " requests, the server " + std::to_string(server_by_id.size()));
        }
        for (const auto& row : *van_rows) {
          auto it = server_by_id.find(row.view.id);
          if (it == server_by_id.end()) {
            Violation("request " + row.view.id + " of van " + van.van_code +
                      " is not on the server");
          } else if (!(it->second == row.view)) {
            Violation("request " + row.view.id + " differs between van " + van.van_code +
                      " and server: van " + sync::RequestToJson(row.view, true).dump() +
                      " server " + sync::RequestToJson(it->second, true).dump());
          }
        }
      }
      // Invariant 2: every acknowledged mutation left its trace in the state or a conflict.
      for (const auto& [key, m] : sent_) {
        if (key.origin != device_id || m.seq > applied || exempt_.count(key)) continue;
        Count("mutations_checked");
        auto it = server_by_id.find(m.request_id);
        if (it == server_by_id.end()) {
          Violation("acknowledged mutation " + std::to_string(m.seq) + " of van " + van.van_code +
                    " refers to a request missing on the server");
          continue;
        }
        const sync::Request& r = it->second;
        if (m.kind == sync::MutationKind::kSetFields) {
          for (const auto& w : m.writes) {
            if (!HistoryHas(r, m, w.name) && !lost.count({r.id + "/" + w.name, m.version()})) {
              Violation("acknowledged write of " + w.name + " (seq " + std::to_string(m.seq) +
                        ", van " + van.van_code + ") left no trace");
            }
          }
        } else if (m.kind == sync::MutationKind::kSetStatus) {
          if (!HistoryHas(r, m, "status") && !lost.count({r.id + "/status", m.version()})) {
            Violation("acknowledged status change (seq " + std::to_string(m.seq) + ", van " +
                      van.van_code + ") left no trace");
          }
        }
      }
      // Exactly once: no mutation shows twice in a history.
      for (const auto& [id, r] : server_by_id) {
        std::set<std::tuple<sync::HlcTimestamp, std::string, std::string>> seen;
        for (const auto& h : r.history) {
          if (!seen.insert({h.at, h.actor, h.text}).second) {
            Violation("request " + id + " shows one change twice: " + h.text);
          }
        }
      }
    }
    auto audit = world_.services().staff.VerifyEnvelopes();
    if (!audit.ok() || !audit->failures.empty()) {
      Violation("audit verify failed: " +
                (audit.ok() ? audit->failures.front() : audit.error().message()));
    } else {
      Count("envelopes_verified", audit->checked);
    }
    Count("conflicts", conflicts->size());
  }

  SimConfig config_;
  test::SyncWorld world_;
  sync::SeededRng rng_;  // the simulation's choices; the world has its own stream
  sync::Catalog catalog_;
  SimResult result_;
  bool faults_on_ = true;
  bool revoked_any_ = false;
  std::map<size_t, bool> revoked_;
  std::vector<uint64_t> revoked_at_seq_;
  struct SentKey {
    std::string origin;
    uint64_t seq = 0;
    sync::HlcTimestamp hlc;
    std::string request_id;
    auto operator<=>(const SentKey&) const = default;
  };
  std::map<SentKey, sync::Mutation> sent_;
  std::set<SentKey> exempt_;  // see RestoreServer
  uint64_t serial_ = 0;
};

}  // namespace

std::string SimResult::ReplayCommand(const SimConfig& c) const {
  std::ostringstream out;
  if (test::BackendFromEnv() != test::StorageBackend::kSqlite) {
    out << "MPP_TEST_STORAGE=" << test::BackendName(test::BackendFromEnv()) << " ";
  }
  out << "tools/soak.sh --seed " << c.seed << " --vans " << c.vans << " --steps " << c.steps
      << " --fault-rate " << c.fault_rate;
  return out.str();
}

SimResult RunSimulation(const SimConfig& config) {
  SimConfig c = config;
  if (c.parent_dir.empty()) {
    c.parent_dir = std::filesystem::is_directory("/dev/shm")
                       ? "/dev/shm"
                       : std::filesystem::temp_directory_path().string();
  }
  return Simulation(c).Run();
}

}  // namespace mpp::sim
