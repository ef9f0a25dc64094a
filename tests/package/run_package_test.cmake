# Driver of rmq_package_find_package (cmake -P): install, configure and build the consumer, run.
cmake_minimum_required(VERSION 3.25)

foreach(var RMQ_BUILD_DIR RMQ_PREFIX CONSUMER_SOURCE_DIR CONSUMER_BINARY_DIR GENERATOR)
  if(NOT ${var})
    message(FATAL_ERROR "run_package_test.cmake: ${var} is not set")
  endif()
endforeach()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok")
endfunction()

# A fresh prefix and consumer build each run, so stale files cannot make the test pass.
file(REMOVE_RECURSE ${RMQ_PREFIX} ${CONSUMER_BINARY_DIR})

set(config_args "")
if(CONFIG)
  set(config_args --config ${CONFIG})
endif()
run_step("install" ${CMAKE_COMMAND} --install ${RMQ_BUILD_DIR} --prefix ${RMQ_PREFIX}
         ${config_args})

set(configure_args -S ${CONSUMER_SOURCE_DIR} -B ${CONSUMER_BINARY_DIR} -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${RMQ_PREFIX} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    # Only the prefix may provide rmq: not the user package registry, not the build tree.
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(GENERATOR_PLATFORM)
  list(APPEND configure_args -A ${GENERATOR_PLATFORM})
endif()
if(GENERATOR_TOOLSET)
  list(APPEND configure_args -T ${GENERATOR_TOOLSET})
endif()
if(MAKE_PROGRAM)
  list(APPEND configure_args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()
if(BUILD_TYPE)
  list(APPEND configure_args -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
elseif(CONFIG)
  list(APPEND configure_args -DCMAKE_BUILD_TYPE=${CONFIG})
endif()
if(EXTRA_FLAGS)
  list(APPEND configure_args "-DCMAKE_CXX_FLAGS=${EXTRA_FLAGS}"
       "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA_FLAGS}")
endif()
run_step("configure consumer" ${CMAKE_COMMAND} ${configure_args})
run_step("build consumer" ${CMAKE_COMMAND} --build ${CONSUMER_BINARY_DIR} ${config_args})

set(exe ${CONSUMER_BINARY_DIR}/rmq_package_consumer)
if(CONFIG AND EXISTS ${CONSUMER_BINARY_DIR}/${CONFIG}/rmq_package_consumer)
  set(exe ${CONSUMER_BINARY_DIR}/${CONFIG}/rmq_package_consumer)
endif()
execute_process(COMMAND ${exe} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out STREQUAL "timed out\n")
  message(FATAL_ERROR "consumer run failed (${rc}): stdout '${out}' stderr '${err}'")
endif()
message(STATUS "consumer printed: ${out}")
