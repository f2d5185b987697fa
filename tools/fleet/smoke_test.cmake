# The fleet smoke test, run by ctest (tests/CMakeLists.txt): a small rush must end with exit 0
# and "errors": 0 in mpp-fleet's JSON line. Timings are not checked: the machine may be busy.
#   cmake -DFLEET=path/to/mpp-fleet -DWORK=dir -P smoke_test.cmake
execute_process(
  COMMAND "${FLEET}" run --vans 5 --backlog 20 --status-changes 2 --start-jitter-ms 200
          --json --work "${WORK}"
  RESULT_VARIABLE exit_code
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  TIMEOUT 110)
message("${err}${out}")
if(NOT exit_code EQUAL 0)
  message(FATAL_ERROR "mpp-fleet exited with ${exit_code}")
endif()
string(JSON errors ERROR_VARIABLE json_error GET "${out}" errors)
if(json_error)
  message(FATAL_ERROR "mpp-fleet printed no JSON with \"errors\": ${json_error}")
endif()
if(NOT errors EQUAL 0)
  message(FATAL_ERROR "mpp-fleet reported ${errors} errors")
endif()
