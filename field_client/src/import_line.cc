// ParseImportLine: a hand lexer for the import line's fixed schema, strict JSON (RFC 8259)
// that builds nothing it does not keep. Invariants: a line over kMaxImportLineBytes is refused
// before any byte is read; nesting is walked with a heap stack, never by recursion, so no line
// can exhaust the call stack; what it accepts and refuses matches the nlohmann reference parse
// (tests/field/import_line_test.cc).
#include "mpp/field/import_line.h"

#include <algorithm>
#include <array>
#include <clocale>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace mpp::field {

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

}  // namespace mpp::field
