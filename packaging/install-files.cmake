# packaging/install-files.cmake: runs at INSTALL time (cmake --install, and
# cpack), included by the install(CODE) rule of packaging/CMakeLists.txt,
# which sets KVSTORE_PKG_* first. CMAKE_INSTALL_PREFIX and $ENV{DESTDIR} are
# those of that run, so `cmake --install build --prefix /opt/kv` works too.
#
# - The systemd units and the xinetd files name /usr/bin/kvstored,
#   /usr/bin/kvsvc and /usr/bin/kvsvc-tls. For another prefix they are installed with the paths of
#   that prefix instead, so that they run the programs just installed.
# - Files under /etc are the administrator's once installed: an existing
#   file that differs is kept, and the new default goes next to it as
#   NAME.new (the .deb leaves this to dpkg's conffile handling).

set(_kv_bindir "${CMAKE_INSTALL_PREFIX}/bin")
string(REGEX REPLACE "/+$" "" _kv_bindir "${_kv_bindir}")
string(REGEX REPLACE "^//+" "/" _kv_bindir "${_kv_bindir}")

# _kv_install(SRC DEST_DIR MODE [CONFIG]): installs SRC into DEST_DIR (an
# absolute path; DESTDIR is prepended by file(INSTALL)).
function(_kv_install src dest_dir mode)
    set(config_file FALSE)
    if(ARGC GREATER 3 AND ARGV3 STREQUAL "CONFIG")
        set(config_file TRUE)
    endif()
    get_filename_component(name "${src}" NAME)
    file(READ "${src}" text)
    if(NOT _kv_bindir STREQUAL "/usr/bin")
        string(REPLACE "/usr/bin/kvstored" "${_kv_bindir}/kvstored" text "${text}")
        string(REPLACE "/usr/bin/kvsvc" "${_kv_bindir}/kvsvc" text "${text}")
    endif()

    set(target_name "${name}")
    set(existing "$ENV{DESTDIR}${dest_dir}/${name}")
    if(config_file AND EXISTS "${existing}")
        file(READ "${existing}" old_text)
        if(NOT old_text STREQUAL text)
            set(target_name "${name}.new")
            message(STATUS "Keeping the existing ${existing}; the new default is ${name}.new next to it")
        endif()
    endif()

    # A private copy per run: parallel installs must not share a temporary.
    string(RANDOM LENGTH 12 tag)
    set(tmp "${KVSTORE_PKG_TMPDIR}/${name}.${tag}")
    file(WRITE "${tmp}" "${text}")
    list(APPEND CMAKE_ABSOLUTE_DESTINATION_FILES "${dest_dir}/${target_name}")
    set(CMAKE_ABSOLUTE_DESTINATION_FILES "${CMAKE_ABSOLUTE_DESTINATION_FILES}" PARENT_SCOPE)
    file(INSTALL DESTINATION "${dest_dir}" TYPE FILE RENAME "${target_name}"
         PERMISSIONS ${mode} FILES "${tmp}")
    file(REMOVE "${tmp}")
    # file(INSTALL) adds to the manifest in this function's scope only.
    set(CMAKE_INSTALL_MANIFEST_FILES "${CMAKE_INSTALL_MANIFEST_FILES}" PARENT_SCOPE)
endfunction()

set(_kv_rw_r OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(MAKE_DIRECTORY "${KVSTORE_PKG_TMPDIR}")
foreach(_kv_unit IN LISTS KVSTORE_PKG_UNITS)
    _kv_install("${_kv_unit}" "${KVSTORE_PKG_UNITDIR}" "${_kv_rw_r}")
endforeach()
foreach(_kv_xinetd_file IN LISTS KVSTORE_PKG_XINETD_FILES)
    _kv_install("${_kv_xinetd_file}" "${KVSTORE_PKG_XINETDDIR}" "${_kv_rw_r}" CONFIG)
endforeach()
_kv_install("${KVSTORE_PKG_CONFIG_FILE}" "${KVSTORE_PKG_CONFDIR}" "${_kv_rw_r}" CONFIG)
# The users file holds password hashes: no other user may read it. Its group
# (kvstored's, kvstore) is the package's postinst's to set: at install time
# that group may not exist yet (docs/operations.md, "Users").
_kv_install("${KVSTORE_PKG_USERS_FILE}" "${KVSTORE_PKG_CONFDIR}" "OWNER_READ;OWNER_WRITE;GROUP_READ" CONFIG)
