# Message model and encoding: properties, sysFlag, UNIQ_KEY, compression, batch, validation,
# namespaces.
target_sources(rmq PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/message.cpp
  ${CMAKE_CURRENT_LIST_DIR}/properties.cpp
  ${CMAKE_CURRENT_LIST_DIR}/uniq_key.cpp
  ${CMAKE_CURRENT_LIST_DIR}/compression.cpp
  ${CMAKE_CURRENT_LIST_DIR}/batch.cpp
  ${CMAKE_CURRENT_LIST_DIR}/validation.cpp
  ${CMAKE_CURRENT_LIST_DIR}/namespace.cpp
  ${CMAKE_CURRENT_LIST_DIR}/recall.cpp
)
