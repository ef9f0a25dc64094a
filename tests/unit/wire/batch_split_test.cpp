// rmq::split_batch: runs that each pass send_batch's own size check (validate_batch with the
// same limit), as long as possible, cut where the topic or wait_store_msg_ok changes.
#include "rmq/batch_split.hpp"

#include "rmq/error.hpp"
#include "wire/validation.hpp"

#include <doctest/doctest.h>

#include <ostream>  // doctest prints std::error_code through it
#include <string>
#include <vector>

namespace {

std::vector<rmq::message> messages_of(std::size_t count, std::size_t body_size,
                                      const std::string& topic = "TopicTest") {
  std::vector<rmq::message> out;
  for (std::size_t i = 0; i < count; ++i) {
    out.emplace_back(topic, std::string(body_size, static_cast<char>('a' + i % 26)));
    out.back().set_keys("key-" + std::to_string(i));
  }
  return out;
}

std::vector<std::size_t> sizes_of(const std::vector<std::span<const rmq::message>>& runs) {
  std::vector<std::size_t> sizes;
  for (const auto& run : runs) sizes.push_back(run.size());
  return sizes;
}

}  // namespace

TEST_CASE("split_batch: runs as long as the limit allows, each one a batch send_batch takes") {
  const std::vector<rmq::message> all = messages_of(100, 1000);
  for (const std::size_t limit : {std::size_t{4096}, std::size_t{10'000}, std::size_t{65'536}}) {
    CAPTURE(limit);
    const auto runs = rmq::split_batch(all, limit);
    rmq::wire::validation_limits limits;
    limits.max_message_size = limit;
    std::size_t covered = 0;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      CAPTURE(r);
      CHECK(runs[r].data() == all.data() + covered);  // in order, no gap, no copy
      covered += runs[r].size();
      CHECK_FALSE(rmq::wire::validate_batch(runs[r], limits));
      if (r + 1 < runs.size()) {  // as long as possible: one more message would not fit
        const std::span<const rmq::message> longer(runs[r].data(), runs[r].size() + 1);
        CHECK(rmq::wire::validate_batch(longer, limits) == rmq::errc::body_too_large);
      }
    }
    CHECK(covered == all.size());
  }
  CHECK(sizes_of(rmq::split_batch(all)) == std::vector<std::size_t>{100});  // 4 MiB by default
  CHECK(rmq::split_batch(std::span<const rmq::message>{}).empty());
}

TEST_CASE("split_batch: a new topic or wait_store_msg_ok starts a new run") {
  std::vector<rmq::message> all = messages_of(3, 10, "A");
  for (auto& m : messages_of(2, 10, "B")) all.push_back(std::move(m));
  all.push_back(messages_of(1, 10, "B").front());
  all.back().set_wait_store_msg_ok(false);
  CHECK(sizes_of(rmq::split_batch(all)) == std::vector<std::size_t>{3, 2, 1});
}

TEST_CASE("split_batch: a message too large to share a run goes alone, and fails alone") {
  std::vector<rmq::message> all = messages_of(2, 100);
  all.insert(all.begin() + 1, rmq::message("TopicTest", std::string(5000, 'x')));
  const auto runs = rmq::split_batch(all, 4096);
  CHECK(sizes_of(runs) == std::vector<std::size_t>{1, 1, 1});
  rmq::wire::validation_limits limits;
  limits.max_message_size = 4096;
  CHECK(rmq::wire::validate_batch(runs[1], limits) == rmq::errc::body_too_large);
}
