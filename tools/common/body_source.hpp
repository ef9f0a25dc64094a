// Message bodies for a run: slices of one filler text, sized per --size (fixed or uniform in a
// range). Refilling a body reuses its capacity, so the steady state allocates nothing.
#pragma once

#include "options.hpp"
#include "rmq/message.hpp"

#include <cstdint>
#include <string>

namespace rmq::tools {

class body_source {
 public:
  explicit body_source(size_range size) : size_(size), filler_(make_filler(size.max)) {}

  /// Sets the body of `msg` to the next size; `rng` is the caller's own (xorshift) state.
  std::size_t fill(rmq::message& msg, std::uint64_t& rng) const {
    std::size_t size = size_.min;
    if (size_.max > size_.min) {
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      size += rng % (size_.max - size_.min + 1);
    }
    std::string& body = msg.body();
    if (body.capacity() < size_.max) body.reserve(size_.max);
    body.assign(filler_.data(), size);
    return size;
  }
  [[nodiscard]] size_range size() const noexcept { return size_; }

 private:
  size_range size_;
  std::string filler_;
};

}  // namespace rmq::tools
