// Raw byte strings (keys, signatures, ciphertexts, wire bodies) and their hex form.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mpp {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline Bytes BytesOf(std::string_view text) { return Bytes(text.begin(), text.end()); }
inline std::string StringOf(ByteView bytes) { return std::string(bytes.begin(), bytes.end()); }
inline ByteView ViewOf(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Lowercase hex.
std::string ToHex(ByteView bytes);
// Parses hex (either case); nullopt on odd length or a non-hex character.
std::optional<Bytes> FromHex(std::string_view hex);

}  // namespace mpp
