#include "mpp/sync/codec.h"

#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "codec_impl.h"
#include "columns.h"

namespace mpp::sync {
namespace {

// Decoder window cap: 2^23 = 8 MiB is the largest window zstd picks for levels 1-19, the only
// levels Compress accepts, so honest frames pass, while a frame that asks for a 2 GiB window to
// make us allocate it is refused (zstd's own default cap is 128 MiB).
constexpr int kMaxWindowLog = 23;
// First output buffer for a frame that does not state its size; it doubles up to max_output.
constexpr size_t kInitialOutputBytes = 64 * 1024;

struct DCtxDeleter {
  void operator()(ZSTD_DCtx* dctx) const { ZSTD_freeDCtx(dctx); }
};
using DCtxPtr = std::unique_ptr<ZSTD_DCtx, DCtxDeleter>;

Error ZstdCorrupt(const char* what, size_t code) {
  if (ZSTD_getErrorCode(code) == ZSTD_error_frameParameter_windowTooLarge) {
    return Error::TooLarge("zstd: the frame needs a window larger than " +
                           std::to_string(size_t{1} << kMaxWindowLog) + " bytes");
  }
  return Error::Corrupt(std::string("zstd: ") + what + ": " + ZSTD_getErrorName(code));
}

Error TooLarge(size_t size, size_t max_output) {
  return Error::TooLarge("decompressed size " + std::to_string(size) + " exceeds limit " +
                         std::to_string(max_output));
}

// The frame states its size, already checked against the cap: one allocation of exactly that.
Result<Bytes> DecompressKnownSize(ZSTD_DCtx* dctx, ByteView frame, size_t size) {
  Bytes out(size);
  const size_t written =
      ZSTD_decompressDCtx(dctx, out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(written)) return ZstdCorrupt("cannot decompress", written);
  if (written != size) {  // zstd checks this itself; a mismatch would be a lying header
    return Error::Corrupt("zstd: frame states " + std::to_string(size) + " bytes but holds " +
                          std::to_string(written));
  }
  return out;
}

// The frame does not state its size: stream into a buffer that grows but never past max_output.
// Invariant: produced <= out.size() <= max_output.
Result<Bytes> DecompressUnknownSize(ZSTD_DCtx* dctx, ByteView frame, size_t max_output) {
  Bytes out(std::min(max_output, kInitialOutputBytes));
  size_t produced = 0;
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  while (true) {
    if (produced == out.size()) {
      if (out.size() < max_output) {
        out.resize(out.size() <= max_output / 2 ? out.size() * 2 : max_output);
        continue;
      }
      // Full at the cap. The frame may still be done (its end mark or checksum unread), so ask
      // for one more byte into a scratch buffer: getting one means the content is too large.
      uint8_t probe = 0;
      ZSTD_outBuffer probe_out{&probe, 1, 0};
      const size_t left = ZSTD_decompressStream(dctx, &probe_out, &in);
      if (ZSTD_isError(left)) return ZstdCorrupt("cannot decompress", left);
      if (probe_out.pos > 0) {
        return Error::TooLarge("decompressed size exceeds limit " + std::to_string(max_output) +
                               " (the frame does not state its size; stopped at the limit)");
      }
      if (left == 0) break;
      if (in.pos == in.size) return Error::Corrupt("zstd: frame ends before its last block");
      continue;  // consumed input without output (zstd errors out if that never progresses)
    }
    ZSTD_outBuffer chunk{out.data(), out.size(), produced};
    const size_t left = ZSTD_decompressStream(dctx, &chunk, &in);
    if (ZSTD_isError(left)) return ZstdCorrupt("cannot decompress", left);
    produced = chunk.pos;
    if (left == 0) break;  // the frame is complete and fully flushed
    // With room left in the output and no input left, the decoder is waiting for more input.
    if (in.pos == in.size && produced < out.size()) {
      return Error::Corrupt("zstd: frame ends before its last block");
    }
  }
  if (in.pos != in.size) {  // excluded by the frame-size check in Decompress; kept as a guard
    return Error::Corrupt("zstd: " + std::to_string(in.size - in.pos) +
                          " trailing bytes after the frame");
  }
  out.resize(produced);
  return out;
}

}  // namespace

Bytes EncodeRequest(const Request& request) { return EncodeValue(request); }
Result<Request> DecodeRequest(ByteView bytes) { return DecodeValue<Request>(bytes); }
Bytes EncodeMutation(const Mutation& mutation) { return EncodeValue(mutation); }
Result<Mutation> DecodeMutation(ByteView bytes) { return DecodeValue<Mutation>(bytes); }
// A batch goes column by column (columns.h).
Bytes EncodeMutations(const std::vector<Mutation>& mutations) {
  return EncodeValue(ToColumns(mutations));
}
Result<std::vector<Mutation>> DecodeMutations(ByteView bytes) {
  MPP_ASSIGN_OR_RETURN(MutationColumns columns, DecodeValue<MutationColumns>(bytes));
  auto mutations = FromColumns(columns);
  if (!mutations) return Error::Corrupt("malformed body: " + mutations.error().message());
  return mutations;
}
Bytes EncodeConflict(const ConflictRecord& conflict) { return EncodeValue(conflict); }
Result<ConflictRecord> DecodeConflict(ByteView bytes) { return DecodeValue<ConflictRecord>(bytes); }

Bytes Compress(ByteView data, int level) {
  assert(level >= 1 && level <= 19);
  Bytes out(ZSTD_compressBound(data.size()));
  const size_t size = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(size)) {
    // The buffer has the bound zstd asks for, so only a failed allocation inside zstd gets here;
    // Compress has no error to return and out-of-memory is not something callers handle.
    std::fprintf(stderr, "mpp: ZSTD_compress failed: %s\n", ZSTD_getErrorName(size));
    std::abort();
  }
  out.resize(size);
  return out;
}

Result<Bytes> Decompress(ByteView data, size_t max_output) {
  // Exactly one zstd data frame: a skippable frame would decode to nothing, and zstd's one-shot
  // decoder would otherwise concatenate the content of several frames.
  if (data.size() < 4) {
    return Error::Corrupt("zstd: " + std::to_string(data.size()) +
                          " bytes is too short for a frame");
  }
  const uint32_t magic = static_cast<uint32_t>(data[0]) | static_cast<uint32_t>(data[1]) << 8 |
                         static_cast<uint32_t>(data[2]) << 16 |
                         static_cast<uint32_t>(data[3]) << 24;
  if (magic != ZSTD_MAGICNUMBER) return Error::Corrupt("zstd: not a zstd frame (bad magic number)");
  // Walks the block headers without decoding: catches truncation and anything after the frame.
  const size_t frame_size = ZSTD_findFrameCompressedSize(data.data(), data.size());
  if (ZSTD_isError(frame_size)) return ZstdCorrupt("malformed frame", frame_size);
  if (frame_size != data.size()) {
    return Error::Corrupt("zstd: " + std::to_string(data.size() - frame_size) +
                          " trailing bytes after the frame");
  }

  DCtxPtr dctx(ZSTD_createDCtx());
  if (!dctx) return Error::Internal("zstd: cannot create a decompression context");
  const size_t set = ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kMaxWindowLog);
  if (ZSTD_isError(set)) return Error::Internal(std::string("zstd: ") + ZSTD_getErrorName(set));

  const unsigned long long content_size = ZSTD_getFrameContentSize(data.data(), data.size());
  if (content_size == ZSTD_CONTENTSIZE_ERROR) {
    return Error::Corrupt("zstd: cannot read the frame header");
  }
  if (content_size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return DecompressUnknownSize(dctx.get(), data, max_output);
  }
  // Refused from the header alone, before allocating anything.
  if (content_size > max_output) return TooLarge(content_size, max_output);
  return DecompressKnownSize(dctx.get(), data, static_cast<size_t>(content_size));
}

}  // namespace mpp::sync
