// The send pipeline of one loop: a coroutine per send from admission to completion — route,
// body, the attempts the policy (attempt_policy.hpp) allows, and the result. It performs what
// the policy decides; the loop_sender that owns it keeps the bookkeeping of sends in flight.
#pragma once

#include "common/coro.hpp"
#include "io/loop.hpp"
#include "metrics/loop_metrics.hpp"
#include "net/request.hpp"
#include "route/broker_registry.hpp"
#include "route/topic_routes.hpp"
#include "send/admission.hpp"
#include "send/attempt_policy.hpp"
#include "send/cancel_link.hpp"
#include "send/fault_tolerance.hpp"
#include "send/frame_prefetch.hpp"
#include "send/loop_counters.hpp"
#include "send/loop_settings.hpp"
#include "send/send_log.hpp"
#include "send/send_op.hpp"
#include "wire/compression.hpp"
#include "wire/headers.hpp"
#include "wire/properties.hpp"

#include <array>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rmq::send {

class auto_batcher;
class loop_sender;
class registration;

/// The parts of a loop the pipeline works with (all owned by its loop_sender).
struct pipeline_parts {
  const loop_settings& settings;
  io::loop& loop;
  route::broker_registry& brokers;
  route::topic_routes& routes;
  fault_tolerance& faults;
  admission_gate& gate;  // the producer's, shared by every loop and caller
  loop_counters& counters;
  metrics::loop_metrics& metrics;
  registration& heartbeats;  // brokers' versions come with their heartbeats' answers
};

class send_pipeline {
 public:
  send_pipeline(const pipeline_parts& parts, loop_sender& owner);
  ~send_pipeline();
  send_pipeline(const send_pipeline&) = delete;
  send_pipeline& operator=(const send_pipeline&) = delete;

  /// Loop thread: a send about to start (or fail at once) runs the send hooks' before_send;
  /// its completion then runs their after_send. Without hooks, one test of an empty list.
  void begin(send_op& op) {
    if (!hooks_.empty()) [[unlikely]]
      run_before_hooks(op);
  }
  /// Loop thread: runs the send of `op` (already filled in) to its completion.
  void start(send_op& op) {
    if (batcher_ != nullptr && join_batch_now(op)) return;
    run(op);
  }
  /// Loop thread: automatic batches still gathering leave now (a flush, a shutdown);
  /// `for_good` (a shutdown): those opened later leave without lingering too.
  void send_gathering_batches(bool for_good = false);
  /// Loop thread: completes `op` with `ec` without running it (the loop is closing).
  void fail(send_op& op, std::error_code ec) { finish(op, ec); }
  /// Loop thread: a cancellation of `type` (asio::cancellation_type bits, accumulated) reached
  /// the running send `op`: it ends what the send waits on now, by the rules in producer.hpp.
  void cancel(send_op& op, std::uint32_t type);

 private:
  friend class auto_batcher;  // performs the batches' attempts with the functions below

  /// The send, from admission to completion (send_pipeline.cpp explains what its frame holds).
  detached run(send_op& op);
  [[nodiscard]] static const message& first_message(const send_op& op) noexcept;
  /// Messages in the send: a batch's count, else 1.
  [[nodiscard]] static std::size_t message_count(const send_op& op) noexcept {
    return op.batch.empty() ? 1 : op.batch.size();
  }
  [[nodiscard]] static send_shape shape_of(const send_op& op) noexcept;
  /// The gate's slow path: waits for room (a frame of its own, only while the gate is full).
  [[nodiscard]] coro<std::error_code> wait_at_gate(send_op& op);
  /// Ends the attempts of a cancelled send (the last attempt's failure kept in the remark).
  static void stop_cancelled(send_op& op, attempt_sequence& attempts);
  /// A cancellation was emitted on the send's handler (any type).
  [[nodiscard]] static bool cancel_requested(const send_op& op) noexcept;
  /// While a cancellable send waits somewhere, the link knows where (cancel_link::waits_on).
  class cancel_point {
   public:
    cancel_point(send_op& op, detail::cancel_wait where, void* awaiter) noexcept : op_(op) {
      if (op_.cancel != nullptr) op_.cancel->waits_on(where, awaiter);
    }
    ~cancel_point() {
      if (op_.cancel != nullptr) op_.cancel->waits_on(detail::cancel_wait::none, nullptr);
    }
    cancel_point(const cancel_point&) = delete;
    cancel_point& operator=(const cancel_point&) = delete;

   private:
    send_op& op_;
  };
  /// Automatic batching's fast path: a send that may join a batch, admitted at once and with
  /// its route cached, joins without a coroutine of its own. False: run() takes it.
  [[nodiscard]] bool join_batch_now(send_op& op);
  /// A single send that may join an automatic batch (batch_rules.hpp).
  [[nodiscard]] bool batchable(const send_op& op) const noexcept;
  /// Joins a batch (an ordered send's queue chosen first); false: it goes alone. True also
  /// when the send has ended (its selector failed).
  [[nodiscard]] bool join_batch(send_op& op, const route::publish_info_ptr& info);
  /// UNIQ_KEY, properties and the body to send (compressed or a batch body) into the op.
  [[nodiscard]] std::error_code prepare_body(send_op& op);

  /// Starts `attempts` on the policy's plan and chooses an ordered send's queue (an index into
  /// the route), once for every attempt.
  [[nodiscard]] std::error_code plan_send(send_op& op, const route::topic_publish_info& info,
                                          attempt_sequence& attempts,
                                          std::optional<std::size_t>& fixed_queue) const;
  /// An ordered send's queue: the explicit one (of the message's topic) or the selector's pick.
  [[nodiscard]] std::error_code choose_ordered_queue(send_op& op,
                                                     const route::topic_publish_info& info,
                                                     std::optional<std::size_t>& fixed_queue) const;
  /// Before a retry: the route cached now, if it changed since the send began (the one the send
  /// began with may still name a broker since dropped and miss one since added), unless the
  /// send keeps its queue. A topic forgotten meanwhile is put back first.
  void take_current_route(const send_op& op, route::publish_info_ptr& info, bool keep_queue);
  [[nodiscard]] route::publish_queue pick_queue(const route::topic_publish_info& info,
                                                std::optional<std::size_t> fixed_queue,
                                                std::optional<route::broker_id> last_broker,
                                                io::clock::time_point now);
  void note_tried(send_op& op, route::broker_id broker, int attempt);
  /// Counts an attempt of `messages` (`body_bytes` in all) on `broker` in its metrics; its
  /// latency when it was answered.
  void tally_attempt(route::broker_id broker, const attempt_outcome& outcome,
                     const attempt_verdict& verdict, std::uint64_t messages,
                     std::uint64_t body_bytes, io::clock::duration latency, bool retry);
  /// Counts a completed send in its topic's metrics.
  void tally_send(const send_op& op, std::error_code ec, const route::topic_publish_info* info);
  /// The send hooks (send_hook.hpp): before_send once per message, its properties resolved
  /// into the op; after_send once per message with the outcome. What a hook throws is caught,
  /// counted and logged.
  void run_before_hooks(send_op& op);
  void run_after_hooks(const send_op& op, std::error_code ec, const send_result& result);
  void hook_threw(std::string_view where, std::exception_ptr thrown);
  /// Adds one property a before_send gave (send_context::sink; validated by the context).
  static std::error_code add_hook_property(void* op, std::size_t index, std::string_view name,
                                           std::string_view value);
  /// The properties the hooks added to a single message's request (none without hooks).
  [[nodiscard]] static std::span<const wire::property_ref> hook_added(const send_op& op) noexcept;
  /// The request's encoded properties, written into a scratch string of this loop (valid until
  /// the next call). Encoded per request rather than kept in the op: the same bytes each time,
  /// and ~90 bytes less per send in flight (the string and its heap block).
  [[nodiscard]] std::string_view encode_properties(const send_op& op) const;
  /// The system properties the send's purpose adds (a half message's TRAN_MSG and PGROUP).
  [[nodiscard]] std::span<const wire::property_ref> extra_properties(
      const send_op& op) const noexcept;

  /// What differs between the requests of sends: SEND_MESSAGE_V2 (or SEND_REPLY_MESSAGE_V2)
  /// of one message, SEND_BATCH_MESSAGE of several.
  struct request_parts {
    std::int32_t code = 0;
    bool oneway = false;
    const route::topic_publish_info& info;
    route::publish_queue queue;
    std::int32_t sys_flag = 0;
    std::int32_t flag = 0;  ///< the (first) message's flag
    std::string_view properties;
    bool batch = false;
    std::string_view payload;
  };
  /// Writes a send's request frame with `opaque`.
  void write_request(std::string& out, std::int32_t opaque, const request_parts& parts) const;
  /// Writes one attempt's request frame, called by the connection with the request's opaque.
  /// Small (the request's awaiter keeps it in the send's frame) and stateless beyond its refs.
  struct send_encoder {
    const send_pipeline& self;
    const send_op& op;
    const route::topic_publish_info& info;
    route::publish_queue queue;
    void operator()(std::string& out, std::int32_t opaque) const;
    /// What the connection fetches ahead of the response (frame_prefetch.hpp).
    [[nodiscard]] const net::waiter_prefetch* prefetch_plan() const noexcept {
      return self.prefetch_.plan();
    }
  };
  /// One attempt's request. The first of this loop measures where it sits in the send's frame.
  struct attempt_awaiter : net::request_awaiter<send_encoder> {
    using request_awaiter::request_awaiter;
    bool await_suspend(std::coroutine_handle<> waiting) {
      const net::request_awaiter<send_encoder>* awaiter = this;  // the waiter's context
      const send_encoder& encoder = encoder_of(awaiter);
      attempt_prefetch& prefetch = encoder.self.prefetch_;
      if (!prefetch.measured()) [[unlikely]] {
        prefetch.measure(awaiter, sizeof(*awaiter), waiting.address());
      }
      if (encoder.op.cancel != nullptr) [[unlikely]] {
        encoder.op.cancel->waits_on(detail::cancel_wait::request,
                                    static_cast<attempt_awaiter*>(this));
      }
      return request_awaiter::await_suspend(waiting);
    }
    net::response await_resume() const noexcept {
      const send_encoder& encoder = encoder_of(this);
      if (encoder.op.cancel != nullptr) [[unlikely]] {
        encoder.op.cancel->waits_on(detail::cancel_wait::none, nullptr);
      }
      return request_awaiter::await_resume();
    }
  };
  /// A route miss: the topic's lookup, which a cancellable send names to its link while it
  /// waits.
  struct route_awaiter : route::topic_routes::lookup {
    route_awaiter(send_op& o, route::topic_routes& routes, std::string_view topic,
                  route::publish_info_ptr& info)
        : lookup(routes, topic, o.deadline, info), op(o) {}
    void await_suspend(std::coroutine_handle<> h) noexcept {
      if (op.cancel != nullptr) {
        op.cancel->waits_on(detail::cancel_wait::route,
                            static_cast<route::topic_routes::lookup*>(this));
      }
      lookup::await_suspend(h);
    }
    [[nodiscard]] std::error_code await_resume() const {
      if (op.cancel != nullptr) op.cancel->waits_on(detail::cancel_wait::none, nullptr);
      return lookup::await_resume();
    }
    send_op& op;
  };
  [[nodiscard]] route_awaiter route_lookup(send_op& op, route::publish_info_ptr& info);
  /// The state hook: fetches the op's lines, which conclude_attempt and finish read.
  static void prefetch_op(const void* context) noexcept;
  /// The awaitable of one attempt's request, built outside the coroutine so that only the
  /// awaiter, not its arguments, takes room in the send's frame.
  [[nodiscard]] attempt_awaiter request_attempt(send_op& op, const route::topic_publish_info& info,
                                                route::publish_queue queue, net::connection& master,
                                                io::clock::time_point deadline);

  /// Reads an attempt's outcome, has the policy judge it, and performs the verdict: counts it
  /// in the fault table and, when the send is done, finishes it here, while the response frame
  /// that the result is read from is still in place (returns true); false: try again. A plain
  /// function, so that its locals (the parsed response header) stay off the coroutine frame of
  /// every send.
  [[nodiscard]] bool conclude_attempt(send_op& op, const route::topic_publish_info& info,
                                      route::publish_queue queue, const net::response& r,
                                      io::clock::time_point sent_at, attempt_sequence& attempts);
  /// An attempt's response as the policy sees it. Parses a storing response's header into
  /// `header` (views into the frame) and learns the broker's version from it.
  [[nodiscard]] attempt_outcome read_outcome(const net::response& r, send_mode mode, bool cancelled,
                                             route::broker_id broker,
                                             wire::send_message_response_header& header);
  /// Counts a judged attempt against its broker (and logs an isolation or a return).
  void note_fault(const attempt_verdict& verdict, route::broker_id broker,
                  std::chrono::milliseconds latency, io::clock::time_point done);
  /// What a failed attempt's sends keep as their remark (broker errors and denials), or nothing.
  [[nodiscard]] std::optional<std::string> failure_remark(const attempt_outcome& outcome,
                                                          const wire::command_view* frame,
                                                          route::broker_id broker) const;
  /// Where a successful send's message went: the queue written to (oneway) or stored in, and
  /// the storing broker's code and response header (views into the frame still in place).
  struct delivery {
    route::publish_queue queue;
    std::int32_t code = 0;
    const wire::send_message_response_header* header = nullptr;  ///< nullptr: oneway, written
    /// A member of an automatic batch: its place in the batch (its queue offset is the batch's
    /// plus this) and its own offset msgId from the response's list; -1: a send of its own.
    std::int64_t batch_index = -1;
    std::string_view offset_msg_id;
  };
  /// Completes the send: builds its result (from `delivered` on success, or the stored result an
  /// earlier attempt kept), gives back its admission to the gate if it had one, and hands the
  /// result to the owner, which completes the user's handler.
  void finish(send_op& op, std::error_code ec, const route::topic_publish_info* info = nullptr,
              const delivery* delivered = nullptr);
  /// A successful send's result fields: its msgId and, from `delivered`, where it went.
  void describe_delivery(send_result& result, const send_op& op,
                         const route::topic_publish_info* info, const delivery* delivered) const;

  const loop_settings& settings_;
  const attempt_settings attempt_settings_;
  io::loop& loop_;
  route::broker_registry& brokers_;
  route::topic_routes& routes_;
  fault_tolerance& faults_;
  admission_gate& gate_;
  loop_counters& counters_;
  metrics::loop_metrics& metrics_;
  registration& heartbeats_;
  loop_sender& owner_;
  const std::vector<std::shared_ptr<send_hook>>& hooks_;  // settings_.config.send_hooks
  send_log log_;  // retries, final failures, isolations: never a successful send
  wire::body_codec codec_;
  wire::uniq_key_block uniq_keys_;          // this loop's reserved UNIQ_KEYs (auto_batcher's too)
  mutable std::string properties_scratch_;  // encode_properties; loop thread only
  const std::array<wire::property_ref, 2> half_message_properties_;
  // Measured by the first attempt through a const encoder; loop thread only.
  mutable attempt_prefetch prefetch_{&prefetch_op};
  std::unique_ptr<auto_batcher> batcher_;  // producer_config::auto_batch set
};

}  // namespace rmq::send
