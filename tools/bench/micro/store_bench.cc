// The van store's batch paths, on a real SQLite file (WAL, synchronous=FULL) under TMPDIR:
// committing an import batch, reading the outbox for a push, retiring it on the ack, and taking
// in a pull page. Each is one transaction, so the figures include its fsyncs; they are wall
// time (UseRealTime), because waiting on the disk is part of the cost. Stores are set up with
// the timer paused.
#include <benchmark/benchmark.h>

#include <array>
#include <optional>

#include "bench_corpus.h"
#include "mpp/sync/merge.h"
#include "mpp/sync/protocol.h"

namespace mpp::bench {
namespace {

// The server's clock when it answers: a second after the van committed.
constexpr sync::HlcTimestamp kServerHlc{kStartMs + 1000, 0};

// A store in its own temp dir, with its clock and rng (the store keeps references to both).
struct Van {
  Van() : clock(kStartMs), rng(kWorkloadSeed) {}

  Result<void> Open() {
    MPP_ASSIGN_OR_RETURN(store, CreateVanStore(dir.Sub("van"), clock, rng));
    return Ok();
  }

  TempDir dir;
  sync::FakeClock clock;
  sync::SeededRng rng;
  std::unique_ptr<store::VanStore> store;
};

// Commit of one import batch (500 creates) into an empty store: validation and merge of each
// draft, sealing of its view and its outbox entry, 1,000 inserts, one transaction.
void BM_VanStoreCommit(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  for (auto _ : state) {
    state.PauseTiming();
    auto van = std::make_unique<Van>();
    if (Failed(state, van->Open(), "create store")) break;
    std::vector<sync::Mutation> drafts = corpus.drafts;
    state.ResumeTiming();

    auto views = van->store->Commit(std::move(drafts));
    if (Failed(state, views, "Commit")) break;
    benchmark::DoNotOptimize(views->data());
    if (Failed(state, views->size() == kBatchItems, "Commit returned a different batch")) break;

    state.PauseTiming();
    van.reset();  // closing the database checkpoints the WAL: not part of the commit
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
}
BENCHMARK(BM_VanStoreCommit)->UseRealTime()->Unit(benchmark::kMillisecond);

// What the pusher reads for one batch: 500 outbox rows opened and decoded. Read-only, so one
// store serves every iteration.
void BM_VanStorePendingMutations(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  Van van;
  if (Failed(state, van.Open(), "create store")) return;
  if (Failed(state, van.store->Commit(corpus.drafts), "Commit")) return;
  for (auto _ : state) {
    auto pending = van.store->PendingMutations(kBatchItems);
    if (Failed(state, pending, "PendingMutations")) break;
    benchmark::DoNotOptimize(pending->data());
    if (Failed(state, pending->size() == kBatchItems, "a different number pending")) break;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
}
BENCHMARK(BM_VanStorePendingMutations)->UseRealTime()->Unit(benchmark::kMillisecond);

// The ack of a clean 500-mutation push: each mutation folded into its request's base, the
// outbox emptied, one transaction. Each iteration starts from a fresh store holding the batch;
// the batch is handed back as the pusher does (it holds what it just pushed).
void BM_VanStoreApplyAck(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  sync::PushAck ack;
  ack.last_applied_seq = kBatchItems;
  for (auto _ : state) {
    state.PauseTiming();
    auto van = std::make_unique<Van>();
    if (Failed(state, van->Open(), "create store") ||
        Failed(state, van->store->Commit(corpus.drafts), "Commit")) {
      break;
    }
    auto sent = van->store->PendingMutations(kBatchItems);
    if (Failed(state, sent, "PendingMutations")) break;
    state.ResumeTiming();

    if (Failed(state, van->store->ApplyAck(ack, kServerHlc, *sent), "ApplyAck")) break;

    state.PauseTiming();
    auto device = van->store->Device();
    if (Failed(state, device, "Device") ||
        Failed(state, device->pending == 0, "the ack left mutations in the outbox")) {
      break;
    }
    van.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
}
BENCHMARK(BM_VanStoreApplyAck)->UseRealTime()->Unit(benchmark::kMillisecond);

// Server states of the van's requests after staff moved each one to `to`.
Result<std::vector<sync::Request>> StaffMoved(const sync::Catalog& catalog,
                                              const std::vector<sync::Request>& views,
                                              sync::RequestStatus to, int64_t at_ms) {
  std::vector<sync::Request> out;
  out.reserve(views.size());
  for (const sync::Request& view : views) {
    sync::Mutation m;
    m.origin = "staff:Budi";
    m.actor = "staff:Budi";
    m.hlc = {at_ms, 0};
    m.kind = sync::MutationKind::kSetStatus;
    m.request_id = view.id;
    m.status_to = to;
    m.status_base = view.status_version;
    std::optional<sync::Request> state = view;
    MPP_ASSIGN_OR_RETURN(auto outcome, sync::ApplyMutation(catalog, state, m, sync::Role::kStaff));
    if (!outcome.clean) return Error::Internal("staff change refused: " + m.request_id);
    out.push_back(std::move(*state));
  }
  return out;
}

// One pull page of 500 changed requests the van holds (pushed and acknowledged, then changed by
// staff): each becomes the base, its view is rebuilt and resealed, one transaction. The pages
// alternate between two states (received, in_review) so every pull really changes each row.
void BM_VanStoreApplyPull(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  Van van;
  if (Failed(state, van.Open(), "create store")) return;
  auto views = van.store->Commit(corpus.drafts);
  if (Failed(state, views, "Commit")) return;
  sync::PushAck ack;
  ack.last_applied_seq = kBatchItems;
  if (Failed(state, van.store->ApplyAck(ack, kServerHlc), "ApplyAck")) return;
  std::array<sync::PullAnswer, 2> pages;
  const std::array<sync::RequestStatus, 2> statuses = {sync::RequestStatus::kReceived,
                                                       sync::RequestStatus::kInReview};
  const std::vector<sync::Request>* before = &*views;
  for (size_t i = 0; i < pages.size(); ++i) {
    auto moved = StaffMoved(corpus.catalog, *before, statuses[i], kStartMs + 60'000 * (i + 1));
    if (Failed(state, moved, "staff change")) return;
    pages[i].last_applied_seq = kBatchItems;
    pages[i].requests = std::move(moved).value();
    before = &pages[i].requests;
  }

  uint64_t cursor = 0;
  for (auto _ : state) {
    sync::PullAnswer& page = pages[cursor % pages.size()];
    page.cursor = ++cursor;
    if (Failed(state, van.store->ApplyPull(page, kServerHlc), "ApplyPull")) break;
  }
  if (!state.error_occurred() && cursor > 0) {
    auto row = van.store->Find(views->front().id);
    if (Failed(state, row, "Find") ||
        Failed(state, row->view.status == statuses[(cursor - 1) % statuses.size()],
               "the pulled state did not become the view")) {
      return;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
}
BENCHMARK(BM_VanStoreApplyPull)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mpp::bench
