#include "fuzz_targets.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "mpp/field/use_cases.h"
#include "mpp/sync/catalog.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/protocol.h"
#include "reference_import_line.h"

#ifndef MPP_DEFAULT_CATALOG
#error "MPP_DEFAULT_CATALOG must name data/catalog.json (a compile definition)"
#endif

namespace mpp::fuzz {
namespace {

using sync::Catalog;
using sync::EnvelopeKind;
using sync::FieldMap;
using sync::FieldSpec;
using sync::FieldType;

bool throw_on_violation = false;

// A violated property: say which and where, then abort (libFuzzer saves the input as a crash).
[[noreturn]] void Fail(const char* file, int line, const char* condition, const std::string& what) {
  const std::string message = std::string(file) + ":" + std::to_string(line) +
                              ": fuzz property violated: " + condition + "\n  " + what;
  if (throw_on_violation) throw PropertyViolation(message);
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

#define FUZZ_CHECK(condition, what)                                 \
  do {                                                              \
    if (!(condition)) Fail(__FILE__, __LINE__, #condition, (what)); \
  } while (0)

ByteView View(const uint8_t* data, size_t size) { return {data, size}; }

std::string Describe(const Error& error) {
  return std::string(ErrorCodeName(error.code())) + ": " + error.message();
}

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), written here
// independently of the catalog's own check so the two can disagree.
bool IsStrictUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

bool IsAsciiDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// What every accepted form value must be, whatever its type (catalog.h, THREATS.md row 39).
void CheckAcceptedValue(const FieldSpec& spec, const std::string& value) {
  const std::string where = "accepted value of field " + spec.name;
  FUZZ_CHECK(IsStrictUtf8(value), where + " is not valid UTF-8");
  for (char c : value) {
    FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 || c == '\n',
               where + " holds a control character");
  }
  if (spec.type == FieldType::kNik) {
    FUZZ_CHECK(value.size() == 16 && IsAsciiDigits(value), where + " is not 16 ASCII digits");
  }
  if (spec.type == FieldType::kNumber || spec.type == FieldType::kPhone) {
    FUZZ_CHECK(IsAsciiDigits(value), where + " is not ASCII digits");
  }
  if (spec.type == FieldType::kEnum) {
    bool found = false;
    for (const auto& option : spec.options) found = found || option == value;
    FUZZ_CHECK(found, where + " is not one of the options");
  }
}

// Checks an accepted form against the catalog entry it was accepted for.
void CheckAcceptedForm(const Catalog& catalog, std::string_view service_id,
                       const FieldMap& fields) {
  const sync::Service* service = catalog.FindService(service_id);
  FUZZ_CHECK(service != nullptr, "a form was accepted for an unknown service");
  for (const auto& spec : service->fields) {
    if (spec.required) {
      auto it = fields.find(spec.name);
      FUZZ_CHECK(it != fields.end() && !it->second.empty(),
                 "accepted form lacks required field " + spec.name);
    }
  }
  for (const auto& [name, value] : fields) {
    const FieldSpec* spec = service->FindField(name);
    FUZZ_CHECK(spec != nullptr, "accepted form holds unknown field " + name);
    if (value.empty()) continue;
    CheckAcceptedValue(*spec, value);
    // With places, the citizen's village is one of them and a NIK of the regency names one of
    // its districts (Catalog::ValidateValue).
    if (catalog.districts().empty()) continue;
    if (spec->type == FieldType::kVillageCode && spec->name == "village_code") {
      FUZZ_CHECK(catalog.FindVillage(value) != nullptr,
                 "accepted village_code is not a village of the catalog");
    }
    const std::string& regency = catalog.regency_code();
    if (spec->type == FieldType::kNik && value.compare(0, 2, regency, 0, 2) == 0 &&
        value.compare(2, 2, regency, 3, 2) == 0) {
      FUZZ_CHECK(catalog.FindDistrict(regency + "." + value.substr(4, 2)) != nullptr,
                 "accepted NIK of the regency names none of its districts");
    }
  }
}

// The places of an accepted catalog hold what FromJson promises (catalog.h).
void CheckAcceptedPlaces(const Catalog& catalog) {
  for (const auto& d : catalog.districts()) {
    FUZZ_CHECK(d.code.size() == 8 && d.code.compare(0, 5, catalog.regency_code()) == 0,
               "accepted district " + d.code + " is not in the regency");
    FUZZ_CHECK(catalog.FindDistrict(d.code) == &d, "district " + d.code + " is listed twice");
  }
  for (const auto& v : catalog.villages()) {
    FUZZ_CHECK(catalog.FindDistrict(v.district_code) != nullptr,
               "accepted village " + v.code + " has no district");
    FUZZ_CHECK(v.code.size() == 13 && v.code.compare(0, 8, v.district_code) == 0,
               "accepted village " + v.code + " is not in its district");
    FUZZ_CHECK(catalog.FindVillage(v.code) == &v, "village " + v.code + " is listed twice");
  }
  FUZZ_CHECK(catalog.districts().empty() == catalog.villages().empty(),
             "accepted places with districts but no villages, or the reverse");
}

// ---- Envelope ----------------------------------------------------------------------------------

constexpr size_t kSignatureBytes = crypto::kEd25519SignatureBytes;
// The fuzz key's seed. Fixed so the committed envelope corpus keeps verifying.
constexpr char kFuzzSeed[] = "mpp fuzz key: never use for real";
static_assert(sizeof(kFuzzSeed) - 1 == crypto::kEd25519PrivateKeyBytes);

// Where the parts of an envelope are, read the way protocol.h lays them out (written again here
// so the harness can re-sign a mutated envelope; PeekSigner is checked against it).
struct Layout {
  uint8_t kind = 0;
  std::string signer;
  size_t header_pos = 0;
  size_t header_len = 0;
  size_t signature_pos = 0;
  size_t body_pos = 0;
};

std::optional<Layout> ReadLayout(ByteView e) {
  if (e.size() < 6 || std::memcmp(e.data(), "MPP1", 4) != 0) return std::nullopt;
  Layout layout;
  layout.kind = e[4];
  const size_t signer_len = e[5];
  if (signer_len == 0 || signer_len > sync::kMaxSignerBytes) return std::nullopt;
  size_t pos = 6;
  if (e.size() < pos + signer_len + 2) return std::nullopt;
  layout.signer.assign(reinterpret_cast<const char*>(e.data() + pos), signer_len);
  pos += signer_len;
  layout.header_len = e[pos] | static_cast<size_t>(e[pos + 1]) << 8;
  pos += 2;
  if (layout.header_len == 0 || layout.header_len > sync::kMaxHeaderBytes) return std::nullopt;
  if (e.size() < pos + layout.header_len + kSignatureBytes) return std::nullopt;
  layout.header_pos = pos;
  layout.signature_pos = pos + layout.header_len;
  layout.body_pos = layout.signature_pos + kSignatureBytes;
  return layout;
}

bool KnownKind(uint8_t kind) { return kind >= 1 && kind <= 4; }

Bytes SignedBytes(uint8_t kind, const std::string& signer, ByteView header, ByteView body) {
  const std::string_view domain = sync::EnvelopeDomain(static_cast<EnvelopeKind>(kind));
  const crypto::Sha256Digest body_hash = crypto::Sha256(body);
  Bytes out(domain.begin(), domain.end());
  out.push_back(0);
  out.insert(out.end(), signer.begin(), signer.end());
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), body_hash.begin(), body_hash.end());
  return out;
}

// The envelope with its signature replaced by the fuzz key's signature of its signed bytes.
Bytes Resigned(ByteView e, const Layout& layout) {
  Bytes out(e.begin(), e.end());
  const Bytes message =
      SignedBytes(layout.kind, layout.signer, e.subspan(layout.header_pos, layout.header_len),
                  e.subspan(layout.body_pos));
  auto signature = crypto::Ed25519Sign(FuzzPrivateKey(), message);
  FUZZ_CHECK(signature.ok() && signature->size() == kSignatureBytes, "cannot sign");
  std::memcpy(out.data() + layout.signature_pos, signature->data(), kSignatureBytes);
  return out;
}

// The envelope rebuilt around a header that states the body's true hash, signed by the fuzz key;
// nullopt when the header does not decode (or grows past the bound when re-encoded).
std::optional<Bytes> WithTrueBodyHash(ByteView e, const Layout& layout) {
  auto header =
      sync::DecodeValue<sync::EnvelopeHeader>(e.subspan(layout.header_pos, layout.header_len));
  if (!header) return std::nullopt;
  const ByteView body = e.subspan(layout.body_pos);
  const crypto::Sha256Digest hash = crypto::Sha256(body);
  header->body_sha256.assign(hash.begin(), hash.end());
  const Bytes header_bytes = sync::EncodeValue(*header);
  if (header_bytes.size() > sync::kMaxHeaderBytes) return std::nullopt;
  Bytes out(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(layout.header_pos - 2));
  out.push_back(static_cast<uint8_t>(header_bytes.size() & 0xff));
  out.push_back(static_cast<uint8_t>(header_bytes.size() >> 8));
  out.insert(out.end(), header_bytes.begin(), header_bytes.end());
  out.resize(out.size() + kSignatureBytes);
  out.insert(out.end(), body.begin(), body.end());
  const std::optional<Layout> rebuilt = ReadLayout(out);
  FUZZ_CHECK(rebuilt.has_value(), "the rebuilt envelope does not parse");
  return Resigned(out, *rebuilt);
}

// Decodes an opened body as the message of its kind, as the receiving side does next.
void DecodeOpenedBody(const sync::OpenedEnvelope& opened) {
  switch (opened.kind) {
    case EnvelopeKind::kPush: {
      auto mutations = sync::DecodeMutations(opened.raw_body);
      if (mutations) {
        FUZZ_CHECK(sync::EncodeMutations(*mutations) == opened.raw_body,
                   "a push body does not re-encode to its bytes");
      }
      break;
    }
    case EnvelopeKind::kPullRequest:
      (void)sync::DecodeValue<sync::PullRequestBody>(opened.raw_body);
      break;
    case EnvelopeKind::kPushAck:
      (void)sync::DecodeValue<sync::PushAck>(opened.raw_body);
      break;
    case EnvelopeKind::kPullAnswer: {
      auto answer = sync::DecodeValue<sync::PullAnswer>(opened.raw_body);
      if (answer && !answer->catalog_json.empty()) {
        (void)Catalog::FromJson(answer->catalog_json);
      }
      break;
    }
  }
}

// Opens `e` as `expected` with the fuzz key for every signer, checks what an opened envelope
// promises, and decodes its body. Returns the result for the caller's own checks.
Result<sync::OpenedEnvelope> OpenAndCheck(ByteView e, EnvelopeKind expected) {
  std::vector<std::string> asked;
  const sync::KeyLookup lookup = [&asked](const std::string& signer) -> Result<Bytes> {
    asked.push_back(signer);
    return FuzzPublicKey();
  };
  const sync::EnvelopeLimits limits;  // the defaults, which the server and the van use
  auto opened = sync::OpenEnvelope(e, expected, lookup, limits);
  if (!opened) return opened;
  const std::optional<std::string> peeked = sync::PeekSigner(e);
  FUZZ_CHECK(opened->kind == expected, "opened an envelope of another kind");
  FUZZ_CHECK(peeked && *peeked == opened->signer, "PeekSigner disagrees with OpenEnvelope");
  FUZZ_CHECK(asked.size() == 1 && asked[0] == opened->signer,
             "the key lookup was not asked exactly once, for the signer");
  FUZZ_CHECK(opened->header.protocol == sync::kProtocolVersion, "opened an unknown protocol");
  FUZZ_CHECK(opened->raw_body.size() == opened->header.body_raw_bytes,
             "opened body size differs from the header's");
  FUZZ_CHECK(opened->raw_body.size() <= limits.max_body_raw_bytes, "opened body over the limit");
  DecodeOpenedBody(*opened);
  return opened;
}

// ---- Catalog -----------------------------------------------------------------------------------

// An accepted catalog holds the max_length its JSON states, when it states an integer ("must be
// 1-4000", so a number that wraps into that range when narrowed must be refused, not truncated).
void CheckStatedMaxLengths(const Catalog& catalog, std::string_view json_text) {
  const nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.contains("services") || !doc["services"].is_array()) return;
  for (const auto& s : doc["services"]) {
    if (!s.is_object() || !s.contains("id") || !s["id"].is_string()) continue;
    const sync::Service* service = catalog.FindService(s["id"].get<std::string>());
    if (service == nullptr || !s.contains("fields") || !s["fields"].is_array()) continue;
    for (const auto& f : s["fields"]) {
      if (!f.is_object() || !f.contains("name") || !f["name"].is_string()) continue;
      if (!f.contains("max_length") || !f["max_length"].is_number_integer()) continue;
      const FieldSpec* spec = service->FindField(f["name"].get<std::string>());
      if (spec == nullptr) continue;
      const nlohmann::json& stated = f["max_length"];
      const bool same = stated.is_number_unsigned()
                            ? stated.get<uint64_t>() == spec->max_length
                            : stated.get<int64_t>() == static_cast<int64_t>(spec->max_length);
      FUZZ_CHECK(same, "field " + spec->name + " of " + service->id + " states max_length " +
                           stated.dump() + " but was accepted with " +
                           std::to_string(spec->max_length));
    }
  }
}

const Catalog& DefaultCatalog() {
  static const Catalog catalog = [] {
    std::ifstream in(MPP_DEFAULT_CATALOG, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    auto parsed = Catalog::FromJson(text.str());
    if (!parsed) {
      std::fprintf(stderr, "fuzz: cannot load %s: %s\n", MPP_DEFAULT_CATALOG,
                   parsed.error().message().c_str());
      std::abort();
    }
    return std::move(parsed).value();
  }();
  return catalog;
}

}  // namespace

void ThrowOnPropertyViolation(bool enable) { throw_on_violation = enable; }

const Bytes& FuzzPrivateKey() {
  static const Bytes key(kFuzzSeed, kFuzzSeed + crypto::kEd25519PrivateKeyBytes);
  return key;
}

const Bytes& FuzzPublicKey() {
  static const Bytes key = [] {
    auto public_key = crypto::Ed25519PublicKeyOf(FuzzPrivateKey());
    if (!public_key) std::abort();
    return std::move(public_key).value();
  }();
  return key;
}

int FuzzEnvelope(const uint8_t* data, size_t size) {
  const ByteView input = View(data, size);
  const std::optional<Layout> layout = ReadLayout(input);
  const bool splits = layout && KnownKind(layout->kind);

  const std::optional<std::string> peeked = sync::PeekSigner(input);
  FUZZ_CHECK(peeked.has_value() == splits, "PeekSigner disagrees with the envelope layout");
  FUZZ_CHECK(!peeked || *peeked == layout->signer, "PeekSigner read another signer");

  // An unknown or revoked signer is refused, whatever the rest says.
  const sync::KeyLookup refuse = [](const std::string& signer) -> Result<Bytes> {
    return Error::Unauthenticated("unknown device " + signer);
  };
  for (uint8_t kind = 1; kind <= 4; ++kind) {
    auto opened = sync::OpenEnvelope(input, static_cast<EnvelopeKind>(kind), refuse, {});
    FUZZ_CHECK(!opened.ok(), "opened an envelope whose signer the lookup refused");
  }

  // 1. The input as it is (its signature is right only for seeds and their near relatives).
  const EnvelopeKind expected = static_cast<EnvelopeKind>(splits ? layout->kind : 1);
  auto as_is = OpenAndCheck(input, expected);
  if (!splits) {
    FUZZ_CHECK(!as_is.ok(), "opened bytes that are not an envelope");
    return 0;
  }
  const auto other = static_cast<EnvelopeKind>(layout->kind % 4 + 1);
  FUZZ_CHECK(!OpenAndCheck(input, other).ok(), "opened an envelope as another kind");

  // 2. Re-signed: the signature checks out, so the header, protocol and body-hash checks run.
  const Bytes resigned = Resigned(input, *layout);
  if (as_is.ok())
    FUZZ_CHECK(resigned == Bytes(input.begin(), input.end()),
               "re-signing changed a valid envelope");
  auto opened = OpenAndCheck(resigned, expected);
  if (!opened) {
    FUZZ_CHECK(opened.error().message().rfind("bad signature", 0) != 0,
               "a re-signed envelope failed its signature check: " + Describe(opened.error()));
  }

  // 3. With the body's true hash in the header: the size bound, zstd and the body decoder run.
  if (const std::optional<Bytes> rebuilt = WithTrueBodyHash(input, *layout)) {
    auto reopened = OpenAndCheck(*rebuilt, expected);
    if (!reopened) {
      FUZZ_CHECK(reopened.error().message().rfind("body hash mismatch", 0) != 0,
                 "the body hash failed though the header states it");
    }
  }
  return 0;
}

int FuzzPushBody(const uint8_t* data, size_t size) {
  const ByteView input = View(data, size);
  const Bytes bytes(input.begin(), input.end());
  auto batch = sync::DecodeMutations(input);
  if (batch) {
    FUZZ_CHECK(sync::EncodeMutations(*batch) == bytes,
               "a decoded batch does not re-encode to its bytes (one encoding per value)");
  }
  // One mutation alone is the encoding of the van's outbox rows.
  auto one = sync::DecodeMutation(input);
  if (one) {
    FUZZ_CHECK(sync::EncodeMutation(*one) == bytes, "a decoded mutation does not re-encode");
  }
  return 0;
}

int FuzzPullAnswer(const uint8_t* data, size_t size) {
  const ByteView input = View(data, size);
  const Bytes bytes(input.begin(), input.end());
  auto answer = sync::DecodeValue<sync::PullAnswer>(input);
  if (answer) {
    FUZZ_CHECK(sync::EncodeValue(*answer) == bytes, "a decoded pull answer does not re-encode");
    if (!answer->catalog_json.empty()) (void)Catalog::FromJson(answer->catalog_json);
    // What the server sends: compressed, then bounded by the exact size on the way back.
    auto round = sync::Decompress(sync::Compress(input, 1), bytes.size());
    FUZZ_CHECK(round.ok() && *round == bytes,
               "Compress then Decompress does not give the input back" +
                   (round.ok() ? std::string() : ": " + Describe(round.error())));
  }

  // The input as a zstd frame, with a small bound (a decompression bomb stops there).
  constexpr size_t kSmallBound = 64 * 1024;
  auto raw = sync::Decompress(input, kSmallBound);
  if (raw) {
    FUZZ_CHECK(raw->size() <= kSmallBound, "Decompress went past its bound");
    auto larger = sync::Decompress(input, 4 * kSmallBound);
    FUZZ_CHECK(larger.ok() && *larger == *raw, "a larger bound decompressed differently");
    auto inner = sync::DecodeValue<sync::PullAnswer>(*raw);
    if (inner) FUZZ_CHECK(sync::EncodeValue(*inner) == *raw, "a decoded answer does not re-encode");
  } else {
    FUZZ_CHECK(
        raw.error().code() == ErrorCode::kCorrupt || raw.error().code() == ErrorCode::kTooLarge,
        "Decompress failed with an unexpected code: " + Describe(raw.error()));
  }
  return 0;
}

int FuzzCatalog(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The catalog JSON, then optionally NUL and NUL-separated form values (JSON holds no raw NUL).
  const size_t nul = input.find('\0');
  const std::string_view json_text = input.substr(0, nul);
  std::vector<std::string> values;
  if (nul != std::string_view::npos) {
    std::string_view rest = input.substr(nul + 1);
    while (true) {
      const size_t next = rest.find('\0');
      values.emplace_back(rest.substr(0, next));
      if (next == std::string_view::npos) break;
      rest = rest.substr(next + 1);
    }
  }

  auto catalog = Catalog::FromJson(json_text);
  if (!catalog) return 0;
  CheckStatedMaxLengths(*catalog, json_text);
  CheckAcceptedPlaces(*catalog);
  // The server sends its catalog to the vans as ToJson; a van must load it back unchanged.
  const std::string json = catalog->ToJson();
  auto again = Catalog::FromJson(json);
  FUZZ_CHECK(again.ok(), "an accepted catalog's ToJson does not load: " +
                             (again.ok() ? std::string() : again.error().message()));
  FUZZ_CHECK(again->ToJson() == json, "an accepted catalog changes through ToJson/FromJson");
  if (catalog->services().empty()) return 0;

  // The first service's form, filled from the input's values and, past them, from the catalog.
  const sync::Service& service = catalog->services().front();
  FieldMap fields;
  size_t next = 0;
  for (const auto& spec : service.fields) {
    if (next < values.size()) {
      fields[spec.name] = values[next++];
    } else {
      fields[spec.name] = spec.options.empty() ? spec.label : spec.options.front();
    }
  }
  for (; next + 1 < values.size(); next += 2) fields[values[next]] = values[next + 1];

  auto created = catalog->ValidateNew(service.id, fields);
  auto updated = catalog->ValidateUpdate(service.id, fields);
  if (created) {
    FUZZ_CHECK(updated.ok(), "ValidateNew accepted what ValidateUpdate refuses");
    CheckAcceptedForm(*catalog, service.id, fields);
  }
  for (const auto& spec : service.fields) {
    for (const auto& value : values) {
      if (sync::ValidateFieldValue(spec, value)) CheckAcceptedValue(spec, value);
    }
  }
  return 0;
}

int FuzzImportLine(const uint8_t* data, size_t size) {
  const Catalog& catalog = DefaultCatalog();
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto parsed = field::ParseImportLine(line);
  const auto reference = ReferenceImportLine(line);
  FUZZ_CHECK(parsed.ok() == reference.ok(), "ParseImportLine and nlohmann disagree on a line");
  if (reference.ok()) {
    FUZZ_CHECK(parsed->service_id == reference->service_id && parsed->fields == reference->fields,
               "ParseImportLine and nlohmann read different values");
  } else {
    FUZZ_CHECK(parsed.error().message() == reference.error().message(),
               "ParseImportLine and nlohmann refuse a line for different reasons");
  }
  if (!parsed) return 0;
  if (!catalog.ValidateNew(parsed->service_id, parsed->fields)) return 0;
  CheckAcceptedForm(catalog, parsed->service_id, parsed->fields);
  // Every accepted string round-trips unchanged (THREATS.md row 39).
  const nlohmann::json again = {{"service_id", parsed->service_id}, {"fields", parsed->fields}};
  auto reparsed = field::ParseImportLine(again.dump());
  FUZZ_CHECK(reparsed.ok() && reparsed->service_id == parsed->service_id &&
                 reparsed->fields == parsed->fields,
             "an accepted import line does not survive its own JSON");
  return 0;
}

const std::vector<FuzzTarget>& FuzzTargets() {
  static const std::vector<FuzzTarget> targets = {
      {"envelope", &FuzzEnvelope},      {"push_body", &FuzzPushBody},
      {"pull_answer", &FuzzPullAnswer}, {"catalog", &FuzzCatalog},
      {"import_line", &FuzzImportLine},
  };
  return targets;
}

}  // namespace mpp::fuzz
