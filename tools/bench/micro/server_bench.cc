// The server's side of a push, in process as the HTTP endpoint calls it: VanSync::HandlePush
// of one 500-create envelope into a fresh SQLite server storage. Covers the key lookup, the
// envelope checks, decoding, the merge, 500 request rows, the stored envelope and the signed
// ack, in one transaction. Wall time, since the commit waits on the disk.
#include <benchmark/benchmark.h>

#include "bench_corpus.h"
#include "mpp/server/services.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/protocol.h"

namespace mpp::bench {
namespace {

// A server with the benchmark's van enrolled (inserted directly: enrolment is not measured).
struct Server {
  Server() : clock(kStartMs + 1000), rng(kWorkloadSeed) {}

  Result<void> Open() {
    MPP_ASSIGN_OR_RETURN(home, CreateServerHome(dir.Sub("server")));
    service = std::make_unique<server::Services>(*home.storage, clock, rng, home.private_key,
                                                 home.catalog);
    server::DeviceRecord device;
    device.device_id = GetCorpus().device_id;
    device.van_code = kVanCode;
    device.public_key = GetCorpus().device_key.public_key;
    device.enrolled_ms = kStartMs;
    MPP_ASSIGN_OR_RETURN(auto txn, home.storage->Begin());
    MPP_RETURN_IF_ERROR(txn->InsertDevice(device));
    return txn->Commit();
  }

  TempDir dir;
  sync::FakeClock clock;
  sync::SeededRng rng;
  server::ServerHome home;
  std::unique_ptr<server::Services> service;  // refers to home.storage: declared after it
};

void BM_ServerApplyPush(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  sync::EnvelopeHeader header;
  header.device_id = corpus.device_id;
  header.hlc = corpus.mutations.back().hlc;
  header.nonce = Bytes(sync::kNonceBytes, 0x5a);
  header.first_seq = 1;
  header.last_seq = kBatchItems;
  const auto envelope = sync::SealEnvelope(sync::EnvelopeKind::kPush, corpus.device_id, header,
                                           corpus.encoded, corpus.device_key.private_key);
  if (Failed(state, envelope, "SealEnvelope")) return;

  for (auto _ : state) {
    state.PauseTiming();
    auto server = std::make_unique<Server>();
    if (Failed(state, server->Open(), "server setup")) break;
    state.ResumeTiming();

    server::SyncLog log;
    auto answer = server->service->van_sync.HandlePush(*envelope, &log);
    if (Failed(state, answer, "HandlePush")) break;
    benchmark::DoNotOptimize(answer->data());

    state.PauseTiming();
    if (Failed(state, log.applied == kBatchItems && log.conflicts == 0,
               "the push did not apply every mutation cleanly")) {
      break;
    }
    const Bytes server_key = server->service->core.server_public_key();
    auto opened = sync::OpenEnvelope(
        *answer, sync::EnvelopeKind::kPushAck,
        [&server_key](const std::string&) -> Result<Bytes> { return server_key; }, {});
    if (Failed(state, opened, "open the ack")) break;
    auto ack = sync::DecodeValue<sync::PushAck>(opened->raw_body);
    if (Failed(state, ack, "decode the ack") ||
        Failed(state, ack->last_applied_seq == kBatchItems && ack->unclean_seqs.empty(),
               "the ack does not acknowledge the batch")) {
      break;
    }
    server.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
  if (envelope.ok()) state.counters["envelope_bytes"] = static_cast<double>(envelope->size());
}
BENCHMARK(BM_ServerApplyPush)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mpp::bench
