#include "route/topic_routes.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <utility>

using rmq::route::publish_info_ptr;
using rmq::route::topic_publish_info;

TEST_CASE("publish_info_ptr counts its owners and the last one frees the info") {
  // Leaks and double frees are the sanitizer presets' to find; the counts are checked here.
  auto fresh = std::make_unique<topic_publish_info>();
  fresh->topic = "TopicTest";
  publish_info_ptr cache(std::move(fresh));
  REQUIRE(cache);
  CHECK(cache->owners == 1);

  publish_info_ptr send = cache;  // a send takes the cached info
  CHECK(send.get() == cache.get());
  CHECK(cache->owners == 2);

  publish_info_ptr moved = std::move(send);
  CHECK(send == nullptr);
  CHECK(moved->owners == 2);

  // A refresh replaces the cache's info: the send keeps the old one alive.
  auto replacement = std::make_unique<topic_publish_info>();
  replacement->topic = "TopicTest";
  replacement->round_robin = 7;
  cache = publish_info_ptr(std::move(replacement));
  CHECK(cache->owners == 1);
  CHECK(cache->round_robin == 7);
  CHECK(moved->owners == 1);
  CHECK(moved->topic == "TopicTest");

  moved = moved;  // self-assignment keeps it
  CHECK(moved->owners == 1);
  moved = nullptr;
  CHECK(moved == nullptr);
  CHECK_FALSE(moved);

  const publish_info_ptr none;
  publish_info_ptr copy_of_none = none;
  CHECK(copy_of_none == nullptr);
}
