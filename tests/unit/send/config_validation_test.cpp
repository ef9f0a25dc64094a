// producer_config::validate(): every field against what the producer can actually use.
#include <doctest/doctest.h>

#include <zstd.h>

#include <chrono>
#include <climits>
#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "rmq/error.hpp"
#include "rmq/producer_config.hpp"
#include "wire/compression.hpp"
#include "wire/validation.hpp"

using namespace std::chrono_literals;
using rmq::errc;
using rmq::producer_config;
using std::chrono::milliseconds;

namespace {

struct config_case {
  const char* what;
  std::function<void(producer_config&)> change;
};

bool valid_with(const std::function<void(producer_config&)>& change) {
  producer_config config;
  change(config);
  return !config.validate();
}

void check_all(const std::vector<config_case>& valid, const std::vector<config_case>& invalid) {
  for (const auto& c : valid) {
    CAPTURE(c.what);
    CHECK(valid_with(c.change));
  }
  for (const auto& c : invalid) {
    CAPTURE(c.what);
    producer_config config;
    c.change(config);
    CHECK(config.validate() == errc::configuration_invalid);
  }
}

constexpr milliseconds ms_max = milliseconds::max();

}  // namespace

TEST_CASE("producer_config: the defaults are valid") {
  CHECK_FALSE(producer_config{}.validate());
}

TEST_CASE("producer_config: compress_level within the range its compress_type accepts") {
  using rmq::compression;
  const auto level = [](compression type, int l) {
    return [=](producer_config& c) {
      c.compress_type = type;
      c.compress_level = l;
    };
  };
  check_all(
      {
          {"zlib -1 (zlib's default)", level(compression::zlib, -1)},
          {"zlib 0 (stored)", level(compression::zlib, 0)},
          {"zlib 1", level(compression::zlib, 1)},
          {"zlib 9", level(compression::zlib, 9)},
          {"zstd min", level(compression::zstd, ZSTD_minCLevel())},
          {"zstd 0 (zstd's default)", level(compression::zstd, 0)},
          {"zstd 22", level(compression::zstd, ZSTD_maxCLevel())},
          {"lz4 ignores the level", level(compression::lz4, 5)},
          {"lz4 any level", level(compression::lz4, INT_MIN)},
          {"lz4 any level", level(compression::lz4, INT_MAX)},
      },
      {
          {"zlib -2", level(compression::zlib, -2)},
          {"zlib -7", level(compression::zlib, -7)},
          {"zlib 10", level(compression::zlib, 10)},
          {"zlib 22", level(compression::zlib, 22)},
          {"zstd below min", level(compression::zstd, ZSTD_minCLevel() - 1)},
          {"zstd 23", level(compression::zstd, ZSTD_maxCLevel() + 1)},
          {"an unknown compression type",
           [](producer_config& c) { c.compress_type = static_cast<compression>(7); }},
      });
}

TEST_CASE("producer_config: every level validate() accepts compresses, every other fails") {
  // The codec is the truth: what validation lets through must not fail at send time.
  const std::string body(5000, 'x');
  rmq::wire::body_codec codec;
  for (const auto type : {rmq::wire::compression_type::zlib, rmq::wire::compression_type::zstd}) {
    for (const int level : {ZSTD_minCLevel() - 1, ZSTD_minCLevel(), -8, -2, -1, 0, 1, 5, 9, 10,
                            19, 22, 23}) {
      CAPTURE(rmq::wire::to_string(type));
      CAPTURE(level);
      std::string out;
      const bool compresses = !codec.compress(type, level, body, out);
      CHECK(rmq::wire::is_valid_compression_level(type, level) == compresses);
    }
  }
}
