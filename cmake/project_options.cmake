# Warnings and sanitizers for the project's own targets only (never global flags).
# Targets link rmq_project_options PRIVATE, wrapped in $<BUILD_INTERFACE:...> for
# the installed library so the export set does not need it.
add_library(rmq_project_options INTERFACE)
target_compile_features(rmq_project_options INTERFACE cxx_std_20)
target_compile_options(rmq_project_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor -Wno-missing-field-initializers
  $<$<BOOL:${RMQ_WARNINGS_AS_ERRORS}>:-Werror>)
if(RMQ_SANITIZE)
  target_compile_options(rmq_project_options INTERFACE
    -fsanitize=${RMQ_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(rmq_project_options INTERFACE -fsanitize=${RMQ_SANITIZE})
endif()
