// Writes the seed corpora of the fuzz targets: valid inputs of each decoder, so the fuzzers start
// from the shapes the project really exchanges (and a few near misses).
//
//   mpp_fuzz_make_corpus OUT_DIR [--import-lines FILE]
//
// OUT_DIR gets one directory per target (envelope, push_body, pull_answer, catalog,
// import_line). Envelopes are sealed with the fixed fuzz key of fuzz_targets.cc. --import-lines
// splits a JSON Lines file one line per file into import_line/. The committed corpus in
// tests/fuzz/corpus was made with
//
//   python3 tools/workload --n 20 --seed 1 --bad-rate 0.2 > /tmp/lines.jsonl
//   build/fuzz/tests/fuzz/mpp_fuzz_make_corpus tests/fuzz/corpus --import-lines /tmp/lines.jsonl
//
// Output is deterministic: the same program writes the same bytes.
#include <zstd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_targets.h"
#include "mpp/sync/catalog.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/model.h"
#include "mpp/sync/protocol.h"

#ifndef MPP_DEFAULT_CATALOG
#error "MPP_DEFAULT_CATALOG must name data/catalog.json (a compile definition)"
#endif

namespace {

namespace fs = std::filesystem;
using namespace mpp;        // NOLINT(google-build-using-namespace)
using namespace mpp::sync;  // NOLINT(google-build-using-namespace)

constexpr const char* kDevice = "0192f0a8-7c3e-7a41-9d2b-5e8f1c6a0b37";
constexpr int64_t kWallMs = 1764316800000;  // 2025-11-28

void Write(const fs::path& dir, const std::string& name, ByteView bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::cerr << "cannot write " << (dir / name) << "\n";
    std::exit(1);
  }
}

void Write(const fs::path& dir, const std::string& name, const std::string& text) {
  Write(dir, name, ViewOf(text));
}

template <typename T>
T Must(Result<T> result, const char* what) {
  if (!result) {
    std::cerr << what << ": " << result.error().message() << "\n";
    std::exit(1);
  }
  return std::move(result).value();
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << path << "\n";
    std::exit(1);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

HlcTimestamp At(int64_t offset_ms, uint32_t logical = 0) { return {kWallMs + offset_ms, logical}; }

const char* kRequestId = "0192f0a8-8000-7b00-8a00-000000000001";

std::vector<Mutation> SampleBatch() {
  Mutation create;
  create.origin = kDevice;
  create.seq = 1;
  create.hlc = At(0);
  create.actor = "Rina Marlina";
  create.kind = MutationKind::kCreate;
  create.request_id = kRequestId;
  create.service_id = "dukcapil.ktp-el";
  create.receipt = "KR01-20251128-0001";
  create.writes = {{"nik", "6112054107900001", {}},
                   {"name", "Siti Rahmawati", {}},
                   {"birth_date", "1990-07-01", {}},
                   {"village_code", "61.12.05.2003", {}},
                   {"alasan", "baru", {}}};

  Mutation update;
  update.origin = kDevice;
  update.seq = 2;
  update.hlc = At(60000, 1);
  update.actor = "Rina Marlina";
  update.kind = MutationKind::kSetFields;
  update.request_id = kRequestId;
  update.writes = {{"phone", "081234567890", {}},
                   {"name", "Siti Rahmawati Putri", {At(0), kDevice}}};

  Mutation cancel;
  cancel.origin = kDevice;
  cancel.seq = 3;
  cancel.hlc = At(120000);
  cancel.actor = "Rina Marlina";
  cancel.kind = MutationKind::kSetStatus;
  cancel.request_id = kRequestId;
  cancel.status_to = RequestStatus::kCancelled;
  cancel.status_base = {At(0), kDevice};
  cancel.note = "pemohon membatalkan: data KK belum lengkap";
  return {create, update, cancel};
}

Request SampleRequest() {
  Request r;
  r.id = kRequestId;
  r.receipt = "KR01-20251128-0001";
  r.service_id = "dukcapil.ktp-el";
  r.device_id = kDevice;
  r.officer = "Rina Marlina";
  r.status = RequestStatus::kInReview;
  r.status_version = {At(300000), "staff:andi"};
  r.status_note = "berkas lengkap";
  r.created = At(0);
  r.fields = {{"name", {"Siti Rahmawati", {At(0), kDevice}}},
              {"nik", {"6112054107900001", {At(0), kDevice}}}};
  r.history = {{At(0), "Rina Marlina", "dibuat di van KR01"},
               {At(300000), "staff:andi", "status submitted -> in_review: berkas lengkap"}};
  return r;
}

ConflictRecord SampleConflict() {
  ConflictRecord c;
  c.request_id = kRequestId;
  c.field = "name";
  c.kept_value = "Siti Rahmawati Putri";
  c.kept_version = {At(60000, 1), kDevice};
  c.lost_value = "Siti Rahmawati";
  c.lost_version = {At(30000), "staff:andi"};
  c.reason = "concurrent write";
  return c;
}

// A catalog with one service that has a field of every type.
std::string SmallCatalogJson() {
  return R"({"version": 3, "name": "Fuzz MPP",
 "agencies": [{"id": "dukcapil", "name": "Dinas Dukcapil", "name_en": "Civil registry"}],
 "services": [{"id": "dukcapil.ktp-el", "agency": "dukcapil", "name": "KTP-el", "name_en": "ID card",
   "fields": [
     {"name": "nik", "type": "nik", "required": true, "personal": true, "label": "NIK"},
     {"name": "name", "type": "text", "required": true, "personal": true, "label": "Nama", "max_length": 100},
     {"name": "birth_date", "type": "date", "required": true, "label": "Tanggal lahir"},
     {"name": "phone", "type": "phone", "label": "Nomor HP"},
     {"name": "jumlah", "type": "number", "label": "Jumlah"},
     {"name": "alasan", "type": "enum", "required": true, "options": ["baru", "hilang", "rusak"]},
     {"name": "email", "type": "email", "label": "E-mail"},
     {"name": "village_code", "type": "village_code", "label": "Kode desa"}]}]})";
}

PullAnswer SampleAnswer() {
  PullAnswer a;
  a.cursor = 42;
  a.more = true;
  a.last_applied_seq = 3;
  a.unclean_seqs = {2};
  a.requests = {SampleRequest()};
  // A status change to a request the van holds: only the changed parts travel.
  RequestPatch patch;
  patch.part.id = SampleRequest().id;
  patch.part.created = SampleRequest().created;
  patch.status_changed = true;
  patch.part.status = RequestStatus::kReceived;
  patch.part.status_version = {At(190000), "staff:rina"};
  patch.part.history = {{At(190000), "staff:rina", "status submitted -> received"}};
  patch.history_from = 1;
  a.patches = {patch};
  a.conflicts = {SampleConflict()};
  a.catalog_version = 3;
  a.catalog_json = Must(Catalog::FromJson(SmallCatalogJson()), "small catalog").ToJson();
  a.epoch = 0x1234'5678'9ABCull;
  return a;
}

EnvelopeHeader Header(uint64_t first_seq, uint64_t last_seq) {
  EnvelopeHeader h;
  h.device_id = kDevice;
  h.hlc = At(180000);
  h.nonce = Bytes(kNonceBytes);
  for (size_t i = 0; i < h.nonce.size(); ++i) h.nonce[i] = static_cast<uint8_t>(0xa0 + i);
  h.first_seq = first_seq;
  h.last_seq = last_seq;
  return h;
}

// Seals with the fuzz key and checks that the envelope opens as sent.
Bytes Seal(EnvelopeKind kind, const std::string& signer, const EnvelopeHeader& header,
           const Bytes& body) {
  Bytes envelope = Must(SealEnvelope(kind, signer, header, body, fuzz::FuzzPrivateKey()), "seal");
  const KeyLookup lookup = [](const std::string&) -> Result<Bytes> {
    return fuzz::FuzzPublicKey();
  };
  auto opened = Must(OpenEnvelope(envelope, kind, lookup, {}), "open a sealed envelope");
  if (opened.raw_body != body) {
    std::cerr << "a sealed envelope opened to another body\n";
    std::exit(1);
  }
  return envelope;
}

// A zstd frame that does not state its content size (what a streaming compressor writes).
Bytes CompressUnknownSize(ByteView data) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  Bytes out(ZSTD_compressBound(data.size()));
  ZSTD_outBuffer output{out.data(), out.size(), 0};
  ZSTD_inBuffer input{data.data(), data.size(), 0};
  const size_t left = ZSTD_compressStream2(cctx, &output, &input, ZSTD_e_end);
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(left) || left != 0) {
    std::cerr << "zstd streaming compression failed\n";
    std::exit(1);
  }
  out.resize(output.pos);
  return out;
}

// An envelope around an already compressed body (what SealEnvelope does after its Compress):
// for bodies SealEnvelope would not make, such as a frame that does not state its size, or a
// header that states another size than the frame holds.
Bytes SealCompressedBody(EnvelopeKind kind, const std::string& signer, EnvelopeHeader header,
                         const Bytes& body, uint64_t stated_raw_bytes) {
  const crypto::Sha256Digest hash = crypto::Sha256(body);
  header.body_raw_bytes = stated_raw_bytes;
  header.body_sha256.assign(hash.begin(), hash.end());
  const Bytes header_bytes = EncodeValue(header);
  const std::string domain = EnvelopeDomain(kind);
  Bytes message(domain.begin(), domain.end());
  message.push_back(0);
  message.insert(message.end(), signer.begin(), signer.end());
  message.insert(message.end(), header_bytes.begin(), header_bytes.end());
  message.insert(message.end(), hash.begin(), hash.end());
  const Bytes signature = Must(crypto::Ed25519Sign(fuzz::FuzzPrivateKey(), message), "sign");
  Bytes out = {'M', 'P', 'P', '1', static_cast<uint8_t>(kind), static_cast<uint8_t>(signer.size())};
  out.insert(out.end(), signer.begin(), signer.end());
  out.push_back(static_cast<uint8_t>(header_bytes.size() & 0xff));
  out.push_back(static_cast<uint8_t>(header_bytes.size() >> 8));
  out.insert(out.end(), header_bytes.begin(), header_bytes.end());
  out.insert(out.end(), signature.begin(), signature.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void MakeEnvelopes(const fs::path& dir) {
  const std::vector<Mutation> batch = SampleBatch();
  const Bytes push = Seal(EnvelopeKind::kPush, kDevice, Header(1, 3), EncodeMutations(batch));
  Write(dir, "push_batch", push);
  Write(dir, "push_one",
        Seal(EnvelopeKind::kPush, kDevice, Header(1, 1), EncodeMutations({batch[0]})));
  Write(dir, "push_empty_batch",
        Seal(EnvelopeKind::kPush, kDevice, Header(0, 0), EncodeMutations({})));

  EnvelopeHeader pull = Header(0, 0);
  pull.cursor = 41;
  Write(dir, "pull_request",
        Seal(EnvelopeKind::kPullRequest, kDevice, pull, EncodeValue(PullRequestBody{2})));

  EnvelopeHeader answer = Header(0, 0);
  answer.hlc = At(240000, 7);
  Write(dir, "push_ack",
        Seal(EnvelopeKind::kPushAck, kServerSigner, answer, EncodeValue(PushAck{3, {2}})));
  // A signed refusal: a reused seq, with the receipt series to re-issue in (PROTOCOL.md §4).
  Write(dir, "push_ack_seq_reused",
        Seal(EnvelopeKind::kPushAck, kServerSigner, answer,
             EncodeValue(PushAck{3, {}, 77, PushRefusal::kSeqReused, 2, 2})));
  Write(
      dir, "pull_request_resync",
      Seal(EnvelopeKind::kPullRequest, kDevice, pull, EncodeValue(PullRequestBody{2, 0, 0, true})));
  Write(dir, "pull_answer",
        Seal(EnvelopeKind::kPullAnswer, kServerSigner, answer, EncodeValue(SampleAnswer())));
  Write(dir, "pull_answer_empty",
        Seal(EnvelopeKind::kPullAnswer, kServerSigner, answer, EncodeValue(PullAnswer{})));

  // A body frame that does not state its size (opens), and one that holds more than the header
  // says (refused at the stated size: a decompression bomb).
  const Bytes raw = EncodeMutations(batch);
  const Bytes unknown_size = SealCompressedBody(EnvelopeKind::kPush, kDevice, Header(1, 3),
                                                CompressUnknownSize(raw), raw.size());
  Must(OpenEnvelope(unknown_size, EnvelopeKind::kPush,
                    [](const std::string&) -> Result<Bytes> { return fuzz::FuzzPublicKey(); }, {}),
       "open the envelope with an unknown-size body");
  Write(dir, "push_unknown_size_body", unknown_size);
  Write(dir, "push_bomb_body",
        SealCompressedBody(EnvelopeKind::kPush, kDevice, Header(1, 3),
                           CompressUnknownSize(Bytes(1 << 20)), 1000));

  // Near misses: a flipped signature bit, a body cut short, a body the header does not match.
  Bytes flipped = push;
  flipped[6 + std::string(kDevice).size() + 2 + 20] ^= 0x01;  // inside the header
  Write(dir, "push_tampered_header", flipped);
  Write(dir, "push_truncated", ByteView(push).first(push.size() - 7));
  Bytes other_body = push;
  other_body.back() ^= 0x80;
  Write(dir, "push_tampered_body", other_body);
}

void MakePushBodies(const fs::path& dir) {
  const std::vector<Mutation> batch = SampleBatch();
  Write(dir, "batch_three", EncodeMutations(batch));
  Write(dir, "batch_create", EncodeMutations({batch[0]}));
  Write(dir, "batch_set_status", EncodeMutations({batch[2]}));
  Write(dir, "batch_empty", EncodeMutations({}));
  Write(dir, "mutation_single", EncodeMutation(batch[1]));
}

void MakePullAnswers(const fs::path& dir) {
  const Bytes full = EncodeValue(SampleAnswer());
  Write(dir, "answer_full", full);
  Write(dir, "answer_empty", EncodeValue(PullAnswer{}));
  PullAnswer no_catalog = SampleAnswer();
  no_catalog.catalog_json.clear();
  no_catalog.more = false;
  Write(dir, "answer_no_catalog", EncodeValue(no_catalog));
  Write(dir, "answer_full.zst", Compress(full, 3));
  Write(dir, "answer_full_unknown_size.zst", CompressUnknownSize(full));
  // A small frame of 1 MiB of zeros: past the target's 64 KiB bound (a decompression bomb).
  Write(dir, "zeros_1mib.zst", Compress(Bytes(1 << 20), 19));
  Write(dir, "zeros_1mib_unknown_size.zst", CompressUnknownSize(Bytes(1 << 20)));
}

void MakeCatalogs(const fs::path& dir) {
  Write(dir, "default.json", ReadFile(MPP_DEFAULT_CATALOG));
  const std::string small = SmallCatalogJson();
  Write(dir, "small.json", small);
  // The catalog, then NUL-separated values for the first service's fields in order.
  const std::string values[] = {
      "6112054107900001", "Siti Rahmawati",  "1990-07-01",   "081234567890", "12",
      "hilang",           "siti@example.id", "61.12.05.2003"};
  std::string with_values = small;
  for (const auto& v : values) with_values += std::string(1, '\0') + v;
  Write(dir, "small_with_values", with_values);
  std::string bad_values = small;
  for (const auto& v : {"611205410790000", "Siti\x01", "1990-02-30", "0812", "1e3", "HILANG",
                        "siti@", "61.12.5.2003"}) {
    bad_values += std::string(1, '\0') + v;
  }
  Write(dir, "small_with_bad_values", bad_values);
  // The same with places (catalog.h): the values name one of its villages and a NIK of one of
  // its districts; the near misses a village and a district it lacks.
  const std::string with_places = small.substr(0, small.size() - 1) + R"(,
 "places": {"regency": {"code": "61.12", "name": "Kubu Raya"},
  "districts": [{"code": "61.12.05", "name": "Batu Ampar"}, {"code": "61.12.07", "name": "Rasau Jaya"}],
  "villages": [{"code": "61.12.05.2003", "name": "Teluk Nibung", "district": "61.12.05"},
               {"code": "61.12.07.2001", "name": "Rasau Jaya Umum", "district": "61.12.07"}]}})";
  Write(dir, "small_places_with_values", with_places + with_values.substr(small.size()));
  std::string places_misses = with_places;
  for (const auto& v : {"6112104107900001", "Siti Rahmawati", "1990-07-01", "081234567890", "12",
                        "hilang", "siti@example.id", "61.12.07.2009"}) {
    places_misses += std::string(1, '\0') + v;
  }
  Write(dir, "small_places_with_misses", places_misses);
}

void MakeImportLines(const fs::path& dir, const fs::path& lines_file) {
  std::istringstream lines(ReadFile(lines_file));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    char name[32];
    std::snprintf(name, sizeof name, "workload_%02d", ++n);
    Write(dir, name, line);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "--import-lines")) {
    std::cerr << "usage: " << argv[0] << " OUT_DIR [--import-lines FILE]\n";
    return 2;
  }
  const fs::path out = argv[1];
  MakeEnvelopes(out / "envelope");
  MakePushBodies(out / "push_body");
  MakePullAnswers(out / "pull_answer");
  MakeCatalogs(out / "catalog");
  if (argc == 4) MakeImportLines(out / "import_line", argv[3]);
  // Every seed must pass its own target (a seed that trips a property is a bug to report).
  for (const auto& target : fuzz::FuzzTargets()) {
    const fs::path dir = out / target.name;
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string bytes = ReadFile(entry.path());
      target.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    }
  }
  std::cout << "corpus written to " << out << "\n";
  return 0;
}
