# Runs the ropekit CLI once and checks its exit status and output.
#   cmake -DCLI=<path> -DARGS=<a|b|c> -DEXPECT=success|failure
#         [-DSTDOUT_MATCHES=<re1|re2>] [-DSTDERR_MATCHES=<re1|re2>] -P run_cli.cmake
# Lists use '|' because CTest passes each -D as one argument.
string(REPLACE "|" ";" arguments "${ARGS}")
execute_process(COMMAND ${CLI} ${arguments}
                RESULT_VARIABLE status OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr)
message("$ ropekit ${arguments}\n--- exit status: ${status}\n--- stdout:\n${stdout}\n--- stderr:\n${stderr}")

if(EXPECT STREQUAL "success" AND NOT status EQUAL 0)
  message(FATAL_ERROR "expected exit status 0, got ${status}")
elseif(EXPECT STREQUAL "failure" AND (status EQUAL 0 OR NOT status MATCHES "^[0-9]+$"))
  # A crash gives a text status ("Segmentation fault"): that is not a clean error exit either.
  message(FATAL_ERROR "expected a non-zero exit status, got '${status}'")
endif()

foreach(stream stdout stderr)
  string(TOUPPER "${stream}_MATCHES" patterns_variable)
  string(REPLACE "|" ";" patterns "${${patterns_variable}}")
  foreach(pattern IN LISTS patterns)
    if(NOT "${${stream}}" MATCHES "${pattern}")
      message(FATAL_ERROR "${stream} does not match '${pattern}'")
    endif()
  endforeach()
endforeach()
