// Template definitions of EncodeValue/DecodeValue (declared in codec.h), and the wire ranges of
// the model's enums. Only .cc files include this; they also get bounded_archive.h with it.
//
// Grammar of a body (details in bounded_archive.h):
//   body := 0x01 value          one value of T, nothing after it
#pragma once

#include <exception>
#include <string>

#include "bounded_archive.h"
#include "mpp/sync/codec.h"
#include "mpp/sync/model.h"
#include "mpp/sync/protocol.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

// Decoding refuses enum values past the last enumerator; keep these in step with model.h.
template <>
inline constexpr uint8_t kWireEnumMax<RequestStatus> =
    static_cast<uint8_t>(RequestStatus::kCancelled);
template <>
inline constexpr uint8_t kWireEnumMax<Role> = static_cast<uint8_t>(Role::kStaff);
template <>
inline constexpr uint8_t kWireEnumMax<MutationKind> = static_cast<uint8_t>(MutationKind::kRestore);
template <>
inline constexpr uint8_t kWireEnumMax<PushRefusal> =
    static_cast<uint8_t>(PushRefusal::kReceiptTaken);

template <typename T>
Bytes EncodeValue(const T& value) {
  Bytes out;
  {
    // The archive's destructor is where cereal finishes; leave its scope before returning.
    BoundedBinaryOutputArchive archive(&out);
    archive(value);
  }
  return out;
}

// Ok only when `bytes` is exactly one encoding of a T: a prefix, a value followed by more bytes,
// an out-of-range enum or a count larger than the input all give kCorrupt. Never throws.
template <typename T>
Result<T> DecodeValue(ByteView bytes) {
  try {
    BoundedBinaryInputArchive archive(bytes);
    T value{};
    archive(value);
    if (archive.remaining() != 0) {
      return Error::Corrupt("malformed body: " + std::to_string(archive.remaining()) +
                            " trailing bytes after the value, at offset " +
                            std::to_string(archive.offset()));
    }
    return value;
  } catch (const std::exception& e) {  // cereal::Exception, and bad_alloc or length_error
    return Error::Corrupt(std::string("malformed body: ") + e.what());
  } catch (...) {
    return Error::Corrupt("malformed body: unknown exception while decoding");
  }
}

}  // namespace mpp::sync
