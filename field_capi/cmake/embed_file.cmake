# cmake -DIN=file -DOUT=file.cc -DNAME=Function -P embed_file.cmake
# Writes OUT defining `std::string_view mpp::capi::NAME()` over the bytes of IN. A byte array,
# not a string literal: the catalog is longer than ISO C++ promises a literal may be, which
# -Wpedantic (-Woverlength-strings) would refuse under -Werror.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# About 16 bytes a line, so compiler diagnostics stay readable.
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "// Generated from ${IN} by embed_file.cmake: do not edit.\n"
  "#include <string_view>\n\n"
  "namespace mpp::capi {\n"
  "namespace {\n"
  "const char kBytes[${size} + 1] = {\n${bytes}0};\n"
  "}  // namespace\n\n"
  "std::string_view ${NAME}() { return {kBytes, ${size}}; }\n\n"
  "}  // namespace mpp::capi\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
