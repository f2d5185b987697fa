#include "mpp/sync/text.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <utility>

namespace mpp::sync {
namespace {

// One code point decoded from strict UTF-8 (Unicode table 3-7), or why the bytes are not one.
struct Decoded {
  uint32_t code_point = 0;
  size_t length = 0;              // bytes consumed; 0 when malformed
  const char* problem = nullptr;  // set when malformed
};

Decoded DecodeAt(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {lead, 1, nullptr};
  if (lead >= 0x80 && lead <= 0xBF) return {0, 0, "a continuation byte with no lead byte"};
  if (lead == 0xC0 || lead == 0xC1) return {0, 0, "an overlong encoding"};
  if (lead >= 0xF5) return {0, 0, "a byte that never appears in UTF-8"};
  const size_t length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  uint32_t cp = lead & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < length; ++k) {
    if (i + k >= s.size() || (byte(k) & 0xC0) != 0x80) return {0, 0, "a truncated sequence"};
    cp = (cp << 6) | (byte(k) & 0x3F);
  }
  if ((length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000)) {
    return {0, 0, "an overlong encoding"};
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) return {0, 0, "a UTF-16 surrogate"};
  if (cp > 0x10FFFF) return {0, 0, "a code point past U+10FFFF"};
  return {cp, length, nullptr};
}

// Names of the characters the messages mention most, so a person can look them up.
constexpr std::pair<uint32_t, const char*> kCharacterNames[] = {
    {0x00, "NUL"},
    {0x09, "TAB"},
    {0x0A, "LINE FEED"},
    {0x0D, "CARRIAGE RETURN"},
    {0x7F, "DELETE"},
    {0x2028, "LINE SEPARATOR"},
    {0x2029, "PARAGRAPH SEPARATOR"},
    {0x202A, "LEFT-TO-RIGHT EMBEDDING"},
    {0x202B, "RIGHT-TO-LEFT EMBEDDING"},
    {0x202C, "POP DIRECTIONAL FORMATTING"},
    {0x202D, "LEFT-TO-RIGHT OVERRIDE"},
    {0x202E, "RIGHT-TO-LEFT OVERRIDE"},
    {0x2066, "LEFT-TO-RIGHT ISOLATE"},
    {0x2067, "RIGHT-TO-LEFT ISOLATE"},
    {0x2068, "FIRST STRONG ISOLATE"},
    {0x2069, "POP DIRECTIONAL ISOLATE"},
    {0x200B, "ZERO WIDTH SPACE"},
    {0x200C, "ZERO WIDTH NON-JOINER"},
    {0x200D, "ZERO WIDTH JOINER"},
    {0x200E, "LEFT-TO-RIGHT MARK"},
    {0x200F, "RIGHT-TO-LEFT MARK"},
    {0xFEFF, "ZERO WIDTH NO-BREAK SPACE"},
};

std::string CodePointName(uint32_t cp) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(cp));
  std::string out = hex;
  for (const auto& [code_point, name] : kCharacterNames) {
    if (code_point == cp) return out + " " + name;
  }
  return out;
}

bool IsBidiControl(uint32_t cp) {
  return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

// C0, DEL, C1, and the two Unicode line breaks, less what the rules allow.
bool IsRefusedControl(uint32_t cp, TextRules rules) {
  if (cp == '\n') return !rules.allow_newline;
  if (cp == '\t') return !rules.allow_tab;
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// NFC of valid UTF-8 through utf8proc, or nullopt if utf8proc refuses the input.
std::optional<std::string> Nfc(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  const std::unique_ptr<utf8proc_uint8_t, FreeDeleter> owned(out);
  if (n < 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

Result<void> CheckText(std::string_view text, std::string_view what, TextRules rules) {
  const auto refuse = [what](size_t position, const std::string& problem) {
    return Error::InvalidInput(std::string(what) + ": " + problem + " (character " +
                               std::to_string(position) + ")");
  };
  size_t position = 0;  // 1-based index of the code point being looked at
  for (size_t i = 0; i < text.size();) {
    ++position;
    const Decoded d = DecodeAt(text, i);
    if (d.problem != nullptr) {
      return refuse(position, std::string("value is not valid UTF-8: ") + d.problem);
    }
    i += d.length;
    const uint32_t cp = d.code_point;
    if (cp >= 0x20 && cp < 0x7F) continue;
    if (IsRefusedControl(cp, rules)) {
      return refuse(position, "contains control characters: " + CodePointName(cp));
    }
    if (cp < 0x80) continue;
    if (IsBidiControl(cp)) {
      return refuse(position, "contains a bidirectional override that changes how text displays: " +
                                  CodePointName(cp));
    }
    if (!rules.allow_invisible &&
        utf8proc_category(static_cast<utf8proc_int32_t>(cp)) == UTF8PROC_CATEGORY_CF) {
      return refuse(position, "contains an invisible formatting character: " + CodePointName(cp));
    }
  }
  // ASCII is always in NFC; anything else is compared with its normal form.
  if (IsAscii(text)) return Ok();
  const std::optional<std::string> nfc = Nfc(text);
  if (!nfc) return Error::InvalidInput(std::string(what) + ": value is not valid UTF-8");
  if (*nfc == text) return Ok();
  const size_t differs = static_cast<size_t>(
      std::mismatch(text.begin(), text.end(), nfc->begin(), nfc->end()).first - text.begin());
  // The character the first differing byte belongs to.
  const size_t first = static_cast<size_t>(
      std::count_if(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(differs),
                    [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  const bool inside =
      differs < text.size() && (static_cast<unsigned char>(text[differs]) & 0xC0) == 0x80;
  return refuse(inside ? first : first + 1,
                "is not in Unicode normal form C (NFC): a letter and its accent must be one "
                "composed character");
}

std::string ToNfc(std::string_view valid_utf8) {
  if (IsAscii(valid_utf8)) return std::string(valid_utf8);
  std::optional<std::string> nfc = Nfc(valid_utf8);
  return nfc ? std::move(*nfc) : std::string(valid_utf8);
}

Result<void> CheckMutationText(const Mutation& m) {
  const bool receipt_ok = m.receipt.size() <= kMaxReceiptBytes &&
                          std::all_of(m.receipt.begin(), m.receipt.end(),
                                      [](char c) { return IsAsciiAlnum(c) || c == '-'; });
  if (!receipt_ok || (m.kind == MutationKind::kCreate && m.receipt.empty())) {
    return Error::InvalidInput("receipt: must be 1-" + std::to_string(kMaxReceiptBytes) +
                               " ASCII letters, digits and '-'");
  }
  const auto check_bounded = [](const std::string& text, const char* what, TextRules rules,
                                size_t max_bytes) -> Result<void> {
    if (text.size() > max_bytes) {
      return Error::InvalidInput(std::string(what) + ": longer than " + std::to_string(max_bytes) +
                                 " bytes");
    }
    return CheckText(text, what, rules);
  };
  MPP_RETURN_IF_ERROR(check_bounded(m.actor, "actor", TextRules::Name(), kMaxActorBytes));
  MPP_RETURN_IF_ERROR(check_bounded(m.origin, "origin", TextRules::Name(), kMaxActorBytes));
  MPP_RETURN_IF_ERROR(check_bounded(m.note, "note", TextRules::Note(), kMaxNoteBytes));
  for (size_t i = 0; i < m.writes.size(); ++i) {
    const std::string& name = m.writes[i].name;
    const bool name_ok =
        !name.empty() && name.size() <= kMaxFieldNameBytes &&
        std::all_of(name.begin(), name.end(), [](char c) { return IsAsciiAlnum(c) || c == '_'; });
    if (!name_ok) {
      return Error::InvalidInput("write " + std::to_string(i + 1) + ": field name must be 1-" +
                                 std::to_string(kMaxFieldNameBytes) +
                                 " ASCII letters, digits and '_'");
    }
  }
  return Ok();
}

}  // namespace mpp::sync
