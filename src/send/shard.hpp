// Everything one loop thread owns for a producer: the loop, its connections, route cache,
// brokers, fault table, back-pressure gate and pools — and the send pipeline that runs on it.
// Only the loop thread touches this state, so the send path takes no locks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "common/coro.hpp"
#include "common/frame_pool.hpp"
#include "io/loop.hpp"
#include "net/connection_pool.hpp"
#include "net/request.hpp"
#include "rmq/producer.hpp"
#include "rmq/producer_config.hpp"
#include "route/broker_registry.hpp"
#include "route/name_server_client.hpp"
#include "route/topic_routes.hpp"
#include "send/backpressure.hpp"
#include "send/fault_tolerance.hpp"
#include "send/send_op.hpp"
#include "wire/compression.hpp"

namespace rmq::send {

/// Settings derived once from producer_config.
struct shard_settings {
  producer_config config;
  std::vector<std::string> name_servers;
  std::string client_id;
  wire::serialize_type serialization = wire::serialize_type::json;
};

/// Counters written by the loop thread, read by any (relaxed, no read-modify-write).
struct shard_counters {
  struct counter {
    std::atomic<std::uint64_t> value{0};
    void bump(std::uint64_t n = 1) noexcept {
      value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void drop() noexcept {
      value.store(value.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t get() const noexcept {
      return value.load(std::memory_order_relaxed);
    }
  };
  counter sends, succeeded, failed, retries, timeouts, in_flight;
};

class shard {
 public:
  explicit shard(const shard_settings& settings);
  ~shard();
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;

  /// Starts the loop thread and the background tasks (route refresh, heartbeats).
  void start();
  /// Loop thread: runs the pipeline of `op` (already filled in).
  void run(send_op& op);
  /// Any thread: hands `op` to the loop.
  void post(send_op& op) { loop_.post(op); }
  /// Any thread, blocking: lets sends finish until `deadline`, fails the rest, unregisters
  /// from the brokers, closes every connection and joins the loop thread.
  void shutdown(io::clock::time_point deadline);

  [[nodiscard]] io::loop& loop() noexcept { return loop_; }
  [[nodiscard]] bool on_loop_thread() const noexcept { return loop_.running_in_this_thread(); }
  /// Loop thread: storage for a completion handler (pooled blocks).
  [[nodiscard]] completion_slab& completions() noexcept { return completions_; }
  /// Loop thread: the same, as the producer's handlers reach it.
  [[nodiscard]] const detail::completion_storage& completion_storage() const noexcept {
    return completion_storage_;
  }
  /// Loop thread: a pooled send op.
  [[nodiscard]] send_op* acquire_op() { return ops_.acquire(); }
  [[nodiscard]] const shard_counters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::uint64_t route_queries() const noexcept { return names_.queries(); }

  /// Loop thread: the topic's queues, for producer::fetch_queues.
  [[nodiscard]] coro<std::error_code> queues_of(std::string topic, io::clock::time_point deadline,
                                                std::vector<message_queue>& out);

 private:
  /// The send, from validation to completion (shard.cpp explains what its frame holds).
  detached pipeline(send_op& op);
  [[nodiscard]] static const message& first_message(const send_op& op) noexcept;
  /// Validates the message (or batch) and adds up the body bytes the gate must admit.
  [[nodiscard]] std::error_code validate(const send_op& op, std::size_t& bytes) const;
  /// The gate's slow path: waits for room (a frame of its own, only while the gate is full).
  [[nodiscard]] coro<std::error_code> wait_at_gate(std::size_t bytes, io::clock::time_point deadline);
  /// UNIQ_KEY, properties and the body to send (compressed or a batch body) into the op.
  [[nodiscard]] std::error_code prepare_body(send_op& op);

  /// What the attempts of one send may do, decided once the route is known.
  struct attempt_plan {
    int max_attempts = 1;
    bool ordered = false;              ///< an ordered send never moves to another queue
    std::optional<std::size_t> fixed;  ///< the ordered send's queue (index into the route)
    io::clock::duration attempt_cap{};
  };
  [[nodiscard]] std::error_code plan_attempts(const send_op& op,
                                              const route::topic_publish_info& info,
                                              attempt_plan& plan) const;
  [[nodiscard]] route::publish_queue pick_queue(const route::topic_publish_info& info,
                                                const attempt_plan& plan,
                                                std::optional<route::broker_id> last_broker,
                                                io::clock::time_point now);
  void note_tried(send_op& op, route::broker_id broker, int attempt);
  [[nodiscard]] bool delivery_time_unsupported(const send_op& op, route::broker_id broker) const;
  /// The request's encoded properties, written into a scratch string of this loop (valid until
  /// the next call). Encoded per request rather than kept in the op: the same bytes each time,
  /// and ~90 bytes less per send in flight (the string and its heap block).
  [[nodiscard]] std::string_view encode_properties(const send_op& op) const;

  /// Writes one attempt's request frame, called by the connection with the request's opaque.
  /// Small (the request's awaiter keeps it in the send's frame) and stateless beyond its refs.
  struct send_encoder {
    const shard& self;
    const send_op& op;
    const route::topic_publish_info& info;
    route::publish_queue queue;
    void operator()(std::string& out, std::int32_t opaque) const;
    /// Fetches the op's lines: conclude_attempt and finish read most of its 200 bytes.
    void prefetch() const noexcept {
      const char* p = reinterpret_cast<const char*>(&op);
      for (std::size_t line = 0; line < sizeof(send_op); line += 64) __builtin_prefetch(p + line);
    }
  };
  /// The awaitable of one attempt's request, built outside the coroutine so that only the
  /// awaiter, not its arguments, takes room in the send's frame.
  [[nodiscard]] net::request_awaiter<send_encoder> request_attempt(
      send_op& op, const route::topic_publish_info& info, route::publish_queue queue,
      net::connection& master, io::clock::time_point deadline);

  /// Reads an attempt's outcome into `ec` and the fault table. When the send is done
  /// (success, or an error not worth another attempt) it finishes it here, while the response
  /// frame that the result is read from is still in place, and returns true; false: try again
  /// (ec holds the reason). A plain function, so that its locals (the parsed response header)
  /// stay off the coroutine frame of every send.
  [[nodiscard]] bool conclude_attempt(send_op& op, const route::topic_publish_info& info,
                                      std::size_t admitted_bytes, route::publish_queue queue,
                                      const net::response& r, io::clock::time_point sent_at,
                                      bool may_try_another, std::error_code& ec);
  /// Where a successful send's message went: the queue written to (oneway) or stored in, and
  /// the storing broker's code and response header (views into the frame still in place).
  struct delivery {
    route::publish_queue queue;
    std::int32_t code = 0;
    const wire::send_message_response_header* header = nullptr;  ///< nullptr: oneway, written
  };
  /// Completes the send: builds its result (from `delivered` on success), gives back its
  /// admission to the back-pressure gate if it had one, and hands the result to the completion.
  void finish(send_op& op, std::error_code ec, const route::topic_publish_info* info = nullptr,
              const std::size_t* admitted_bytes = nullptr, const delivery* delivered = nullptr);
  /// A successful send's result fields: its msgId and, from `delivered`, where it went.
  void describe_delivery(send_result& result, const send_op& op,
                         const route::topic_publish_info* info, const delivery* delivered) const;

  [[nodiscard]] coro<void> heartbeat(route::broker_id broker);
  [[nodiscard]] coro<void> unregister(route::broker_id broker, io::clock::time_point deadline,
                                      std::size_t& pending, std::coroutine_handle<>& waiter);
  [[nodiscard]] coro<void> shutdown_sequence(io::clock::time_point deadline, std::function<void()> done);
  void arm_periodic();
  void on_periodic();

  shard_settings settings_;
  io::loop loop_;
  frame_pool frames_;
  net::connection_pool pool_;
  route::broker_registry brokers_;
  route::name_server_client names_;
  route::topic_routes routes_;
  fault_tolerance faults_;
  backpressure_gate gate_;
  send_op_pool ops_;
  completion_slab completions_;
  const detail::completion_storage completion_storage_{
      [](void* owner, std::size_t size, std::size_t align) {
        return static_cast<shard*>(owner)->completions_.allocate(size, align);
      },
      [](void* owner, void* p, std::size_t size, std::size_t align) noexcept {
        static_cast<shard*>(owner)->completions_.deallocate(p, size, align);
      },
      this};
  wire::body_codec codec_;
  mutable std::string properties_scratch_;  // encode_properties; loop thread only
  shard_counters counters_;

  struct periodic_timer final : io::timer_node {
    explicit periodic_timer(shard& s) noexcept : timer_node(&fire), owner(s) {}
    static void fire(io::timer_node* t, std::error_code ec) noexcept;
    shard& owner;
  };
  periodic_timer periodic_{*this};
  io::clock::time_point next_refresh_{};
  io::clock::time_point next_heartbeat_{};
  bool refreshing_ = false;
  bool stopping_ = false;
  std::size_t running_ = 0;           // pipelines not yet finished
  std::coroutine_handle<> drained_;   // the shutdown sequence, waiting for running_ == 0
};

}  // namespace rmq::send
