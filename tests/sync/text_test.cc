// Text that people read (text.h, THREATS.md row 39): a Unicode corpus of what is refused and
// why, NFC, the rules of a mutation's own text, field values through the catalog, and the
// strict JSON object parse (json_format.h, THREATS.md row 38).
#include "mpp/sync/text.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mpp/sync/catalog.h"
#include "mpp/sync/json_format.h"
#include "support/test_util.h"

namespace mpp::sync {
namespace {

struct Refusal {
  const char* what;   // what the case is
  std::string text;   // the input
  TextRules rules;    // checked under
  std::string words;  // the message must contain these
};

// ---- The corpus ----

TEST(CheckText, RefusesTheUnicodeCorpusNamingWhatAndWhere) {
  const TextRules name = TextRules::Name();
  const TextRules note = TextRules::Note();
  const std::vector<Refusal> corpus = {
      // Malformed UTF-8.
      {"overlong '/' in two bytes", "ab\xC0\xAF", name,
       "not valid UTF-8: an overlong encoding (character 3)"},
      {"overlong '/' in three bytes", "\xE0\x80\xAF", name, "an overlong encoding (character 1)"},
      {"overlong '/' in four bytes", "\xF0\x80\x80\xAF", name, "an overlong encoding"},
      {"overlong NUL", "x\xC0\x80", name, "an overlong encoding (character 2)"},
      {"high surrogate U+D800", "Siti \xED\xA0\x80", name, "a UTF-16 surrogate (character 6)"},
      {"low surrogate U+DFFF", "\xED\xBF\xBF", name, "a UTF-16 surrogate"},
      {"CESU-8 pair for U+1F600", "\xED\xA0\xBD\xED\xB8\x80", name, "a UTF-16 surrogate"},
      {"truncated at the end", "Siti \xE2\x82", name, "a truncated sequence (character 6)"},
      {"truncated by ASCII", "\xE2\x82x", name, "a truncated sequence"},
      {"lone continuation byte", "\x80Siti", name,
       "a continuation byte with no lead byte (character 1)"},
      {"past U+10FFFF", "\xF4\x90\x80\x80", name, "a code point past U+10FFFF"},
      {"byte 0xFF", "a\xFF", name, "a byte that never appears in UTF-8 (character 2)"},
      {"byte 0xF5", "\xF5\x80\x80\x80", name, "a byte that never appears in UTF-8"},
      // Control characters.
      {"NUL", std::string("Siti\0Aminah", 11), name,
       "contains control characters: U+0000 NUL (character 5)"},
      {"BEL", "Siti\aAminah", name, "U+0007 (character 5)"},
      {"ESC of a terminal sequence", "\x1B[31mred", name, "U+001B (character 1)"},
      {"DEL", "abc\x7F", name, "U+007F DELETE (character 4)"},
      {"C1 NEL", "a\xC2\x85", name, "contains control characters: U+0085 (character 2)"},
      {"C1 CSI",
       "\xC2\x9B"
       "31m",
       note, "U+009B"},
      {"newline in a name", "Siti\nAminah", name, "U+000A LINE FEED (character 5)"},
      {"tab in a note", "a\tb", note, "U+0009 TAB (character 2)"},
      {"CR in a note", "a\r\nb", note, "U+000D CARRIAGE RETURN (character 2)"},
      {"line separator in a note",
       "a\xE2\x80\xA8"
       "b",
       note, "U+2028 LINE SEPARATOR"},
      // Bidi overrides and isolates, whatever the rules.
      {"RLO in a name",
       "Siti\xE2\x80\xAE"
       "Aminah",
       name,
       "bidirectional override that changes how text displays: U+202E RIGHT-TO-LEFT OVERRIDE "
       "(character 5)"},
      {"RLO in a note", "ok \xE2\x80\xAE", note, "U+202E"},
      {"LRE", "\xE2\x80\xAA", note, "U+202A LEFT-TO-RIGHT EMBEDDING"},
      {"PDF", "\xE2\x80\xAC", note, "U+202C"},
      {"LRI", "\xE2\x81\xA6", note, "U+2066 LEFT-TO-RIGHT ISOLATE"},
      {"PDI", "\xE2\x81\xA9", note, "U+2069 POP DIRECTIONAL ISOLATE"},
      // Invisible format characters, in names only.
      {"zero width space in a name",
       "Siti\xE2\x80\x8B"
       "Aminah",
       name, "invisible formatting character: U+200B ZERO WIDTH SPACE (character 5)"},
      {"zero width joiner in a name", "a\xE2\x80\x8D", name, "U+200D ZERO WIDTH JOINER"},
      {"RLM in a name", "a\xE2\x80\x8F", name, "U+200F RIGHT-TO-LEFT MARK"},
      {"soft hyphen in a name",
       "Ami\xC2\xAD"
       "nah",
       name, "U+00AD (character 4)"},
      {"BOM in a name", "\xEF\xBB\xBFSiti", name, "U+FEFF"},
      {"tag character in a name", "a\xF3\xA0\x80\x81", name, "U+E0001"},
      // Not in NFC.
      {"decomposed e-acute", "Jose\xCC\x81", name, "not in Unicode normal form C (NFC)"},
      {"decomposed after composed", "\xC3\xA9 e\xCC\x81", note, "(character 3)"},
      {"angstrom sign", "\xE2\x84\xAB", name, "(character 1)"},
      {"decomposed Hangul", "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", note, "NFC"},
      {"combining marks out of order", "a\xCC\x81\xCC\xA3", name, "NFC"},
  };
  for (const auto& c : corpus) {
    SCOPED_TRACE(c.what);
    const auto r = CheckText(c.text, "officer name", c.rules);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
    EXPECT_EQ(r.error().message().rfind("officer name: ", 0), 0u) << r.error().message();
    EXPECT_NE(r.error().message().find(c.words), std::string::npos) << r.error().message();
  }
}

TEST(CheckText, MessageIsOneLineAndNeverEchoesTheText) {
  const auto r = CheckText("Siti\xE2\x80\xAE\nAminah\x07", "field name", TextRules::Name());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(),
            "field name: contains a bidirectional override that changes how text displays: "
            "U+202E RIGHT-TO-LEFT OVERRIDE (character 5)");
  const auto bel = CheckText("officer\x07", "officer name", TextRules::Name());
  ASSERT_FALSE(bel.ok());
  EXPECT_EQ(bel.error().message(),
            "officer name: contains control characters: U+0007 (character 8)");
}

TEST(CheckText, AcceptsTheTextPeopleWrite) {
  const std::vector<std::string> names = {
      "Siti Aminah",
      "Muhammad Ja'far bin Abdul Rahman",
      "I Gusti Ngurah Rai",
      "Ny. Lim Swie Hoa",
      "Jos\xC3\xA9 Mar\xC3\xAD"
      "a",                                     // composed accents
      "\xD9\x85\xD8\xAD\xD9\x85\xD8\xAF",      // Arabic, right to left on its own
      "\xE6\x9E\x97\xE7\x91\x9E\xE8\x8A\xB1",  // Chinese
      "\xEA\xA6\xB1\xEA\xA6\xAD\xEA\xA7\x80",  // Javanese script
      "\xED\x95\x9C",                          // a composed Hangul syllable
      "",
  };
  for (const auto& n : names) {
    EXPECT_OK(CheckText(n, "name", TextRules::Name()));
    EXPECT_OK(CheckText(n, "note", TextRules::Note()));
    EXPECT_EQ(ToNfc(n), n);
  }
  // Free text keeps joiners (emoji sequences, some scripts) and, in a note, line breaks.
  const std::string family = "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9";  // man ZWJ woman
  EXPECT_OK(CheckText("Berkas lengkap " + family, "note", TextRules::Line()));
  EXPECT_FALSE(CheckText(family, "name", TextRules::Name()).ok());
  EXPECT_OK(CheckText("baris satu\nbaris dua", "note", TextRules::Note()));
  EXPECT_FALSE(CheckText("baris satu\nbaris dua", "address", TextRules::Line()).ok());
  TextRules with_tab = TextRules::Note();
  with_tab.allow_tab = true;
  EXPECT_OK(CheckText("a\tb", "note", with_tab));
}

// ---- NFC ----

TEST(ToNfc, ComposesWhatPeopleTypeDecomposed) {
  EXPECT_EQ(ToNfc("Jose\xCC\x81"), "Jos\xC3\xA9");  // e + COMBINING ACUTE -> U+00E9
  EXPECT_EQ(ToNfc("\xE2\x84\xAB"), "\xC3\x85");     // ANGSTROM SIGN -> U+00C5
  EXPECT_EQ(ToNfc("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"), "\xED\x95\x9C");  // Hangul
  EXPECT_EQ(ToNfc("a\xCC\x81\xCC\xA3"), "\xE1\xBA\xA1\xCC\x81");  // marks reordered, composed
  EXPECT_EQ(ToNfc("Siti Aminah"), "Siti Aminah");
  EXPECT_OK(CheckText(ToNfc("Jose\xCC\x81"), "name", TextRules::Name()));
  // Not UTF-8: unchanged, for CheckText to refuse.
  EXPECT_EQ(ToNfc("\xC0\xAF"), "\xC0\xAF");
  EXPECT_EQ(ToNfc(std::string("a\0b", 3)), std::string("a\0b", 3));
}

// Code points and bytes the properties draw from: ASCII, accents composed and decomposed,
// combining marks, other scripts, emoji, controls, bidi and format characters, and bytes that
// are not UTF-8.
rc::Gen<std::string> TextPiece() {
  static const std::vector<std::string> pieces = {
      "a",
      "Z",
      "0",
      " ",
      "-",
      "'",
      ".",
      "\n",
      "\t",
      "\r",
      std::string("\0", 1),
      "\x07",
      "\x7F",
      "\xC2\x85",
      "\xC2\xA0",
      "\xC2\xAD",
      "\xC3\xA9",
      "e",
      "\xCC\x81",
      "\xCC\xA3",
      "\xCC\x88",
      "\xE2\x84\xAB",
      "\xE1\x84\x92",
      "\xE1\x85\xA1",
      "\xE1\x86\xAB",
      "\xD9\x85",
      "\xD9\xA6",
      "\xE6\x9E\x97",
      "\xF0\x9F\x98\x80",
      "\xE2\x80\x8D",
      "\xE2\x80\x8B",
      "\xE2\x80\x8F",
      "\xE2\x80\xAE",
      "\xE2\x81\xA6",
      "\xE2\x80\xA8",
      "\xEF\xBB\xBF",
      "\xEF\xBF\xBF",
      "\xC0\xAF",
      "\xED\xA0\x80",
      "\xE2\x82",
      "\x80",
      "\xFF",
      "\xF4\x90\x80\x80",
  };
  return rc::gen::elementOf(pieces);
}

// Pieces every rule accepts in NFC, alone or in any order (no combining marks).
rc::Gen<std::string> PlainPiece() {
  static const std::vector<std::string> pieces = {
      "a",
      "Z",
      "0",
      " ",
      "-",
      "'",
      ".",
      "\xC3\xA9",
      "\xC3\x85",
      "\xD9\x85",
      "\xD9\xA6",
      "\xE6\x9E\x97",
      "\xED\x95\x9C",
      "\xF0\x9F\x98\x80",
      "\xC2\xA0",
      "\xEF\xBF\xBD",
  };
  return rc::gen::elementOf(pieces);
}

// Half the strings from the plain pieces (mostly accepted), half from all of them (mostly not).
rc::Gen<std::string> Text() {
  const auto join = [](const std::vector<std::string>& parts) {
    std::string s;
    for (const auto& p : parts) s += p;
    return s;
  };
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::container<std::vector<std::string>>(PlainPiece()), join),
      rc::gen::map(rc::gen::container<std::vector<std::string>>(TextPiece()), join));
}

rc::Gen<TextRules> Rules() {
  return rc::gen::elementOf(
      std::vector<TextRules>{TextRules::Name(), TextRules::Line(), TextRules::Note()});
}

// Property (THREATS.md row 39): every accepted string round-trips unchanged, through NFC and
// through JSON, and holds nothing the rules refuse.
TEST(CheckText, EveryAcceptedStringRoundTripsUnchanged) {
  const bool ok = rc::check("accepted text round-trips", [] {
    const std::string s = *Text();
    const TextRules rules = *Rules();
    const bool accepted = CheckText(s, "t", rules).ok();
    RC_CLASSIFY(accepted);
    if (!accepted) return;
    RC_ASSERT(ToNfc(s) == s);
    const std::string dumped = nlohmann::json(s).dump();
    RC_ASSERT(nlohmann::json::parse(dumped).get<std::string>() == s);
    for (const char c : s) {
      const auto b = static_cast<unsigned char>(c);
      RC_ASSERT(b >= 0x20 || (c == '\n' && rules.allow_newline));
      RC_ASSERT(b != 0x7F);
    }
    RC_ASSERT(s.find("\xE2\x80\xAE") == std::string::npos);
  });
  EXPECT_TRUE(ok);
}

// Property: NFC of an NFC string is itself, and normalising is all a valid string without
// controls, bidi or invisible characters needs to be accepted.
TEST(ToNfc, IsIdempotentAndMakesTextAcceptable) {
  const bool ok = rc::check("NFC is idempotent", [] {
    const std::string s = *Text();
    const std::string nfc = ToNfc(s);
    RC_ASSERT(ToNfc(nfc) == nfc);
    const auto raw = CheckText(s, "t", TextRules::Note());
    if (raw) RC_ASSERT(nfc == s);
    if (!raw && raw.error().message().find("NFC") != std::string::npos) {
      RC_ASSERT(CheckText(nfc, "t", TextRules::Note()).ok());
    }
  });
  EXPECT_TRUE(ok);
}

// ---- A mutation's own text ----

Mutation GoodCreate() {
  Mutation m;
  m.kind = MutationKind::kCreate;
  m.origin = "van-kr01-tab2";
  m.actor = "Siti Aminah";
  m.receipt = "KR01-20261128-0042";
  m.note = "";
  m.writes = {{"name", "Siti", {}}, {"nik_ayah", "6112054507920003", {}}};
  return m;
}

void ExpectMutationRefused(const Mutation& m, const std::string& words) {
  const auto r = CheckMutationText(m);
  ASSERT_FALSE(r.ok()) << "accepted; expected \"" << words << "\"";
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(r.error().message().find(words), std::string::npos) << r.error().message();
}

TEST(CheckMutationText, AcceptsWhatVansAndStaffSend) {
  EXPECT_OK(CheckMutationText(GoodCreate()));
  Mutation status;
  status.kind = MutationKind::kSetStatus;
  status.origin = "staff:Budi Santoso";
  status.actor = "Budi Santoso";
  status.note = "Berkas kurang:\n- fotokopi KK\n- pas foto";
  EXPECT_OK(CheckMutationText(status));
  status.note = std::string(kMaxNoteBytes, 'x');
  EXPECT_OK(CheckMutationText(status));
}

TEST(CheckMutationText, RefusesBadReceiptsActorsNotesAndFieldNames) {
  Mutation m = GoodCreate();
  m.receipt = "";
  ExpectMutationRefused(m, "receipt: must be 1-40 ASCII letters, digits and '-'");
  m.receipt = "KR01 0042";
  ExpectMutationRefused(m, "receipt:");
  m.receipt =
      "KR01\xE2\x80\xAE"
      "2400";
  ExpectMutationRefused(m, "receipt:");
  m.receipt = std::string(41, 'A');
  ExpectMutationRefused(m, "receipt:");
  m.receipt = std::string(40, 'A');
  EXPECT_OK(CheckMutationText(m));

  m = GoodCreate();
  m.actor =
      "Siti\xE2\x80\xAE"
      "Aminah";
  ExpectMutationRefused(m, "actor: contains a bidirectional override");
  m.actor = "Siti\nAminah";
  ExpectMutationRefused(m, "actor: contains control characters: U+000A LINE FEED (character 5)");
  m.actor = "Jose\xCC\x81";
  ExpectMutationRefused(m, "actor: is not in Unicode normal form C");
  m.actor = std::string(kMaxActorBytes + 1, 'a');
  ExpectMutationRefused(m, "actor: longer than 200 bytes");

  m = GoodCreate();
  m.origin = "van\x1B[2J";
  ExpectMutationRefused(m, "origin: contains control characters: U+001B");
  m.origin =
      "van\xE2\x80\x8B"
      "01";
  ExpectMutationRefused(m, "origin: contains an invisible formatting character");

  Mutation status;
  status.kind = MutationKind::kSetStatus;
  status.note = "a\tb";
  ExpectMutationRefused(status, "note: contains control characters: U+0009 TAB");
  status.note = "ok \xE2\x81\xA6";
  ExpectMutationRefused(status, "note: contains a bidirectional override");
  status.note = std::string(kMaxNoteBytes + 1, 'x');
  ExpectMutationRefused(status, "note: longer than 2000 bytes");
  status.note = "\xC0\xAF";
  ExpectMutationRefused(status, "note: value is not valid UTF-8");

  m = GoodCreate();
  for (const std::string& bad :
       std::vector<std::string>{"", "na me", "name\n", "nama\xE2\x80\xAE", "\xD9\x86\xD8\xA7",
                                std::string(kMaxFieldNameBytes + 1, 'f')}) {
    m.writes[1].name = bad;
    ExpectMutationRefused(m, "write 2: field name must be 1-64 ASCII letters, digits and '_'");
  }
  m.writes[1].name = std::string(kMaxFieldNameBytes, 'f');
  EXPECT_OK(CheckMutationText(m));
}

// ---- Field values through the catalog ----

const Catalog& FormCatalog() {
  static const Catalog catalog = [] {
    auto c = Catalog::FromJson(R"({"version": 1, "agencies": [{"id": "a", "name": "A"}],
      "services": [{"id": "a.s", "agency": "a", "name": "S", "fields": [
        {"name": "name", "type": "text", "label": "Nama lengkap"},
        {"name": "nama_ibu", "type": "text"},
        {"name": "address", "type": "text"},
        {"name": "catatan", "type": "text", "max_length": 300},
        {"name": "nik", "type": "nik"},
        {"name": "email", "type": "email"}]}]})");
    EXPECT_TRUE(c.ok()) << c.error().message();
    return std::move(*c);
  }();
  return catalog;
}

void ExpectFieldRefused(const std::string& field, const std::string& value,
                        const std::string& words) {
  const auto r = FormCatalog().ValidateUpdate("a.s", {{field, value}});
  ASSERT_FALSE(r.ok()) << field << " accepted";
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(r.error().message().find(words), std::string::npos) << r.error().message();
}

TEST(FieldText, TextValuesAreCheckedLikeAnyTextNamingTheField) {
  ExpectFieldRefused("name",
                     "Siti\xE2\x80\xAE"
                     "Aminah",
                     "field name: contains a bidirectional override that changes how text "
                     "displays: U+202E RIGHT-TO-LEFT OVERRIDE (character 5)");
  ExpectFieldRefused("address",
                     "Jl. \xE2\x81\xA7"
                     "Raya",
                     "field address: contains a bidir");
  ExpectFieldRefused("name", "Jose\xCC\x81", "field name: is not in Unicode normal form C");
  ExpectFieldRefused("catatan", "e\xCC\x81", "field catatan: is not in Unicode normal form C");
  ExpectFieldRefused("name", std::string("Siti\0", 5), "field name: contains control characters");
  ExpectFieldRefused("name", "Siti \xC0\xAF", "field name: value is not valid UTF-8");
  ExpectFieldRefused("catatan",
                     "a\xC2\x9B"
                     "b",
                     "field catatan: contains control characters");
  // Names are one line with nothing invisible; addresses and notes may span lines.
  ExpectFieldRefused("name", "Siti\nAminah", "field name: contains control characters");
  ExpectFieldRefused("nama_ibu", "Siti\xE2\x80\x8B", "field nama_ibu: contains an invisible");
  ExpectFieldRefused("email", "siti\xE2\x80\x8B@example.id", "field email: contains an invisible");
  EXPECT_OK(FormCatalog().ValidateUpdate("a.s", {{"address", "Jl. Raya\nRT 003/RW 002"}}));
  EXPECT_OK(FormCatalog().ValidateUpdate(
      "a.s", {{"catatan", "Berkas \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9 lengkap"}}));
  EXPECT_OK(FormCatalog().ValidateUpdate("a.s", {{"name", "Jos\xC3\xA9"}}));
}

TEST(FieldText, NikMustBeSixteenAsciiDigits) {
  EXPECT_OK(FormCatalog().ValidateUpdate("a.s", {{"nik", "6112054507920003"}}));
  // Arabic-Indic digits (U+0660-U+0669) spelling the same NIK.
  std::string arabic_indic;
  for (const char c : std::string("6112054507920003")) {
    arabic_indic += "\xD9";
    arabic_indic += static_cast<char>(0xA0 + (c - '0'));
  }
  ExpectFieldRefused("nik", arabic_indic,
                     "field nik: NIK must be 16 ASCII digits 0-9: character 1 is U+0666");
  // Extended Arabic-Indic, Devanagari and fullwidth digits, one among ASCII ones.
  ExpectFieldRefused("nik",
                     "61120545079200\xDB\xB0"
                     "3",
                     "character 15 is U+06F0");
  ExpectFieldRefused("nik",
                     "\xE0\xA5\xAC"
                     "112054507920003",
                     "character 1 is U+096C");
  ExpectFieldRefused("nik",
                     "\xEF\xBC\x96"
                     "112054507920003",
                     "character 1 is U+FF16");
  ExpectFieldRefused("nik", "611205450792000\xE2\x80\xAE", "bidirectional override");
}

TEST(FieldText, CatalogTextIsCheckedAndItsJsonIsStrict) {
  const auto catalog = [](const std::string& agency_name, const std::string& extra) {
    return R"({"version": 1, "agencies": [{"id": "a", "name": ")" + agency_name + R"("}],
      "services": [{"id": "a.s", "agency": "a", "name": "S", "fields": [{"name": "f"}]}])" +
           extra + "}";
  };
  ASSERT_OK(Catalog::FromJson(catalog("Dinas Kependudukan", "")));
  const auto refused = [](const std::string& json, const std::string& words) {
    auto c = Catalog::FromJson(json);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find(words), std::string::npos) << c.error().message();
  };
  refused(catalog("Dinas", R"(, "version": 2)"), "catalog: duplicate key \"version\"");
  refused(catalog("Dinas\u202e", ""), "agency a name: contains a bidirectional override");
  refused(catalog(R"(Dinas\n)", ""), "agency a name: contains control characters");
  refused(catalog("Jose\u0301", ""), "agency a name: is not in Unicode normal form C");
  refused("[]", "catalog: JSON text must be an object");
}

// ---- Strict JSON objects ----

void ExpectJsonRefused(const std::string& text, const std::string& words, size_t depth = 32) {
  const auto r = ParseJsonObjectStrict(text, depth);
  ASSERT_FALSE(r.ok()) << text.substr(0, 200) << " accepted";
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidInput);
  EXPECT_NE(r.error().message().find(words), std::string::npos) << r.error().message();
}

TEST(ParseJsonObjectStrict, AcceptsAnObject) {
  const auto r = ParseJsonObjectStrict(
      R"({"token":"abc","public_key":"AAAA","van":{"code":"KR01","tags":[{"a":1},{"a":2}]}})", 32);
  ASSERT_OK(r);
  EXPECT_EQ(r->at("token"), "abc");
  EXPECT_EQ(r->at("van").at("tags").size(), 2u);
  ASSERT_OK(ParseJsonObjectStrict("  {}  ", 1));
}

TEST(ParseJsonObjectStrict, RefusesWhatIsNotAJsonObject) {
  ExpectJsonRefused("", "not valid JSON");
  ExpectJsonRefused("{\"a\":1", "not valid JSON");
  ExpectJsonRefused("{\"a\":1} x", "not valid JSON");
  ExpectJsonRefused("{\"a\":NaN}", "not valid JSON");
  ExpectJsonRefused("{\"a\":1e999}", "not valid JSON");
  ExpectJsonRefused("{\"a\":\"\xC0\xAF\"}", "not valid JSON");
  ExpectJsonRefused(std::string("{\"a\":1}\0{\"b\":2}", 15), "not valid JSON (at byte 8)");
  ExpectJsonRefused(std::string("{\"a\":\"x\0\"}", 10), "not valid JSON");
  ExpectJsonRefused("[1,2]", "JSON text must be an object");
  ExpectJsonRefused("\"x\"", "JSON text must be an object");
  ExpectJsonRefused("null", "JSON text must be an object");
}

TEST(ParseJsonObjectStrict, RefusesARepeatedKeyAtAnyDepthNamingIt) {
  ExpectJsonRefused(R"({"token":"a","token":"b"})", "duplicate key \"token\"");
  ExpectJsonRefused(R"({"van":{"code":"A","x":1,"code":"B"}})", "duplicate key \"code\"");
  ExpectJsonRefused(R"({"l":[{"a":1},{"b":1,"b":2}]})", "duplicate key \"b\"");
  ExpectJsonRefused(R"({"a":1,"\u0061":2})", "duplicate key \"a\"");  // equal once unescaped
  ExpectJsonRefused("{\"\xE2\x80\xAE\":1,\"\\u202e\":2}", "duplicate key \"\\u202e\"");
  ExpectJsonRefused(R"({"a":{"b":1,"b":2},"c":1,"c":2})", "duplicate key \"b\"");  // the first
  // The same key in sibling or nested objects is not a repeat.
  ASSERT_OK(ParseJsonObjectStrict(R"({"a":{"a":{"a":1}},"l":[{"a":1},{"a":2}]})", 32));
  // A text that is not JSON is refused as such, even with a repeated key before the error.
  ExpectJsonRefused(R"({"a":1,"a":2)", "not valid JSON");
}

TEST(ParseJsonObjectStrict, RefusesNestingDeeperThanTheLimit) {
  const auto nested = [](size_t levels) {  // an object holding levels - 1 nested arrays
    return "{\"a\":" + std::string(levels - 1, '[') + std::string(levels - 1, ']') + "}";
  };
  ASSERT_OK(ParseJsonObjectStrict(nested(32), 32));
  ExpectJsonRefused(nested(33), "JSON nested deeper than 32 levels");
  ExpectJsonRefused(nested(3), "nested deeper than 2 levels", 2);
  ASSERT_OK(ParseJsonObjectStrict(R"({"a":{"b":{}}})", 3));
  ExpectJsonRefused(R"({"a":{"b":{}}})", "nested deeper than 2 levels", 2);
  // Far deeper than any stack would take by recursion.
  ExpectJsonRefused(nested(200000), "nested deeper than 32 levels");
  ExpectJsonRefused(nested(200000).substr(1), "not valid JSON");
}

}  // namespace
}  // namespace mpp::sync
