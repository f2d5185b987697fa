// The merge of a push batch as the server runs it: each create applied to a request that does
// not exist yet, with the default catalog's validation (NIK, dates, enums, lengths).
#include <benchmark/benchmark.h>

#include <optional>

#include "bench_corpus.h"
#include "mpp/sync/merge.h"

namespace mpp::bench {
namespace {

void BM_ApplyMutationBatch(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  bool failed = false;
  for (auto _ : state) {
    for (const sync::Mutation& m : corpus.mutations) {
      std::optional<sync::Request> request;
      auto outcome = sync::ApplyMutation(corpus.catalog, request, m, sync::Role::kVan);
      if (Failed(state, outcome, "ApplyMutation") ||
          Failed(state, outcome->clean && request.has_value(), "a create did not apply cleanly")) {
        failed = true;
        break;
      }
      benchmark::DoNotOptimize(request);
    }
    if (failed) break;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
}
BENCHMARK(BM_ApplyMutationBatch);

}  // namespace
}  // namespace mpp::bench
