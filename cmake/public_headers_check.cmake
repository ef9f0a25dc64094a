# Every public header compiles on its own: one translation unit per header in include/rmq
# (detail/ included) that includes only that header, compiled with -fsyntax-only. No object
# is written, so the check runs whenever the target is built; the ctest test
# rmq_public_headers builds it, and so CI runs it with the other tests.
file(GLOB_RECURSE rmq_public_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/include
     ${PROJECT_SOURCE_DIR}/include/rmq/*.hpp)
set(rmq_header_check_sources "")
foreach(header IN LISTS rmq_public_headers)
  string(MAKE_C_IDENTIFIER "${header}" name)
  set(source ${PROJECT_BINARY_DIR}/header_check/${name}.cpp)
  file(CONFIGURE OUTPUT ${source} CONTENT "#include \"${header}\"\n")
  list(APPEND rmq_header_check_sources ${source})
endforeach()
add_library(rmq_header_check OBJECT EXCLUDE_FROM_ALL ${rmq_header_check_sources})
target_link_libraries(rmq_header_check PRIVATE rmq::rmq rmq_project_options)
target_compile_options(rmq_header_check PRIVATE -fsyntax-only)
add_test(NAME rmq_public_headers
         COMMAND ${CMAKE_COMMAND} --build ${PROJECT_BINARY_DIR} --target rmq_header_check)
set_tests_properties(rmq_public_headers PROPERTIES LABELS unit TIMEOUT 300)
