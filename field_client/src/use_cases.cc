#include "mpp/field/use_cases.h"

#include <algorithm>
#include <array>
#include <clocale>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>

#include "mpp/sync/text.h"

namespace mpp::field {
namespace {

using sync::Mutation;
using sync::MutationKind;

// What an officer typed or imported, in the form's stored spelling (Catalog::NormaliseForm:
// NFC, dates as YYYY-MM-DD, phone numbers as 08..., enum values as the catalog spells them): the
// van normalises before the catalog validates and the mutation is signed; the server only checks.
std::vector<sync::FieldWrite> Writes(const sync::Catalog& catalog, std::string_view service_id,
                                     sync::FieldMap fields) {
  catalog.NormaliseForm(service_id, fields);
  std::vector<sync::FieldWrite> writes;
  writes.reserve(fields.size());
  while (!fields.empty()) {
    auto node = fields.extract(fields.begin());
    writes.push_back({std::move(node.key()), std::move(node.mapped()), {}});
  }
  return writes;
}

Result<sync::Request> CommitOne(store::VanStore& store, std::vector<Mutation> drafts) {
  MPP_ASSIGN_OR_RETURN(auto views, store.Commit(std::move(drafts)));
  return std::move(views.back());
}

Mutation StatusDraft(const std::string& id, sync::RequestStatus to, std::string note) {
  Mutation m;
  m.kind = MutationKind::kSetStatus;
  m.request_id = id;
  m.status_to = to;
  m.note = std::move(note);
  if (std::any_of(m.note.begin(), m.note.end(),
                  [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    m.note = sync::ToNfc(m.note);
  }
  return m;
}

Mutation FieldsDraft(const sync::Catalog& catalog, const sync::Request& request,
                     sync::FieldMap fields) {
  Mutation m;
  m.kind = MutationKind::kSetFields;
  m.request_id = request.id;
  m.writes = Writes(catalog, request.service_id, std::move(fields));
  return m;
}

// The field of a service's form that names the citizen the request is for.
constexpr const char* kCitizenNikField = "nik";

Result<std::vector<sync::Request>> FindOpenDuplicates(store::VanStore& store,
                                                      const sync::Catalog& catalog,
                                                      const std::string& service_id,
                                                      const sync::FieldMap& fields) {
  std::vector<sync::Request> open;
  auto nik = fields.find(kCitizenNikField);
  if (nik == fields.end() || nik->second.empty()) return open;
  store::RequestFilter filter;
  filter.service_id = service_id;
  // Only the NIK is looked up: it alone is put into the stored spelling (an import does this
  // for every line).
  const sync::Service* service = catalog.FindService(service_id);
  const sync::FieldSpec* spec = service ? service->FindField(kCitizenNikField) : nullptr;
  filter.nik = spec ? sync::NormaliseFieldValue(*spec, nik->second) : nik->second;
  MPP_ASSIGN_OR_RETURN(auto rows, store.List(filter));
  for (auto& row : rows) {
    if (!sync::IsFinal(row.view.status)) open.push_back(std::move(row.view));
  }
  return open;
}

std::string DuplicateMessage(const std::string& service_id,
                             const std::vector<sync::Request>& open) {
  std::string receipts;
  for (const auto& r : open) {
    receipts +=
        (receipts.empty() ? "" : ", ") + r.receipt + " (" + sync::StatusWords(r.status) + ")";
  }
  return "this NIK already has an open request for " + service_id + " on this van: " + receipts +
         "; register another one only if the citizen really asks twice";
}

}  // namespace

Result<std::vector<sync::Request>> OpenDuplicates(store::VanStore& store,
                                                  const std::string& service_id,
                                                  const sync::FieldMap& fields) {
  MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, store.Catalog());
  return FindOpenDuplicates(store, catalog, service_id, fields);
}

Result<sync::Request> RegisterRequest(store::VanStore& store, const std::string& service_id,
                                      const sync::FieldMap& fields,
                                      const RegisterOptions& options) {
  MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, store.Catalog());
  if (!options.force) {
    MPP_ASSIGN_OR_RETURN(auto open, FindOpenDuplicates(store, catalog, service_id, fields));
    if (!open.empty()) return Error::Conflict(DuplicateMessage(service_id, open));
  }
  Mutation m;
  m.kind = MutationKind::kCreate;
  m.service_id = service_id;
  m.writes = Writes(catalog, service_id, fields);
  return CommitOne(store, {std::move(m)});
}

Result<sync::Request> UpdateRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const sync::FieldMap& fields) {
  if (fields.empty()) return Error::InvalidInput("nothing to change: no field was given");
  MPP_ASSIGN_OR_RETURN(store::RequestRow row, store.Find(id_or_receipt));
  MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, store.Catalog());
  return CommitOne(store, {FieldsDraft(catalog, row.view, fields)});
}

Result<sync::Request> CancelRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const std::string& reason) {
  if (reason.empty()) return Error::InvalidInput("a cancellation needs the citizen's reason");
  MPP_ASSIGN_OR_RETURN(store::RequestRow row, store.Find(id_or_receipt));
  return CommitOne(store, {StatusDraft(row.view.id, sync::RequestStatus::kCancelled, reason)});
}

Result<sync::Request> DeliverRequest(store::VanStore& store, const std::string& id_or_receipt) {
  MPP_ASSIGN_OR_RETURN(store::RequestRow row, store.Find(id_or_receipt));
  return CommitOne(store,
                   {StatusDraft(row.view.id, sync::RequestStatus::kDelivered, "diserahkan")});
}

Result<sync::Request> AnswerRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const sync::FieldMap& fields) {
  MPP_ASSIGN_OR_RETURN(store::RequestRow row, store.Find(id_or_receipt));
  // Whether the request can be answered at all comes first: it is what the officer must hear.
  MPP_RETURN_IF_ERROR(
      sync::CheckTransition(row.view.status, sync::RequestStatus::kInReview, sync::Role::kVan));
  if (fields.empty()) {
    return Error::InvalidInput(
        "an answer gives the information the agency asked for: at least one field (the "
        "request stays waiting for information)");
  }
  MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, store.Catalog());
  std::vector<Mutation> drafts;
  drafts.push_back(FieldsDraft(catalog, row.view, fields));
  drafts.push_back(StatusDraft(row.view.id, sync::RequestStatus::kInReview, "data dilengkapi"));
  return CommitOne(store, std::move(drafts));
}

namespace {

// The reasons for a repeated key and a too deep line. The key is quoted as JSON with every
// non-ASCII character escaped, so the reason is safe to print whatever the key holds.
std::string DuplicateKeyMessage(const std::string& key) {
  return "duplicate key " + nlohmann::json(key).dump(-1, ' ', /*ensure_ascii=*/true);
}
std::string TooDeepMessage() {
  return "nested deeper than " + std::to_string(kMaxImportDepth) + " levels";
}

// Reads one import line as strict JSON (RFC 8259), for its fixed schema: it keeps "service_id"
// and the string members of "fields" and steps over everything else without building it.
//
// It accepts and refuses exactly what nlohmann::json::parse did here before (a DOM parse took a
// quarter of the import's time), quirks included: one UTF-8 BOM may lead; whitespace is space,
// tab, CR and LF; strings must be well-formed UTF-8 with no raw control character, and a \u
// high surrogate must be followed by a low one; a number whose value overflows a double is an
// error; a NUL byte after the value ends the input. Beyond what nlohmann checks, and as its
// reference parse now checks too (THREATS.md row 38): a key repeated in any object is refused,
// and so is nesting deeper than kMaxImportDepth (still walked with a heap stack, never by
// recursion, as the rest of the line must still be JSON). Which error a bad line gets: not
// JSON, then the first in the text of a repeated key or a too deep container, then not an
// object, "service_id", "fields", then the first non-string field in name order.
// tests/field/import_line_test.cc checks all of it against the reference.
class ImportLineReader {
 public:
  explicit ImportLineReader(std::string_view text)
      : p_(text.data()), end_(text.data() + text.size()) {}

  Result<ImportLine> Read() {
    static constexpr std::string_view kBom = "\xEF\xBB\xBF";
    if (static_cast<size_t>(end_ - p_) >= kBom.size() && std::string_view(p_, 3) == kBom) {
      p_ += kBom.size();
    }
    SkipWhitespace();
    ImportLine out;
    const bool is_object = Peek() == '{';
    if (is_object ? !ReadTopObject(out) : !SkipValue(0)) return NotJson();
    SkipWhitespace();
    // nlohmann's lexer takes a NUL byte between tokens for the end of the input.
    if (p_ != end_ && *p_ != '\0') return NotJson();
    if (problem_) return *problem_;
    if (!is_object) return Error::InvalidInput("a line must be a JSON object");
    if (!service_is_string_) return Error::InvalidInput("\"service_id\" must be a string");
    if (!fields_is_object_) return Error::InvalidInput("\"fields\" must be an object");
    if (!non_string_fields_.empty()) {
      return Error::InvalidInput("field \"" + *non_string_fields_.begin() + "\" must be a string");
    }
    return out;
  }

 private:
  static Error NotJson() { return Error::InvalidInput("not valid JSON"); }

  // Records the first repeated key or too deep container; the line is still read to its end,
  // since a line that is not JSON gets that reason instead.
  void NoteRepeatedKey(const std::string& key) {
    if (!problem_) problem_ = Error::InvalidInput(DuplicateKeyMessage(key));
  }
  void NoteContainerAt(size_t depth) {
    if (!problem_ && depth > kMaxImportDepth) problem_ = Error::InvalidInput(TooDeepMessage());
  }

  // The next byte, or -1 at the end.
  int Peek() const { return p_ == end_ ? -1 : static_cast<unsigned char>(*p_); }

  bool Consume(char c) {
    if (Peek() != static_cast<unsigned char>(c)) return false;
    ++p_;
    return true;
  }

  void SkipWhitespace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  // After '{'. Fills out.service_id and out.fields; the flags say what the last "service_id" and
  // "fields" members held.
  bool ReadTopObject(ImportLine& out) {
    ++p_;
    SkipWhitespace();
    if (Consume('}')) return true;
    std::string key;
    std::vector<std::string> keys;  // the names seen so far, to refuse a repeated one
    for (;;) {
      key.clear();
      if (!ReadString(&key)) return false;
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) NoteRepeatedKey(key);
      keys.push_back(key);
      SkipWhitespace();
      if (!Consume(':')) return false;
      SkipWhitespace();
      if (key == "service_id") {
        service_is_string_ = Peek() == '"';
        out.service_id.clear();
        if (service_is_string_ ? !ReadString(&out.service_id) : !SkipValue(1)) return false;
      } else if (key == "fields") {
        fields_is_object_ = Peek() == '{';
        out.fields.clear();
        non_string_fields_.clear();
        if (fields_is_object_ ? !ReadFields(out.fields) : !SkipValue(1)) return false;
      } else if (!SkipValue(1)) {
        return false;
      }
      SkipWhitespace();
      if (Consume('}')) return true;
      if (!Consume(',')) return false;
      SkipWhitespace();
    }
  }

  // After the '{' of "fields": string members go to `fields`, the names of the others to
  // non_string_fields_.
  bool ReadFields(sync::FieldMap& fields) {
    ++p_;
    NoteContainerAt(2);
    SkipWhitespace();
    if (Consume('}')) return true;
    for (;;) {
      std::string name;
      if (!ReadString(&name)) return false;
      if (fields.count(name) != 0 || non_string_fields_.count(name) != 0) NoteRepeatedKey(name);
      SkipWhitespace();
      if (!Consume(':')) return false;
      SkipWhitespace();
      if (Peek() == '"') {
        std::string value;
        if (!ReadString(&value)) return false;
        if (!non_string_fields_.empty()) non_string_fields_.erase(name);
        fields.insert_or_assign(std::move(name), std::move(value));
      } else {
        if (!SkipValue(2)) return false;
        fields.erase(name);
        non_string_fields_.insert(std::move(name));
      }
      SkipWhitespace();
      if (Consume('}')) return true;
      if (!Consume(',')) return false;
      SkipWhitespace();
    }
  }

  // A string at p_, unescaped into *out (or only checked when out is null).
  bool ReadString(std::string* out) {
    if (!Consume('"')) return false;
    for (;;) {
      const char* run = p_;
      while (p_ != end_ && kPlainStringByte[static_cast<unsigned char>(*p_)]) ++p_;
      if (out != nullptr) out->append(run, p_);
      const int c = Peek();
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (!ReadEscape(out)) return false;
      } else if (c >= 0x80) {
        const size_t n = Utf8SequenceLength();
        if (n == 0) return false;
        if (out != nullptr) out->append(p_, n);
        p_ += n;
      } else {
        return false;  // the end, or a control character
      }
    }
  }

  // Printable ASCII other than '"' and '\\': copied as it is.
  static constexpr std::array<bool, 256> kPlainStringByte = [] {
    std::array<bool, 256> plain{};
    for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
    return plain;
  }();

  // Length of the well-formed UTF-8 sequence at p_ (Unicode table 3-7: no overlong forms, no
  // surrogates, nothing past U+10FFFF), or 0.
  size_t Utf8SequenceLength() const {
    const size_t available = static_cast<size_t>(end_ - p_);
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(p_[i]); };
    const auto follows = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
      return i < available && byte(i) >= lo && byte(i) <= hi;
    };
    const unsigned char lead = byte(0);
    if (lead >= 0xC2 && lead <= 0xDF) return follows(1) ? 2 : 0;
    if (lead == 0xE0) return follows(1, 0xA0) && follows(2) ? 3 : 0;
    if (lead == 0xED) return follows(1, 0x80, 0x9F) && follows(2) ? 3 : 0;
    if (lead >= 0xE1 && lead <= 0xEF) return follows(1) && follows(2) ? 3 : 0;
    if (lead == 0xF0) return follows(1, 0x90) && follows(2) && follows(3) ? 4 : 0;
    if (lead >= 0xF1 && lead <= 0xF3) return follows(1) && follows(2) && follows(3) ? 4 : 0;
    if (lead == 0xF4) return follows(1, 0x80, 0x8F) && follows(2) && follows(3) ? 4 : 0;
    return 0;
  }

  bool ReadEscape(std::string* out) {
    ++p_;  // the backslash
    if (p_ == end_) return false;
    char plain = 0;
    switch (*p_++) {
      case '"':
        plain = '"';
        break;
      case '\\':
        plain = '\\';
        break;
      case '/':
        plain = '/';
        break;
      case 'b':
        plain = '\b';
        break;
      case 'f':
        plain = '\f';
        break;
      case 'n':
        plain = '\n';
        break;
      case 'r':
        plain = '\r';
        break;
      case 't':
        plain = '\t';
        break;
      case 'u':
        return ReadUnicodeEscape(out);
      default:
        return false;
    }
    if (out != nullptr) out->push_back(plain);
    return true;
  }

  bool ReadHex4(uint32_t& value) {
    if (end_ - p_ < 4) return false;
    value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_++;
      uint32_t digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
      value = value * 16 + digit;
    }
    return true;
  }

  // After "\\u": four hex digits, and a second escape for a surrogate pair.
  bool ReadUnicodeEscape(std::string* out) {
    uint32_t code_point = 0;
    if (!ReadHex4(code_point)) return false;
    if (code_point >= 0xD800 && code_point <= 0xDBFF) {
      uint32_t low = 0;
      if (!Consume('\\') || !Consume('u') || !ReadHex4(low) || low < 0xDC00 || low > 0xDFFF) {
        return false;
      }
      code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
    } else if (code_point >= 0xDC00 && code_point <= 0xDFFF) {
      return false;
    }
    if (out == nullptr) return true;
    if (code_point < 0x80) {
      out->push_back(static_cast<char>(code_point));
    } else if (code_point < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else if (code_point < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    }
    return true;
  }

  bool IsDigitAt() const { return p_ != end_ && *p_ >= '0' && *p_ <= '9'; }
  void SkipDigits() {
    while (IsDigitAt()) ++p_;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? whose value is a finite double. nlohmann
  // converts with strtod after putting the locale's decimal point in place of '.', and refuses
  // an infinite result ("number overflow"); so does this.
  bool SkipNumber() {
    const char* start = p_;
    Consume('-');
    if (Consume('0')) {
    } else if (IsDigitAt()) {
      SkipDigits();
    } else {
      return false;
    }
    if (Consume('.')) {
      if (!IsDigitAt()) return false;
      SkipDigits();
    }
    if (Consume('e') || Consume('E')) {
      if (!Consume('+')) Consume('-');
      if (!IsDigitAt()) return false;
      SkipDigits();
    }
    std::string text(start, p_);
    const char decimal_point = *std::localeconv()->decimal_point;
    std::replace(text.begin(), text.end(), '.', decimal_point);
    return std::isfinite(std::strtod(text.c_str(), nullptr));
  }

  bool SkipLiteral(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool SkipScalar() {
    switch (Peek()) {
      case '"':
        return ReadString(nullptr);
      case 't':
        return SkipLiteral("true");
      case 'f':
        return SkipLiteral("false");
      case 'n':
        return SkipLiteral("null");
      default:
        return SkipNumber();
    }
  }

  // Any JSON value at p_, inside `depth` open containers. Containers are walked with an
  // explicit stack: the 64 KiB line bound still allows 32,768 levels, too many for recursion.
  bool SkipValue(size_t depth) {
    std::string open;                          // '{' or '[' per open container
    std::vector<std::set<std::string>> names;  // per open '{': its member names so far
    for (;;) {
      // A value is expected here.
      const int c = Peek();
      if (c == '{' || c == '[') {
        ++p_;
        NoteContainerAt(depth + open.size() + 1);
        SkipWhitespace();
        if (!Consume(c == '{' ? '}' : ']')) {
          open.push_back(static_cast<char>(c));
          if (c == '{') {
            names.emplace_back();
            if (!SkipMemberName(names.back())) return false;
          }
          continue;
        }
      } else if (!SkipScalar()) {
        return false;
      }
      // A value ended: close containers until one continues with a ','.
      for (;;) {
        if (open.empty()) return true;
        SkipWhitespace();
        if (Consume(open.back() == '{' ? '}' : ']')) {
          if (open.back() == '{') names.pop_back();
          open.pop_back();
          continue;
        }
        if (!Consume(',')) return false;
        SkipWhitespace();
        if (open.back() == '{' && !SkipMemberName(names.back())) return false;
        break;
      }
    }
  }

  // "name" : and the whitespace after it; a name already in `seen` is noted as repeated. Once a
  // problem is noted, names are only checked, not kept.
  bool SkipMemberName(std::set<std::string>& seen) {
    if (problem_) {
      if (!ReadString(nullptr)) return false;
    } else {
      std::string name;
      if (!ReadString(&name)) return false;
      if (!seen.insert(name).second) NoteRepeatedKey(name);
    }
    SkipWhitespace();
    if (!Consume(':')) return false;
    SkipWhitespace();
    return true;
  }

  const char* p_;
  const char* const end_;
  bool service_is_string_ = false;
  bool fields_is_object_ = false;
  // Names in "fields" whose value is not a string, in the order nlohmann iterated them.
  std::set<std::string> non_string_fields_;
  // The first repeated key or too deep container, in the order of the text.
  std::optional<Error> problem_;
};

}  // namespace

Result<ImportLine> ParseImportLine(std::string_view line) {
  if (line.size() > kMaxImportLineBytes) {
    return Error::TooLarge("line is longer than " + std::to_string(kMaxImportLineBytes) + " bytes");
  }
  return ImportLineReader(line).Read();
}

namespace {

// Why an import line would duplicate an open request (RegisterRequest's rule), or nullopt.
Result<std::optional<std::string>> ImportDuplicate(
    store::VanStore& store, const sync::Catalog& catalog, const ImportLine& line,
    size_t line_number, std::map<std::pair<std::string, std::string>, size_t>& first_lines) {
  auto nik = line.fields.find(kCitizenNikField);
  if (nik == line.fields.end() || nik->second.empty()) return std::optional<std::string>();
  auto [first, inserted] =
      first_lines.emplace(std::pair(line.service_id, nik->second), line_number);
  if (!inserted) {
    return std::optional<std::string>("the same citizen (NIK) and service as line " +
                                      std::to_string(first->second));
  }
  MPP_ASSIGN_OR_RETURN(auto open, FindOpenDuplicates(store, catalog, line.service_id, line.fields));
  if (open.empty()) return std::optional<std::string>();
  return std::optional<std::string>(DuplicateMessage(line.service_id, open));
}

}  // namespace

Result<ImportReport> ImportFile(store::VanStore& store, const std::string& path,
                                const std::function<void(size_t, size_t)>& progress,
                                const RegisterOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::NotFound("cannot read " + path);
  ImportReport report;
  std::vector<Mutation> batch;
  std::vector<size_t> batch_lines;  // the line number of each draft in batch
  // (service, NIK) -> the first line that registers it: a file naming one citizen twice for a
  // service is a duplicate too.
  std::map<std::pair<std::string, std::string>, size_t> first_line_of_citizen;
  MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, store.Catalog());
  batch.reserve(kImportBatch);
  batch_lines.reserve(kImportBatch);
  size_t line_number = 0;
  size_t bytes_read = 0;
  auto flush = [&]() -> Result<void> {
    if (batch.empty()) return Ok();
    // The catalog check of each line happens here, in the store, exactly once: a line it refuses
    // is reported and left out of the batch, the others commit in one transaction.
    MPP_ASSIGN_OR_RETURN(const size_t committed,
                         store.CommitValid(std::move(batch), [&](size_t i, const Error& error) {
                           report.refused.push_back({batch_lines[i], error.message()});
                         }));
    report.imported += committed;
    batch.clear();
    batch.reserve(kImportBatch);
    batch_lines.clear();
    if (progress) progress(line_number, bytes_read);
    return Ok();
  };
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    bytes_read += line.size() + 1;
    if (line.empty() || line == "\r") continue;
    auto parsed = ParseImportLine(line);
    if (!parsed.ok()) {
      report.refused.push_back({line_number, parsed.error().message()});
      continue;
    }
    if (!options.force) {
      MPP_ASSIGN_OR_RETURN(auto duplicate, ImportDuplicate(store, catalog, *parsed, line_number,
                                                           first_line_of_citizen));
      if (duplicate) {
        report.refused.push_back({line_number, std::move(*duplicate), /*duplicate=*/true});
        continue;
      }
    }
    Mutation m;
    m.kind = MutationKind::kCreate;
    m.service_id = std::move(parsed->service_id);
    m.writes = Writes(catalog, m.service_id, std::move(parsed->fields));
    batch.push_back(std::move(m));
    batch_lines.push_back(line_number);
    if (batch.size() >= kImportBatch) MPP_RETURN_IF_ERROR(flush());
  }
  MPP_RETURN_IF_ERROR(flush());
  // A batch reports its refusals when it commits, after the parse refusals of the lines read
  // meanwhile: put them back in line order.
  std::sort(report.refused.begin(), report.refused.end(),
            [](const ImportRefusal& a, const ImportRefusal& b) { return a.line < b.line; });
  return report;
}

}  // namespace mpp::field
