// The bodies of the libFuzzer targets, shared by the fuzzers (clang, tests/fuzz/*_fuzzer.cc) and
// by the regression runner (any compiler, tests/fuzz/regression_test.cc), which replays the
// committed corpora and every reproducer under tests/fuzz/regressions/ through the same code.
//
// Each function takes one input, must return 0 for any bytes, and never crashes, leaks or hangs.
// Besides "no crash", each checks properties that hold for every input the project accepts (an
// accepted body re-encodes to the same bytes, an accepted catalog survives its own JSON, ...);
// a violated property prints what failed and aborts (see ThrowOnPropertyViolation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "mpp/sync/bytes.h"

namespace mpp::fuzz {

// Envelope parser: OpenEnvelope (with a KeyLookup that answers the fixed fuzz key for any
// signer) and PeekSigner, on the input as it is and on the input re-signed with the fixed key,
// so the checks after the signature (header, body hash, size bound, zstd) are reached too; an
// opened body is decoded as its kind's message.
int FuzzEnvelope(const uint8_t* data, size_t size);
// Push body decoder: DecodeMutations.
int FuzzPushBody(const uint8_t* data, size_t size);
// Pull answer decoder: DecodeValue<PullAnswer>, and Decompress with a small bound followed by the
// same decoder on what it produced.
int FuzzPullAnswer(const uint8_t* data, size_t size);
// Catalog loader: Catalog::FromJson, then ValidateNew/ValidateUpdate of its first service. The
// input is the catalog JSON, optionally followed by NUL and NUL-separated field values.
int FuzzCatalog(const uint8_t* data, size_t size);
// Import-line parser: field::ParseImportLine, then ValidateNew against the default catalog.
int FuzzImportLine(const uint8_t* data, size_t size);

struct FuzzTarget {
  const char* name;  // the corpus directory under tests/fuzz/corpus/ and regressions/
  int (*run)(const uint8_t*, size_t);
};
// A violated property prints what failed and aborts, which is what libFuzzer wants. The
// regression runner asks for this exception instead, so that one bad input fails one test.
struct PropertyViolation : std::runtime_error {
  using std::runtime_error::runtime_error;
};
void ThrowOnPropertyViolation(bool enable);

// Every target, in a fixed order.
const std::vector<FuzzTarget>& FuzzTargets();

// The fixed Ed25519 key of the envelope target (its seed is a constant of fuzz_targets.cc):
// make_corpus seals the seed envelopes with it.
const Bytes& FuzzPrivateKey();
const Bytes& FuzzPublicKey();

}  // namespace mpp::fuzz
