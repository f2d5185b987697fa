// The wire codec on one push batch: cereal encoding and decoding of 500 create mutations, and
// zstd at the levels worth comparing (3 is what SealEnvelope uses by default).
#include <benchmark/benchmark.h>

#include "bench_corpus.h"
#include "mpp/sync/codec.h"

namespace mpp::bench {
namespace {

void BM_EncodeMutations(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  for (auto _ : state) {
    Bytes encoded = sync::EncodeMutations(corpus.mutations);
    benchmark::DoNotOptimize(encoded.data());
    if (Failed(state, encoded.size() == corpus.encoded.size(), "encoding changed size")) break;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(corpus.encoded.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
  state.counters["bytes_per_item"] = static_cast<double>(corpus.encoded.size()) / kBatchItems;
}
BENCHMARK(BM_EncodeMutations);

void BM_DecodeMutations(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  for (auto _ : state) {
    auto decoded = sync::DecodeMutations(corpus.encoded);
    if (Failed(state, decoded, "DecodeMutations")) break;
    benchmark::DoNotOptimize(decoded->data());
    if (Failed(state, decoded->size() == kBatchItems, "decoded a different batch")) break;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(corpus.encoded.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
}
BENCHMARK(BM_DecodeMutations);

// Both zstd benchmarks count the raw (uncompressed) bytes, so their bytes/s compare directly.
void SetCompressionCounters(benchmark::State& state, size_t compressed_bytes) {
  const Corpus& corpus = GetCorpus();
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(corpus.encoded.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
  state.counters["bytes_per_item"] = static_cast<double>(compressed_bytes) / kBatchItems;
  state.counters["ratio"] =
      static_cast<double>(corpus.encoded.size()) / static_cast<double>(compressed_bytes);
}

void BM_Compress(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  const int level = static_cast<int>(state.range(0));
  // Checked once outside the loop: the frame must give the batch back.
  const Bytes frame = sync::Compress(corpus.encoded, level);
  auto back = sync::Decompress(frame, corpus.encoded.size());
  if (Failed(state, back, "Decompress") ||
      Failed(state, *back == corpus.encoded, "the frame does not give the batch back")) {
    return;
  }
  for (auto _ : state) {
    Bytes compressed = sync::Compress(corpus.encoded, level);
    benchmark::DoNotOptimize(compressed.data());
    if (Failed(state, compressed.size() == frame.size(), "compression is not deterministic")) {
      break;
    }
  }
  SetCompressionCounters(state, frame.size());
}
BENCHMARK(BM_Compress)->Arg(1)->Arg(3)->Arg(9)->Arg(19);

void BM_Decompress(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  const Bytes frame = sync::Compress(corpus.encoded, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto raw = sync::Decompress(frame, corpus.encoded.size());
    if (Failed(state, raw, "Decompress")) break;
    benchmark::DoNotOptimize(raw->data());
    if (Failed(state, raw->size() == corpus.encoded.size(), "decompressed a different size")) {
      break;
    }
  }
  SetCompressionCounters(state, frame.size());
}
BENCHMARK(BM_Decompress)->Arg(1)->Arg(3)->Arg(9)->Arg(19);

}  // namespace
}  // namespace mpp::bench
