// Binary encoding of the model: cereal portable binary (little-endian, fixed-width integers,
// u64 size prefixes), plus zstd compression. Used for the wire bodies and for the van's sealed
// rows.
//
// Decoding treats its input as untrusted: every size prefix is checked against the bytes that
// remain before anything is allocated (a count of N elements needs at least N bytes), strings
// are bounded by kMaxDecodedString, and decompression stops at a caller-given bound. No
// exception escapes: cereal's are turned into ErrorCode::kCorrupt.
#pragma once

#include <vector>

#include "mpp/sync/bytes.h"
#include "mpp/sync/model.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

inline constexpr size_t kMaxDecodedString = 1 << 20;

Bytes EncodeRequest(const Request& request);
Result<Request> DecodeRequest(ByteView bytes);
Bytes EncodeMutation(const Mutation& mutation);
Result<Mutation> DecodeMutation(ByteView bytes);
Bytes EncodeMutations(const std::vector<Mutation>& mutations);
Result<std::vector<Mutation>> DecodeMutations(ByteView bytes);
Bytes EncodeConflict(const ConflictRecord& conflict);
Result<ConflictRecord> DecodeConflict(ByteView bytes);

// Generic forms for any cereal-serializable type T (the envelope and answer types use them).
// Defined in codec_impl.h, which only .cc files include.
template <typename T>
Bytes EncodeValue(const T& value);
template <typename T>
Result<T> DecodeValue(ByteView bytes);

// zstd at `level` (1-19).
Bytes Compress(ByteView data, int level = 3);
// Fails with kTooLarge when the content would exceed max_output bytes (a decompression bomb),
// kCorrupt when the frame is malformed. Never allocates more than max_output.
Result<Bytes> Decompress(ByteView data, size_t max_output);

}  // namespace mpp::sync
