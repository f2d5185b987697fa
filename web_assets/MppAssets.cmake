set(MPP_EMBED_ASSETS_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_assets.cmake)
set(MPP_WEB_ASSETS_SHARED_DIR ${CMAKE_CURRENT_LIST_DIR}/js)

# mpp_embed_assets(VAR NAMESPACE ns DIR dir COMMENT text): every file of DIR, and the scripts
# both apps share (web_assets/js: /dom.js), embedded in a generated C++ file
# (embed_assets.cmake) defining `const mpp::web_assets::AssetList& ns::Assets()`; its path is
# put in VAR for the library's sources, which link mpp_web_assets.
function(mpp_embed_assets var)
  cmake_parse_arguments(ARG "" "NAMESPACE;DIR;COMMENT" "" ${ARGN})
  file(GLOB assets CONFIGURE_DEPENDS ${ARG_DIR}/* ${MPP_WEB_ASSETS_SHARED_DIR}/*)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/assets.cc)
  # A shell would split a ';' list into commands: the script gets them '|'-separated.
  string(REPLACE ";" "|" asset_list "${assets}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} "-DFILES=${asset_list}" -DNAMESPACE=${ARG_NAMESPACE}
            -P ${MPP_EMBED_ASSETS_SCRIPT}
    DEPENDS ${assets} ${MPP_EMBED_ASSETS_SCRIPT}
    COMMENT "${ARG_COMMENT}" VERBATIM)
  set(${var} ${out} PARENT_SCOPE)
endfunction()
