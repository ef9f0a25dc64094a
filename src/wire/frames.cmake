target_sources(rmq PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/binary_header.cpp
  ${CMAKE_CURRENT_LIST_DIR}/broker_error.cpp
  ${CMAKE_CURRENT_LIST_DIR}/command.cpp
  ${CMAKE_CURRENT_LIST_DIR}/headers.cpp
  ${CMAKE_CURRENT_LIST_DIR}/json_header.cpp
  ${CMAKE_CURRENT_LIST_DIR}/request_signing.cpp
)
