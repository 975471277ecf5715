# packaging/deb-extras.cmake: a CPACK_PRE_BUILD_SCRIPTS script. It runs in
# cpack after the install into the staging root and before the .deb is made,
# and adds what only a Debian package carries: changelog.Debian.gz and the
# lintian overrides; it strips the programs the way dh_strip does, and
# compresses the manual pages the way dh_compress does.
if(NOT CPACK_GENERATOR STREQUAL "DEB")
  return()
endif()
if(NOT EXISTS "${CPACK_KVSTORE_CHANGELOG}")
  message(FATAL_ERROR "${CPACK_KVSTORE_CHANGELOG} is missing: is gzip installed? (re-run cmake)")
endif()
set(_kv_root "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
set(_kv_mode FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(MAKE_DIRECTORY "${_kv_root}/usr/share/doc/kvstore" "${_kv_root}/usr/share/lintian/overrides")
file(COPY "${CPACK_KVSTORE_CHANGELOG}" DESTINATION "${_kv_root}/usr/share/doc/kvstore" ${_kv_mode})
# As dh_strip does after the plain strip of CPACK_STRIP_FILES: drop the
# .comment and .note sections (compiler versions; lintian:
# binary-has-unneeded-section).
find_program(_kv_strip NAMES strip)
file(GLOB _kv_programs "${_kv_root}/usr/bin/*")
foreach(_kv_program IN LISTS _kv_programs)
  if(_kv_strip)
    execute_process(COMMAND "${_kv_strip}" --remove-section=.comment --remove-section=.note "${_kv_program}"
                    RESULT_VARIABLE _kv_rc)
    if(NOT _kv_rc EQUAL 0)
      message(FATAL_ERROR "strip ${_kv_program} failed")
    endif()
  endif()
endforeach()
# Debian policy 12.1: manual pages are installed compressed with gzip -9
# (lintian: uncompressed-manual-page); -n leaves out the name and time stamp,
# so that the package is reproducible.
file(GLOB _kv_pages "${_kv_root}/usr/share/man/man[1-9]/*.[1-9]")
foreach(_kv_page IN LISTS _kv_pages)
  if(NOT CPACK_KVSTORE_GZIP)
    message(FATAL_ERROR "cannot compress ${_kv_page}: gzip was not found (re-run cmake)")
  endif()
  execute_process(COMMAND "${CPACK_KVSTORE_GZIP}" -9nf "${_kv_page}" RESULT_VARIABLE _kv_rc)
  if(NOT _kv_rc EQUAL 0)
    message(FATAL_ERROR "gzip ${_kv_page} failed")
  endif()
  file(CHMOD "${_kv_page}.gz" ${_kv_mode})
endforeach()
# lintian wants the overrides file named after the package.
configure_file("${CPACK_KVSTORE_LINTIAN_OVERRIDES}" "${_kv_root}/usr/share/lintian/overrides/kvstore" COPYONLY)
file(CHMOD "${_kv_root}/usr/share/lintian/overrides/kvstore" ${_kv_mode})
