# cmake -DOUT=<file> -P scripts/cpu-flags.cmake: writes this machine's CPU flags (the `flags`
# line of /proc/cpuinfo, space separated) to OUT. CMakeLists.txt runs it after linking the
# x86 "native" CPU module; lib/backends.ts loads that module only where all these flags exist.
file(STRINGS /proc/cpuinfo _lines REGEX "^flags[ \t]*:" LIMIT_COUNT 1)
if(NOT _lines)
  message(FATAL_ERROR "no flags line in /proc/cpuinfo")
endif()
string(REGEX REPLACE "^flags[ \t]*:[ \t]*" "" _flags "${_lines}")
string(STRIP "${_flags}" _flags)
file(WRITE "${OUT}" "${_flags}\n")
