# mpp_embed_assets(VAR NAMESPACE ns HEADER assets.h DIR dir COMMENT text): every file of DIR
# embedded in a generated C++ file (cmake/embed_assets.cmake), whose path is put in VAR for
# the library's sources.
function(mpp_embed_assets var)
  cmake_parse_arguments(ARG "" "NAMESPACE;HEADER;DIR;COMMENT" "" ${ARGN})
  file(GLOB assets CONFIGURE_DEPENDS ${ARG_DIR}/*)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/assets.cc)
  # A shell would split a ';' list into commands: the script gets them '|'-separated.
  string(REPLACE ";" "|" asset_list "${assets}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} "-DFILES=${asset_list}" -DNAMESPACE=${ARG_NAMESPACE}
            -DHEADER=${ARG_HEADER} -P ${PROJECT_SOURCE_DIR}/cmake/embed_assets.cmake
    DEPENDS ${assets} ${PROJECT_SOURCE_DIR}/cmake/embed_assets.cmake
    COMMENT "${ARG_COMMENT}" VERBATIM)
  set(${var} ${out} PARENT_SCOPE)
endfunction()
