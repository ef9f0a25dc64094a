// Everything one loop thread owns for a producer: the loop, its connections, route cache,
// brokers, fault table, back-pressure gate and pools — and the send pipeline that runs on it.
// Only the loop thread touches this state, so the send path takes no locks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
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
#include "send/admission.hpp"
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

/// A flush of the whole producer: each shard reports once, the last one completes it.
struct flush_state {
  flush_state(detail::error_completion* c, std::size_t shards) noexcept
      : completion(c), pending(shards) {}
  detail::error_completion* completion;
  std::atomic<std::size_t> pending;
  std::atomic<bool> timed_out{false};
  std::atomic<bool> aborted{false};
  /// Any loop thread: this shard's part is done.
  void shard_done() noexcept;
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
  shard(const shard_settings& settings, admission_gate& admission);
  ~shard();
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;

  /// Starts the loop thread and the background tasks (route refresh, heartbeats).
  void start();
  /// Loop thread: runs the pipeline of `op` (already filled in). `initiating`: we are inside the
  /// user's initiating call, so a completion that happens before the first suspension is posted.
  void run(send_op& op, bool initiating);
  /// Loop thread: lets sends finish until `deadline`, fails the rest, unregisters from the
  /// brokers and closes every connection; then calls `done` (on this loop thread). The loop
  /// keeps running; sends that reach it later fail with shutting_down.
  void begin_shutdown(io::clock::time_point deadline, std::function<void()> done);
  /// Loop thread: reports to `state` once every send this loop started before the call has
  /// completed, or at `deadline` (timed out).
  void flush(flush_state& state, io::clock::time_point deadline);

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
  /// The send, from admission to completion (shard.cpp explains what its frame holds).
  detached pipeline(send_op& op);
  [[nodiscard]] static const message& first_message(const send_op& op) noexcept;
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
  [[nodiscard]] std::error_code plan_attempts(send_op& op, const route::topic_publish_info& info,
                                              attempt_plan& plan) const;
  /// An ordered send's queue: the explicit one (of the message's topic) or the selector's pick.
  [[nodiscard]] std::error_code choose_ordered_queue(send_op& op,
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
                                      route::publish_queue queue,
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
  /// admission to the gate if it had one, and hands the result to the completion (posted when
  /// the send ends inside its initiating call).
  void finish(send_op& op, std::error_code ec, const route::topic_publish_info* info = nullptr,
              const delivery* delivered = nullptr);
  /// The flush bookkeeping of a send that ends.
  void note_finished_epoch(const send_op& op) noexcept;
  /// A successful send's result fields: its msgId and, from `delivered`, where it went.
  void describe_delivery(send_result& result, const send_op& op,
                         const route::topic_publish_info* info, const delivery* delivered) const;

  [[nodiscard]] coro<void> heartbeat(route::broker_id broker);
  [[nodiscard]] coro<void> unregister(route::broker_id broker, io::clock::time_point deadline,
                                      std::size_t& pending, std::coroutine_handle<>& waiter);
  [[nodiscard]] coro<void> shutdown_sequence(io::clock::time_point deadline, std::function<void()> done);
  struct flush_waiter;
  void check_flush_waiters() noexcept;
  void end_flush_waiter(flush_waiter& w, bool timed_out) noexcept;
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
  admission_gate& gate_;  // the producer's, shared by every loop and caller
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
  bool stopping_ = false;             // the shutdown sequence has begun
  bool closing_ = false;              // it is closing the connections: new sends fail at once
  std::size_t running_ = 0;           // pipelines not yet finished
  std::coroutine_handle<> drained_;   // the shutdown sequence, waiting for running_ == 0
  const send_op* initiating_ = nullptr;  // the op whose initiating call is on the stack

  // Flush epochs: a flush closes the current epoch and waits for the sends of every epoch up to
  // it. The common case (no flush pending) costs a compare per send.
  std::uint64_t epoch_ = 0;
  std::size_t running_in_epoch_ = 0;           // sends of epoch_ still running
  std::map<std::uint64_t, std::size_t> older_;  // earlier epochs with sends still running
  flush_waiter* flush_waiters_ = nullptr;
};

}  // namespace rmq::send
