// The send-path encoders allocate nothing once their buffers have grown. Counts heap allocations
// of the calling thread through a replaced global operator new (this test executable only).
#include "rmq/message.hpp"
#include "wire/batch.hpp"
#include "wire/compression.hpp"
#include "wire/properties.hpp"
#include "wire/uniq_key.hpp"
#include "wire/validation.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace {

thread_local bool counting = false;
thread_local std::size_t allocations = 0;

void* counted_alloc(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

template <class F>
std::size_t allocations_during(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations;
}

}  // namespace

void* operator new(std::size_t n) {
  return counted_alloc(n);
}
void* operator new[](std::size_t n) {
  return counted_alloc(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

using namespace rmq::wire;

TEST_CASE("allocations: properties, UNIQ_KEY, batch and compression in steady state") {
  rmq::message msg("TopicTest", "TagA", std::string(8192, 'z'));
  msg.set_keys({"order-1", "user-2"});
  msg.set_delay_level(3);
  msg.put_property("color", "red");
  auto& ids = default_uniq_key_generator();
  const std::vector<rmq::message> batch(3, rmq::message("TopicTest", "TagA", "body"));
  body_codec codec;
  std::string props;
  std::string body;
  std::string compressed;
  std::string msg_ids;

  const auto one_send = [&] {
    const uniq_key id = ids.next();
    props.clear();
    append_properties(props, msg, {.uniq_key = id.view(), .extra = {}});
    (void)find_property(props, "UNIQ_KEY");
    (void)validate_message(msg);
    body.clear();
    msg_ids.clear();
    (void)encode_batch(batch, ids, body, &msg_ids);
    (void)codec.compress_if_needed(msg.body(), {}, compressed);
  };
  // The counter sees allocations at all.
  CHECK(allocations_during([] { std::string grown(1000, 'x'); }) > 0);

  one_send();  // buffers and codec contexts grow here
  one_send();
  CHECK(allocations_during(one_send) == 0);
  CHECK(!props.empty());
  CHECK(!body.empty());
  CHECK(compressed.size() == 31);
}
