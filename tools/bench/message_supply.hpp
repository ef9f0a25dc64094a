// The messages rmq-bench's senders send.
//
// With one body size (--size N) every sender sends the same immutable message, built once. A
// service sends a message it has just built, still in its cache; a message of each sender's own,
// refilled for every send, was last touched one round trip earlier, and at 100k sends in flight
// its cache misses (and its 0.4 KiB per sender) would be the load generator's cost, counted as
// the client's. With a size range (--size MIN-MAX) each sender keeps its own message and gives it
// the next body size before every send.
#pragma once

#include "body_source.hpp"
#include "options.hpp"
#include "rmq/message.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace rmq::bench {

class message_supply {
 public:
  message_supply(const tools::message_options& options, const tools::body_source& bodies)
      : bodies_(bodies), shared_(tools::make_message(options)) {
    std::uint64_t rng = 1;
    shared_bytes_ = bodies_.fill(shared_, rng);  // the body of every send when sizes are fixed
  }
  message_supply(const message_supply&) = delete;
  message_supply& operator=(const message_supply&) = delete;

  /// True when every sender sends the one shared message.
  [[nodiscard]] bool shared() const noexcept { return bodies_.size().min == bodies_.size().max; }
  /// The message every sender sends when shared(), and its body's size.
  [[nodiscard]] const rmq::message& shared_message() const noexcept { return shared_; }
  [[nodiscard]] std::size_t shared_bytes() const noexcept { return shared_bytes_; }

  /// What one sender sends; used by one thread at a time.
  class sender_message {
   public:
    explicit sender_message(const message_supply& supply)
        : supply_(&supply),
          own_(supply.shared() ? nullptr : std::make_unique<rmq::message>(supply.shared_)) {}

    /// The message to send next and its body's size. `rng` is the sender's own state (body
    /// sizes of a range). The message stays valid and unchanged until the next call.
    const rmq::message& next(std::uint64_t& rng, std::size_t& bytes) {
      if (!own_) {
        bytes = supply_->shared_bytes();
        return supply_->shared_message();
      }
      bytes = supply_->bodies_.fill(*own_, rng);
      return *own_;
    }

   private:
    const message_supply* supply_;
    std::unique_ptr<rmq::message> own_;  // a size range only
  };

 private:
  const tools::body_source& bodies_;
  rmq::message shared_;
  std::size_t shared_bytes_ = 0;
};

}  // namespace rmq::bench
