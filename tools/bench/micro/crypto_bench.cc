// The signed envelope of a push, end to end as each side runs it: the van encodes, compresses
// and signs (SealEnvelope); the server verifies, decompresses and decodes (OpenEnvelope, then
// DecodeMutations). And Ed25519 alone on a 32-byte message, to see its share.
#include <benchmark/benchmark.h>

#include "bench_corpus.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/crypto.h"
#include "mpp/sync/protocol.h"

namespace mpp::bench {
namespace {

sync::EnvelopeHeader PushHeader(const Corpus& corpus) {
  sync::EnvelopeHeader header;
  header.device_id = corpus.device_id;
  header.hlc = corpus.mutations.back().hlc;
  header.nonce =
      Bytes(sync::kNonceBytes, 0x5a);  // fresh per push in the pusher; size is what counts
  header.first_seq = corpus.mutations.front().seq;
  header.last_seq = corpus.mutations.back().seq;
  return header;
}

Result<Bytes> SealPush(const Corpus& corpus) {
  return sync::SealEnvelope(sync::EnvelopeKind::kPush, corpus.device_id, PushHeader(corpus),
                            sync::EncodeMutations(corpus.mutations), corpus.device_key.private_key);
}

void BM_SealEnvelope(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  size_t envelope_bytes = 0;
  for (auto _ : state) {
    auto envelope = SealPush(corpus);
    if (Failed(state, envelope, "SealEnvelope")) break;
    benchmark::DoNotOptimize(envelope->data());
    envelope_bytes = envelope->size();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(corpus.encoded.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
  state.counters["envelope_bytes"] = static_cast<double>(envelope_bytes);
  state.counters["bytes_per_item"] = static_cast<double>(envelope_bytes) / kBatchItems;
}
BENCHMARK(BM_SealEnvelope);

void BM_OpenEnvelope(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  const auto envelope = SealPush(corpus);
  if (Failed(state, envelope, "SealEnvelope")) return;
  // The server looks the key up in its storage; here it is at hand, so only the sync code counts.
  const sync::KeyLookup lookup = [&corpus](const std::string& signer) -> Result<Bytes> {
    if (signer != corpus.device_id) return Error::Unauthenticated("unknown device " + signer);
    return corpus.device_key.public_key;
  };
  const sync::EnvelopeLimits limits;
  for (auto _ : state) {
    auto opened = sync::OpenEnvelope(*envelope, sync::EnvelopeKind::kPush, lookup, limits);
    if (Failed(state, opened, "OpenEnvelope")) break;
    auto mutations = sync::DecodeMutations(opened->raw_body);
    if (Failed(state, mutations, "DecodeMutations")) break;
    benchmark::DoNotOptimize(mutations->data());
    if (Failed(state, mutations->size() == kBatchItems, "opened a different batch")) break;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(corpus.encoded.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchItems));
}
BENCHMARK(BM_OpenEnvelope);

// What the envelope signs is a short string ending in a SHA-256: 32 bytes stand for it.
Bytes Message() { return Bytes(crypto::kSha256Bytes, 0xa5); }

void BM_Ed25519Sign(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  const Bytes message = Message();
  for (auto _ : state) {
    auto signature = crypto::Ed25519Sign(corpus.device_key.private_key, message);
    if (Failed(state, signature, "Ed25519Sign")) break;
    benchmark::DoNotOptimize(signature->data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Sign);

void BM_Ed25519Verify(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  const Bytes message = Message();
  const auto signature = crypto::Ed25519Sign(corpus.device_key.private_key, message);
  if (Failed(state, signature, "Ed25519Sign")) return;
  for (auto _ : state) {
    const bool valid = crypto::Ed25519Verify(corpus.device_key.public_key, message, *signature);
    benchmark::DoNotOptimize(valid);
    if (Failed(state, valid, "a valid signature did not verify")) break;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Verify);

// Loading a raw private key means computing its public key (one scalar multiplication); Sign
// does that on every call, so this shows how much of BM_Ed25519Sign it is.
void BM_Ed25519PublicKeyOf(benchmark::State& state) {
  const Corpus& corpus = GetCorpus();
  for (auto _ : state) {
    auto public_key = crypto::Ed25519PublicKeyOf(corpus.device_key.private_key);
    if (Failed(state, public_key, "Ed25519PublicKeyOf")) break;
    benchmark::DoNotOptimize(public_key->data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519PublicKeyOf);

}  // namespace
}  // namespace mpp::bench
