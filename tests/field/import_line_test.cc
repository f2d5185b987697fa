// ParseImportLine against the nlohmann::json DOM parse it replaced (issue 5, kept in
// tests/fuzz/reference_import_line.h): same lines accepted with the same values, same lines
// refused with the same reason.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/reference_import_line.h"
#include "mpp/field/use_cases.h"
#include "support/test_util.h"

namespace mpp::field {
namespace {

std::string Printable(std::string_view line) {
  std::string out;
  for (const char c : line.substr(0, 300)) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f) {
      out += c;
    } else {
      char hex[8];
      snprintf(hex, sizeof hex, "\\x%02x", b);
      out += hex;
    }
  }
  return out;
}

void ExpectSameAsReference(std::string_view line) {
  const auto got = ParseImportLine(line);
  const auto want = fuzz::ReferenceImportLine(line);
  ASSERT_EQ(got.ok(), want.ok()) << Printable(line)
                                 << "\n got: " << (got.ok() ? "ok" : got.error().message())
                                 << "\n want: " << (want.ok() ? "ok" : want.error().message());
  if (want.ok()) {
    EXPECT_EQ(got->service_id, want->service_id) << Printable(line);
    EXPECT_EQ(got->fields, want->fields) << Printable(line);
  } else {
    EXPECT_EQ(got.error().message(), want.error().message()) << Printable(line);
    EXPECT_EQ(got.error().code(), want.error().code()) << Printable(line);
  }
}

const std::string kGood =
    R"({"service_id":"dukcapil.ktp-el","fields":{"nik":"6112054507920003","name":"Siti Aminah",)"
    R"("birth_date":"1992-07-05","address":"Jl. Sungai Raya Dalam No. 12, RT 003/RW 002",)"
    R"("catatan":"Berkas lengkap \u00e9 \ud83d\ude00 \"kutip\" \\ \/ \n"}})";

TEST(ImportLine, HandPickedLinesMatchTheReference) {
  const std::string inner = R"("nik":"6112054507920003","name":"Siti")";
  const std::vector<std::string> lines = {
      kGood,
      "\xEF\xBB\xBF" + kGood,
      "\xEF\xBB\xBF\xEF\xBB\xBF" + kGood,
      " \xEF\xBB\xBF" + kGood,
      "\xEF\xBB",
      "  " + kGood + " \t\r",
      kGood + " x",
      kGood + ",",
      kGood + kGood,
      kGood + std::string("\0garbage{", 9),
      kGood + std::string(" \0", 2),
      std::string("\0", 1) + kGood,
      "",
      " ",
      "\f" + kGood,
      "[]",
      "\"x\"",
      "1",
      "null",
      "{}",
      std::string("[1]\0xx", 6),
      R"({"service_id":5,"fields":{}})",
      R"({"service_id":5,"service_id":"a","fields":{}})",
      R"({"service_id":"a","service_id":[],"fields":{}})",
      R"({"fields":{"b":"1"},"service_id":"a"})",
      R"({"service_id":"a","fields":[]})",
      R"({"service_id":"a","fields":null,"fields":{"x":"y"}})",
      R"({"service_id":"a","fields":{"x":"y"},"fields":7})",
      R"({"service_id":"a","fields":{"x":1,"x":"y"}})",
      R"({"service_id":"a","fields":{"x":"y","x":1}})",
      R"({"service_id":"a","fields":{"zz":1,"aa":null,"mm":[{}]}})",
      R"({"service_id":"a","fields":{"zz":"1","aa":null},"fields":{"q":"r"}})",
      R"({"service\u005fid":"a","fie\u006cds":{"\u0000":"\u0000"}})",
      R"({"service_id":"a","fields":{"n":"\ud83d"}})",
      R"({"service_id":"a","fields":{"n":"\ude00"}})",
      R"({"service_id":"a","fields":{"n":"\ud83d\u0041"}})",
      R"({"service_id":"a","fields":{"n":"\uDBFF\uDFFF\uD800\uDC00"}})",
      R"({"service_id":"a","fields":{"n":"\x"}})",
      R"({"service_id":"a","fields":{"n":"\u12G4"}})",
      R"({"service_id":"a","fields":{"n":"\u00"}})",
      R"({"service_id":"a","fields":{"n":"abc\"}})",
      "{\"service_id\":\"a\",\"fields\":{\"n\":\"A\tB\"}}",
      "{\"service_id\":\"a\",\"fields\":{\"n\":\"A\x7f\"}}",
      R"({"service_id":"a","fields":{}},)",
      R"({"service_id":"a","fields":{},})",
      R"({"service_id":"a" "fields":{}})",
      R"({"a":[1,2,]})",
      R"({"a":[,]})",
      R"({"a" : 1 , "b" : [ 1 , { } , [ ] , "x" , true , false , null ] })",
      R"({"a":1 "b":2})",
      R"({"a":})",
      R"({:1})",
      R"({1:1})",
      R"({"a"})",
      R"({"a":"b")",
      R"({"a":tru})",
      R"({"a":nulll})",
      R"({"a":True})",
      std::string(R"({"a":[)") + std::string(30000, '[') + std::string(30000, ']') + "]}",
      std::string(30000, '[') + std::string(30000, ']'),
      std::string(30000, '[') + std::string(29999, ']'),
      R"({"service_id":"a","fields":{"c":")" + std::string(kMaxImportLineBytes, 'x') + "\"}}",
  };
  for (const auto& line : lines) ExpectSameAsReference(line);
}

Error Refusal(std::string_view line) {
  auto got = ParseImportLine(line);
  EXPECT_FALSE(got.ok()) << Printable(line) << " accepted";
  return got.ok() ? Error::Internal("accepted") : got.error();
}

TEST(ImportLine, RepeatedKeysAreRefusedNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"service_id":"a","service_id":"b","fields":{}})", R"(duplicate key "service_id")"},
      {R"({"service_id":"a","fields":{"nik":"1","name":"x","nik":"2"}})", R"(duplicate key "nik")"},
      {R"({"service_id":"a","fields":{"nik":1,"nik":"2"}})", R"(duplicate key "nik")"},
      {R"({"service_id":"a","fields":{"nik":"1","nik":"2"}})", R"(duplicate key "nik")"},
      {R"({"service_id":"a","fields":{},"x":{"l":[{"k":1,"k":2}]}})", R"(duplicate key "k")"},
      {R"({"service_id":"a","fields":{},"fields":{}})", R"(duplicate key "fields")"},
      {"{\"service_id\":\"a\",\"fields\":{\"\xE2\x80\xAE\":\"1\",\"\\u202E\":\"2\"}}",
       R"(duplicate key "\u202e")"},
      // The first repeat in the text is the one named.
      {R"({"x":{"b":1,"b":2},"service_id":"a","service_id":"a","fields":{}})",
       R"(duplicate key "b")"},
  };
  for (const auto& [line, reason] : cases) {
    const Error error = Refusal(line);
    EXPECT_EQ(error.code(), ErrorCode::kInvalidInput) << Printable(line);
    EXPECT_EQ(error.message(), reason) << Printable(line);
    ExpectSameAsReference(line);
  }
  // The same key in different objects is no repeat.
  const std::string ok =
      R"({"service_id":"a","fields":{"service_id":"b","fields":"c"},"x":[{"k":1},{"k":2}]})";
  ASSERT_OK(ParseImportLine(ok));
  ExpectSameAsReference(ok);
  // A line that is not JSON says so, whatever repeats before the error.
  EXPECT_EQ(Refusal(R"({"service_id":"a","service_id":"a","fields":{})").message(),
            "not valid JSON");
}

TEST(ImportLine, NestingDeeperThan32IsRefused) {
  // {"service_id":"a","fields":{},"x":[[...]]}: the line is depth 1, so 31 arrays reach 32.
  const auto nested = [](size_t arrays) {
    return R"({"service_id":"a","fields":{},"x":)" + std::string(arrays, '[') +
           std::string(arrays, ']') + "}";
  };
  ASSERT_OK(ParseImportLine(nested(kMaxImportDepth - 1)));
  EXPECT_EQ(Refusal(nested(kMaxImportDepth)).message(), "nested deeper than 32 levels");
  EXPECT_EQ(Refusal(std::string(33, '[') + std::string(33, ']')).message(),
            "nested deeper than 32 levels");
  EXPECT_EQ(Refusal(std::string(32, '[') + std::string(32, ']')).message(),
            "a line must be a JSON object");
  std::string objects = R"({"service_id":"a","fields":{})";
  for (size_t i = 1; i < kMaxImportDepth; ++i) objects += R"(,"o":{"p":1)";
  for (size_t i = 1; i < kMaxImportDepth; ++i) objects += "}";
  objects += "}";
  ASSERT_OK(ParseImportLine(objects));
  // Too deep, then a repeated key: the depth is named, it comes first.
  const std::string deep_then_repeat =
      R"({"x":)" + std::string(40, '[') + std::string(40, ']') + R"(,"x":1})";
  EXPECT_EQ(Refusal(deep_then_repeat).message(), "nested deeper than 32 levels");
  for (const auto& line : {nested(kMaxImportDepth - 1), nested(kMaxImportDepth), objects,
                           deep_then_repeat, nested(30000)}) {
    ExpectSameAsReference(line);
  }
}

TEST(ImportLine, NumbersMatchTheReferenceIncludingOverflow) {
  const std::vector<std::string> numbers = {
      "0",
      "-0",
      "01",
      "1.",
      ".5",
      "1e",
      "-",
      "1E+2",
      "1e-2",
      "+1",
      "0x10",
      "NaN",
      "Infinity",
      "1e308",
      "1e309",
      "2e308",
      "-1e400",
      "1e-400",
      "4.9e-324",
      "0e99999999",
      "1.5E-7",
      "-1.0e+0",
      "1.e5",
      "1e+",
      "00",
      "-01",
      "0.0e-0",
      "123456789012345678901234567890",
      "1.7976931348623157e308",
      "1.7976931348623159e308",
      std::string(308, '9'),
      std::string(309, '9'),
      "-" + std::string(400, '9'),
      "1" + std::string(400, '0') + "e-300",
  };
  for (const auto& n : numbers) {
    ExpectSameAsReference(R"({"service_id":"a","fields":{},"n":)" + n + "}");
    ExpectSameAsReference(R"({"service_id":"a","fields":{"x":)" + n + "}}");
    ExpectSameAsReference("[" + n + "]");
  }
}

TEST(ImportLine, EveryByteInEveryPlaceMatchesTheReference) {
  // Each byte value inside a string, inside a key, between tokens and after the value.
  for (int b = 0; b < 256; ++b) {
    const std::string c(1, static_cast<char>(b));
    ExpectSameAsReference(R"({"service_id":"a","fields":{"n":"x)" + c + "\"}}");
    ExpectSameAsReference(R"({"service_id":"a","fields":{"n)" + c + "\":\"x\"}}");
    ExpectSameAsReference(R"({"service_id":"a",)" + c + R"("fields":{}})");
    ExpectSameAsReference(R"({"service_id":"a","fields":{}})" + c);
    ExpectSameAsReference(R"({"service_id":"a","fields":{"n":"\)" + c + "\"}}");
  }
  // Every two-, three- and four-byte sequence shape, well-formed or not.
  const std::vector<int> leads = {0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC,
                                  0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  const std::vector<int> tails = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0};
  for (int lead : leads) {
    for (int t1 : tails) {
      for (int t2 : tails) {
        for (int t3 : {0x80, 0xBF, 0x41}) {
          std::string seq = {static_cast<char>(lead), static_cast<char>(t1), static_cast<char>(t2),
                             static_cast<char>(t3)};
          for (size_t len = 1; len <= 4; ++len) {
            ExpectSameAsReference(R"({"service_id":"a","fields":{"n":")" + seq.substr(0, len) +
                                  "\"}}");
          }
        }
      }
    }
  }
}

TEST(ImportLine, RandomEditsOfAGoodLineMatchTheReference) {
  const uint32_t seed = 20261128;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::string alphabet = std::string("{}[]\":,\\ \t\r0123456789-+.eEtrufalsnu/bx") +
                               std::string("\0\xC3\xA9\x80\xFF\xEF\xBB\xBF\xED\xF0\x9F", 12);
  for (int round = 0; round < 20000; ++round) {
    std::string line = kGood;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % (line.size() + 1);
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          if (at < line.size()) line[at] = c;
          break;
        case 1:
          line.insert(line.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          if (at < line.size()) line.erase(at, 1);
          break;
      }
    }
    ExpectSameAsReference(line);
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace mpp::field
