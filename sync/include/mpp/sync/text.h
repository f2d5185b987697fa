// Text that people read (names, addresses, notes, officer and device names) is checked the way
// form fields are (THREATS.md row 39): well-formed UTF-8, no control characters, no bidi
// overrides that make a name display as something else, and Unicode normal form C, so one name
// has one spelling in every store, every signature and every search.
//
// Who normalises: the van puts what an officer types into NFC (ToNfc) before it validates and
// stores it. The server only checks: it refuses non-NFC text in a push instead of normalising
// it, because changing a value there would change what the van signed, and the van's copy would
// diverge from the server's.
//
// Thread-safe: every function here is pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "mpp/sync/model.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

// What a piece of text may contain beyond printable characters. Always refused, whatever the
// rules: malformed UTF-8 (overlong forms, surrogates, truncated sequences, past U+10FFFF), C0
// controls (NUL included) other than those allowed below, DEL, C1 controls, the bidi embeddings,
// overrides and isolates U+202A-U+202E and U+2066-U+2069, and text not in NFC.
struct TextRules {
  bool allow_newline = false;  // U+000A only: CR, U+2028 and U+2029 stay refused
  bool allow_tab = false;      // U+0009
  // Invisible format characters (general category Cf) other than the bidi controls above: zero
  // width space and joiners, LRM/RLM, soft hyphen, word joiner, BOM... Joiners are needed in some
  // scripts and emoji, so free text keeps them; a name or an id does not.
  bool allow_invisible = true;

  // A person's, officer's or device's name: one line, nothing invisible.
  static constexpr TextRules Name() { return {false, false, false}; }
  // One line of free text (an address, a form answer).
  static constexpr TextRules Line() { return {false, false, true}; }
  // Several lines of free text (a note, a cancellation reason).
  static constexpr TextRules Note() { return {true, false, true}; }
};

// Checks `text` against `rules`. On failure: kInvalidInput with a message that names `what` and
// the 1-based position of the first offending character, e.g.
//   "officer name: contains control characters: U+0007 (character 7)".
// The message never echoes the offending text itself, so it is safe to log and display.
Result<void> CheckText(std::string_view text, std::string_view what, TextRules rules);

// The NFC form of text typed by a person (Unicode canonical composition: "e" + U+0301 becomes
// "é"). Text already in NFC comes back unchanged; text that is not valid UTF-8 also comes back
// unchanged, for the CheckText that follows to refuse with a precise message.
std::string ToNfc(std::string_view valid_utf8);

// Bounds on the text of a mutation (CheckMutationText), in bytes.
inline constexpr size_t kMaxReceiptBytes = 40;
inline constexpr size_t kMaxActorBytes = 200;  // actor and origin
inline constexpr size_t kMaxNoteBytes = 2000;  // a status note or cancellation reason
inline constexpr size_t kMaxFieldNameBytes = 64;

// Checks the text a mutation carries besides its field values (those are the catalog's, see
// ValidateFieldValue): the receipt (ASCII letters, digits and '-', 1-kMaxReceiptBytes; required
// on a create, empty or well-formed otherwise), actor and origin (TextRules::Name, at most
// kMaxActorBytes; emptiness is not checked here), the note (TextRules::Note, at most
// kMaxNoteBytes) and each write's field name (ASCII letters, digits and '_',
// 1-kMaxFieldNameBytes). kInvalidInput naming the part on failure.
Result<void> CheckMutationText(const Mutation& m);

}  // namespace mpp::sync
