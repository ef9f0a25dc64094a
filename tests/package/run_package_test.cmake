# Driver of the package tests (cmake -P): install into a fresh prefix, build a consumer against
# it and run it. MODE cmake (rmq_package_find_package): a CMake project that calls
# find_package(rmq). MODE pkg-config (rmq_package_pkg_config): the compiler alone, with the
# flags `pkg-config --cflags --libs rmq-coro` gives.
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

if(MODE STREQUAL "pkg-config")
  file(GLOB_RECURSE pc_files ${RMQ_PREFIX}/*/rmq-coro.pc)
  list(LENGTH pc_files pc_count)
  if(NOT pc_count EQUAL 1)
    message(FATAL_ERROR "expected one rmq-coro.pc under ${RMQ_PREFIX}, found: '${pc_files}'")
  endif()
  get_filename_component(pc_dir ${pc_files} DIRECTORY)
  # The installed file first; the system's directories still provide the dependencies.
  set(ENV{PKG_CONFIG_PATH} ${pc_dir})
  execute_process(COMMAND ${PKG_CONFIG} --variable=includedir rmq-coro
                  RESULT_VARIABLE rc OUTPUT_VARIABLE includedir ERROR_VARIABLE err
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  file(REAL_PATH "${includedir}" includedir)
  file(REAL_PATH "${RMQ_PREFIX}" prefix)
  if(NOT rc EQUAL 0 OR NOT includedir STREQUAL "${prefix}/include")
    message(FATAL_ERROR "pkg-config's includedir '${includedir}' is not ${prefix}/include: ${err}")
  endif()
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs rmq-coro
                  RESULT_VARIABLE rc OUTPUT_VARIABLE flags ERROR_VARIABLE err
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs rmq-coro failed (${rc}): ${err}")
  endif()
  message(STATUS "pkg-config --cflags --libs rmq-coro: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  separate_arguments(extra UNIX_COMMAND "${EXTRA_FLAGS}")
  file(MAKE_DIRECTORY ${CONSUMER_BINARY_DIR})
  set(exe ${CONSUMER_BINARY_DIR}/rmq_pkg_config_consumer)
  run_step("build consumer with pkg-config" ${CXX_COMPILER} -std=c++20 ${extra}
           ${CONSUMER_SOURCE_DIR}/main.cpp ${flags} -o ${exe})
  execute_process(COMMAND ${exe} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out STREQUAL "the producer is shutting down or shut down\n")
    message(FATAL_ERROR "consumer run failed (${rc}): stdout '${out}' stderr '${err}'")
  endif()
  message(STATUS "consumer printed: ${out}")
  return()
endif()

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
