// cereal archives for the codec (codec.h): an output archive that appends to a byte buffer, and
// an input archive that reads untrusted bytes without letting them choose how much we allocate.
//
// Byte format, identical to cereal::PortableBinaryOutputArchive with Options::LittleEndian(), so
// stock cereal can read what we write (the codec test checks both directions):
//
//   archive  := 0x01 value              0x01 is cereal's "the data is little-endian" flag
//   integer  := fixed width, little-endian; bool is one byte, 0 or 1
//   enum     := its underlying integer, at most kWireEnumMax<E>
//   string   := u64 n, then n bytes     n <= kMaxDecodedString
//   vector   := u64 n, then n elements  arithmetic elements as one block of n * sizeof(T) bytes
//   map      := u64 n, then n (key, value) pairs, keys strictly increasing
//   struct   := its members, in the order its serialize() names them
//
// Why not cereal's PortableBinaryInputArchive: it reads a u64 count and resizes the container
// before reading a single element, so a forged count of 2^60 asks for exabytes. Ours checks every
// count against the bytes that remain before allocating (an element takes at least one byte), and
// grows a vector of structs only as elements actually decode, because an element's in-memory size
// can be hundreds of times its smallest encoding. Every failure throws cereal::Exception; the
// codec turns it into ErrorCode::kCorrupt.
//
// Use it through codec_impl.h, which narrows kWireEnumMax for the model's enums: a translation
// unit that decoded a model enum without seeing those specializations would break the ODR.
#pragma once

#include <algorithm>
#include <bit>
#include <cereal/cereal.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "mpp/sync/bytes.h"
#include "mpp/sync/codec.h"

namespace mpp::sync {

// The largest value decoding accepts for enum E. The default is the whole underlying range
// (what cereal does); codec_impl.h specializes it for the model's enums so that a forged
// RequestStatus 200 is refused here rather than reaching the state machine.
template <class E>
inline constexpr std::underlying_type_t<E> kWireEnumMax =
    std::numeric_limits<std::underlying_type_t<E>>::max();

namespace archive_detail {

// The wire is little-endian; on a big-endian host each element of `size` bytes is reversed.
template <size_t kElementSize>
void SwapToOrFromLittleEndian(uint8_t* data, size_t size) {
  if constexpr (std::endian::native == std::endian::big && kElementSize > 1) {
    for (size_t i = 0; i + kElementSize <= size; i += kElementSize) {
      std::reverse(data + i, data + i + kElementSize);
    }
  }
}

// sizeof for BinaryData's element type, where `void*` data counts as bytes.
template <class Pointer>
constexpr size_t ElementSize() {
  using Element = std::remove_cv_t<std::remove_pointer_t<Pointer>>;
  if constexpr (std::is_void_v<Element>) {
    return 1;
  } else {
    static_assert(!std::is_floating_point_v<Element> || std::numeric_limits<Element>::is_iec559,
                  "the wire format only carries IEEE 754 floating point");
    return sizeof(Element);
  }
}

}  // namespace archive_detail

// Appends the format above to a byte buffer. Never fails other than by running out of memory.
class BoundedBinaryOutputArchive
    : public cereal::OutputArchive<BoundedBinaryOutputArchive, cereal::AllowEmptyClassElision> {
 public:
  // Appends to *out, which must outlive the archive. Writes the byte-order flag at once.
  explicit BoundedBinaryOutputArchive(Bytes* out)
      : OutputArchive<BoundedBinaryOutputArchive, cereal::AllowEmptyClassElision>(this), out_(out) {
    const uint8_t little_endian = 1;
    WriteBytes(&little_endian, 1);
  }

  void WriteBytes(const void* data, size_t size) {
    if (size == 0) return;
    const auto* begin = static_cast<const uint8_t*>(data);
    out_->insert(out_->end(), begin, begin + size);
  }

  // Appends `size` bytes made of elements of kElementSize bytes, each in little-endian order.
  template <size_t kElementSize>
  void WriteLittleEndian(const void* data, size_t size) {
    const size_t start = out_->size();
    WriteBytes(data, size);
    archive_detail::SwapToOrFromLittleEndian<kElementSize>(out_->data() + start, size);
  }

 private:
  Bytes* out_;  // not owned
};

// Reads the format above from a view of untrusted bytes. Invariant: the cursor never passes the
// end; each read first checks what remains, and every count is checked before it is used.
class BoundedBinaryInputArchive
    : public cereal::InputArchive<BoundedBinaryInputArchive, cereal::AllowEmptyClassElision> {
 public:
  // `bytes` must outlive the archive. Throws cereal::Exception when the byte-order flag is
  // missing or is not 0x01 (we only write little-endian, so anything else is not ours).
  explicit BoundedBinaryInputArchive(ByteView bytes, size_t max_string_bytes = kMaxDecodedString)
      : InputArchive<BoundedBinaryInputArchive, cereal::AllowEmptyClassElision>(this),
        bytes_(bytes),
        max_string_bytes_(max_string_bytes) {
    const uint8_t flag = *Consume(1);
    if (flag != 1) {
      throw cereal::Exception("byte-order flag is " + std::to_string(flag) +
                              ", expected 1 (little-endian)");
    }
  }

  size_t remaining() const { return bytes_.size() - cursor_; }
  size_t offset() const { return cursor_; }
  size_t max_string_bytes() const { return max_string_bytes_; }

  // Returns the next `size` bytes and moves past them; throws when fewer remain.
  const uint8_t* Consume(size_t size) {
    if (size > remaining()) {
      throw cereal::Exception("need " + std::to_string(size) + " bytes at offset " +
                              std::to_string(cursor_) + ", only " + std::to_string(remaining()) +
                              " remain");
    }
    const uint8_t* data = bytes_.data() + cursor_;
    cursor_ += size;
    return data;
  }

  void ReadBytes(void* out, size_t size) {
    if (size == 0) return;  // memcpy wants valid pointers even for zero bytes
    std::memcpy(out, Consume(size), size);
  }

  template <size_t kElementSize>
  void ReadLittleEndian(void* out, size_t size) {
    ReadBytes(out, size);
    archive_detail::SwapToOrFromLittleEndian<kElementSize>(static_cast<uint8_t*>(out), size);
  }

  // Reads a u64 count of things that each take at least one byte, so a count larger than the
  // bytes that remain is a lie; refusing it here is what keeps allocation bounded by the input.
  uint64_t ReadCount() {
    const size_t at = cursor_;
    uint64_t count = 0;
    ReadLittleEndian<sizeof(count)>(&count, sizeof(count));
    if (count > remaining()) {
      throw cereal::Exception("size prefix " + std::to_string(count) + " at offset " +
                              std::to_string(at) + " exceeds the " + std::to_string(remaining()) +
                              " bytes that remain");
    }
    return count;
  }

 private:
  ByteView bytes_;
  size_t cursor_ = 0;  // bytes consumed so far; <= bytes_.size()
  size_t max_string_bytes_;
};

// ---- Output ---------------------------------------------------------------------------------

template <class T>
requires std::is_arithmetic_v<T>
void CEREAL_SAVE_FUNCTION_NAME(BoundedBinaryOutputArchive& ar, const T& value) {
  static_assert(!std::is_floating_point_v<T> || std::numeric_limits<T>::is_iec559,
                "the wire format only carries IEEE 754 floating point");
  if constexpr (std::is_same_v<T, bool>) {
    const uint8_t byte = value ? 1 : 0;  // sizeof(bool) is not promised to be 1
    ar.WriteBytes(&byte, 1);
  } else {
    ar.WriteLittleEndian<sizeof(T)>(&value, sizeof(T));
  }
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(BoundedBinaryOutputArchive& ar,
                               const cereal::NameValuePair<T>& pair) {
  ar(pair.value);  // names are not written: the order of the fields is the schema
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(BoundedBinaryOutputArchive& ar, const cereal::SizeTag<T>& tag) {
  const uint64_t size = static_cast<uint64_t>(tag.size);
  ar.WriteLittleEndian<sizeof(size)>(&size, sizeof(size));
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(BoundedBinaryOutputArchive& ar, const cereal::BinaryData<T>& data) {
  ar.WriteLittleEndian<archive_detail::ElementSize<T>()>(data.data, static_cast<size_t>(data.size));
}

// ---- Input ----------------------------------------------------------------------------------

template <class T>
requires std::is_arithmetic_v<T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, T& value) {
  static_assert(!std::is_floating_point_v<T> || std::numeric_limits<T>::is_iec559,
                "the wire format only carries IEEE 754 floating point");
  ar.ReadLittleEndian<sizeof(T)>(&value, sizeof(T));
}

// Only 0 and 1, so that each value has one encoding (and no bool holds a trap representation).
inline void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, bool& value) {
  const size_t at = ar.offset();
  const uint8_t byte = *ar.Consume(1);
  if (byte > 1) {
    throw cereal::Exception("bool at offset " + std::to_string(at) + " is " + std::to_string(byte) +
                            ", expected 0 or 1");
  }
  value = byte == 1;
}

// Enums bypass cereal's load_minimal (which takes any underlying value) through the
// specialization at the end of this file.
template <class E>
requires std::is_enum_v<E>
void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, E& value) {
  const size_t at = ar.offset();
  std::underlying_type_t<E> raw{};
  ar(raw);
  if (raw > kWireEnumMax<E>) {
    throw cereal::Exception("enum value " + std::to_string(+raw) + " at offset " +
                            std::to_string(at) + " is out of range (max " +
                            std::to_string(+kWireEnumMax<E>) + ")");
  }
  value = static_cast<E>(raw);
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, cereal::NameValuePair<T>& pair) {
  ar(pair.value);
}

// Any container cereal itself loads (vector<bool>, other string types) sees a bounded count.
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, cereal::SizeTag<T>& tag) {
  tag.size = static_cast<std::remove_reference_t<T>>(ar.ReadCount());
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, cereal::BinaryData<T>& data) {
  ar.ReadLittleEndian<archive_detail::ElementSize<T>()>(data.data, static_cast<size_t>(data.size));
}

// Replaces cereal's string load (resize, then read) to apply the string bound before allocating.
inline void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, std::string& value) {
  const size_t at = ar.offset();
  const uint64_t size = ar.ReadCount();
  if (size > ar.max_string_bytes()) {
    throw cereal::Exception("string of " + std::to_string(size) + " bytes at offset " +
                            std::to_string(at) + " exceeds the limit of " +
                            std::to_string(ar.max_string_bytes()));
  }
  const auto* data = reinterpret_cast<const char*>(ar.Consume(static_cast<size_t>(size)));
  value.assign(data, static_cast<size_t>(size));
}

// Replaces cereal's vector loads, which resize to the claimed count first.
template <class T, class A>
requires(!std::is_same_v<T, bool>) void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar,
                                                                  std::vector<T, A>& value) {
  const size_t at = ar.offset();
  const uint64_t count = ar.ReadCount();
  value.clear();
  if constexpr (std::is_arithmetic_v<T>) {
    if (count > ar.remaining() / sizeof(T)) {
      throw cereal::Exception("vector of " + std::to_string(count) + " elements of " +
                              std::to_string(sizeof(T)) + " bytes at offset " + std::to_string(at) +
                              " exceeds the " + std::to_string(ar.remaining()) +
                              " bytes that remain");
    }
    value.resize(static_cast<size_t>(count));
    ar(cereal::binary_data(value.data(), static_cast<size_t>(count) * sizeof(T)));
  } else {
    // Grow with what has decoded, not with what the count claims: the count is only known to be
    // <= the remaining bytes, and sizeof(T) may be far larger than T's smallest encoding.
    for (uint64_t i = 0; i < count; ++i) {
      value.emplace_back();
      ar(value.back());
    }
  }
}

// Replaces cereal's map load, which keeps the first of duplicate keys silently. Requiring
// strictly increasing keys (what any encoder of a std::map writes) gives one encoding per value.
template <class K, class V, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(BoundedBinaryInputArchive& ar, std::map<K, V, C, A>& value) {
  const uint64_t count = ar.ReadCount();
  value.clear();
  for (uint64_t i = 0; i < count; ++i) {
    const size_t at = ar.offset();
    K key{};
    V mapped{};
    ar(key, mapped);
    if (!value.empty() && !value.key_comp()(std::prev(value.end())->first, key)) {
      throw cereal::Exception("map key at offset " + std::to_string(at) +
                              " is not greater than the key before it");
    }
    value.emplace_hint(value.end(), std::move(key), std::move(mapped));
  }
}

}  // namespace mpp::sync

namespace cereal {
// Makes cereal use the enum load above for our input archive instead of its load_minimal (having
// both would be ambiguous). The output side keeps cereal's save_minimal: same bytes.
template <class T>
requires std::is_enum_v<T>
struct specialize<mpp::sync::BoundedBinaryInputArchive, T, specialization::non_member_load_save> {
};
}  // namespace cereal

CEREAL_REGISTER_ARCHIVE(mpp::sync::BoundedBinaryOutputArchive)
CEREAL_REGISTER_ARCHIVE(mpp::sync::BoundedBinaryInputArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(mpp::sync::BoundedBinaryInputArchive,
                            mpp::sync::BoundedBinaryOutputArchive)
