// The record of every send of a chaos run, by id: how it was made, its deadline, and how and
// when it completed (counted, so that a second completion is caught).
#pragma once

#include "chaos_settings.hpp"
#include "process_probes.hpp"
#include "rmq/send_result.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>

namespace rmq::test::chaos {

inline std::uint64_t fnv1a(std::string_view a, std::string_view b) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto mix = [&h](std::string_view s) {
    for (const unsigned char ch : s) {
      h ^= ch;
      h *= 0x100000001b3ull;
    }
  };
  mix(a);
  mix("|");
  mix(b);
  return h;
}

/// One send. Written by the one completion that finds `completions` at 0; read by the test
/// thread once every thread that could complete a send has been joined (or shutdown() has
/// returned, which joins the producer's loops).
struct send_record {
  std::atomic<std::uint32_t> completions{0};
  form kind = form::callback;
  shape what = shape::single;
  bool on_loop = false;  // started from a handler or coroutine on a producer loop
  bool late = false;     // (futures) not ready at deadline + slack
  bool after_shutdown = false;
  bool ok = false;
  bool ids_mismatch = false;  // a success whose msgId / offsetMsgId lists do not fit the batch
  std::uint8_t messages = 1;
  rmq::send_status status = rmq::send_status::failed;
  int attempts = 0;
  int ec_value = 0;
  const std::error_category* ec_category = nullptr;
  std::int64_t started_ns = 0;
  std::int64_t deadline_ns = 0;
  std::int64_t completed_ns = 0;
  std::array<std::uint64_t, 4> stored_pair{};  // hash of UNIQ_KEY|offsetMsgId per message
  std::array<char, 33> msg_id{};               // the first UNIQ_KEY, for the report

  [[nodiscard]] std::error_code ec() const {
    return ec_category == nullptr ? std::error_code{} : std::error_code(ec_value, *ec_category);
  }
};

class record_table {
 public:
  explicit record_table(std::size_t capacity)
      : records_(new send_record[capacity]()), capacity_(capacity) {}

  /// A new send id, or nullopt when the table is full (the issuers then stop).
  std::optional<std::uint64_t> allocate(form kind, shape what, bool on_loop, int messages) {
    const std::uint64_t id = next_.fetch_add(1);
    {
      std::lock_guard lock(allocated_mutex_);  // no waiter misses the count between its test
    }                                          // and its wait
    allocated_.notify_all();
    if (id >= capacity_) {
      next_.store(capacity_);
      full_.store(true);
      return std::nullopt;
    }
    send_record& r = records_[id];
    r.kind = kind;
    r.what = what;
    r.on_loop = on_loop;
    r.messages = static_cast<std::uint8_t>(messages);
    return id;
  }
  /// Just before the initiating call: the deadline is counted from here.
  void start(std::uint64_t id, milliseconds timeout) {
    send_record& r = records_[id];
    r.started_ns = now_ns();
    r.deadline_ns = r.started_ns + ns_of(timeout);
  }

  void complete(std::uint64_t id, std::error_code ec, const rmq::send_result* result,
                std::int64_t at = now_ns()) {
    send_record& r = records_[id];
    if (r.completions.fetch_add(1, std::memory_order_acq_rel) != 0) {
      extra_completions_.fetch_add(1);
      return;
    }
    r.completed_ns = at;
    if (r.kind == form::callback || r.kind == form::coroutine) {
      r.after_shutdown = shutdown_returned_.load(std::memory_order_acquire);
    }
    r.ec_value = ec.value();
    r.ec_category = ec ? &ec.category() : nullptr;
    r.ok = !ec;
    if (result == nullptr) return;
    r.status = result->status;
    r.attempts = result->attempts;
    if (ec || r.what == shape::oneway) return;
    const std::string_view ids = result->msg_id.view();
    const std::string_view offsets = result->offset_msg_id.view();
    std::memcpy(r.msg_id.data(), ids.data(), std::min<std::size_t>(32, ids.size()));
    std::size_t id_pos = 0, offset_pos = 0;
    for (int i = 0; i < r.messages; ++i) {
      const std::size_t id_end = std::min(ids.find(',', id_pos), ids.size());
      const std::size_t offset_end = std::min(offsets.find(',', offset_pos), offsets.size());
      if (id_pos > ids.size() || offset_pos > offsets.size()) {
        r.ids_mismatch = true;
        return;
      }
      r.stored_pair[static_cast<std::size_t>(i)] = fnv1a(
          ids.substr(id_pos, id_end - id_pos), offsets.substr(offset_pos, offset_end - offset_pos));
      id_pos = id_end + 1;
      offset_pos = offset_end + 1;
    }
    if (id_pos <= ids.size() || offset_pos <= offsets.size()) r.ids_mismatch = true;  // more ids
  }

  /// Waits until `count` ids have been handed out (sends started, or refused by a full table),
  /// or until `until`. Returns whether they have.
  bool wait_for_sends(std::uint64_t count, std::chrono::steady_clock::time_point until) {
    std::unique_lock lock(allocated_mutex_);
    return allocated_.wait_until(lock, until, [&] { return next_.load() >= count; });
  }

  void set_shutdown_returned() { shutdown_returned_.store(true, std::memory_order_release); }
  [[nodiscard]] std::uint64_t size() const { return std::min(next_.load(), capacity_); }
  [[nodiscard]] bool full() const { return full_.load(); }
  [[nodiscard]] std::uint64_t bytes() const { return capacity_ * sizeof(send_record); }
  [[nodiscard]] std::uint64_t extra_completions() const { return extra_completions_.load(); }
  send_record& operator[](std::uint64_t id) { return records_[id]; }

 private:
  std::unique_ptr<send_record[]> records_;
  std::uint64_t capacity_;
  std::atomic<std::uint64_t> next_{0};
  std::mutex allocated_mutex_;
  std::condition_variable allocated_;
  std::atomic<bool> full_{false};
  std::atomic<std::uint64_t> extra_completions_{0};
  std::atomic<bool> shutdown_returned_{false};
};

}  // namespace rmq::test::chaos
