target_sources(rmq PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/route_data.cpp
  ${CMAKE_CURRENT_LIST_DIR}/heartbeat.cpp
)
