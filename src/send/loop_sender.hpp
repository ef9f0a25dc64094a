// Everything one loop thread owns for a producer: the loop, its connections, route cache,
// brokers, fault table, pools and the send pipeline that runs on them; and the bookkeeping of
// the sends in flight (flushes, shutdown). Only the loop thread touches this state, so the send
// path takes no locks.
#pragma once

#include "common/coro.hpp"
#include "common/frame_pool.hpp"
#include "io/loop.hpp"
#include "metrics/loop_metrics.hpp"
#include "net/connection_pool.hpp"
#include "rmq/producer.hpp"
#include "rmq/producer_config.hpp"
#include "route/broker_registry.hpp"
#include "route/name_server_client.hpp"
#include "route/topic_routes.hpp"
#include "send/admission.hpp"
#include "send/cancel_link.hpp"
#include "send/fault_tolerance.hpp"
#include "send/loop_counters.hpp"
#include "send/loop_settings.hpp"
#include "send/recalls.hpp"
#include "send/registration.hpp"
#include "send/requests.hpp"
#include "send/send_op.hpp"
#include "send/send_pipeline.hpp"
#include "send/transactions.hpp"
#include "wire/request_signing.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace rmq::send {

/// A flush of the whole producer: each loop reports once, the last one completes it — unless a
/// cancellation (any type) completed it first. References: the loops' reports together, and
/// the cancellation slot's handler when there is one.
class flush_state final : public detail::cancellable_operation {
 public:
  flush_state(detail::error_completion* c, bool cancellable) noexcept
      : completion_(c), refs_(cancellable ? 2 : 1) {}

  /// Before it is handed to the loops: how many will report.
  void expect(std::size_t loops) noexcept { pending_.store(loops, std::memory_order_relaxed); }
  /// Any loop thread: this loop's part is done (timed out: some send had not completed).
  void loop_done(bool timed_out, bool aborted) noexcept;
  /// Ends it now with `ec` (as if by post when `immediate`), unless it has ended; then drops
  /// the loops' reference.
  void end_now(std::error_code ec, bool immediate) noexcept;

  void cancel(asio::cancellation_type type) noexcept override;
  void release() noexcept override;

 private:
  ~flush_state() = default;
  /// Completes the handler once, whoever gets here first.
  void finish(std::error_code ec, bool immediate) noexcept;

  detail::error_completion* completion_;
  std::atomic<std::uint32_t> refs_;
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> timed_out_{false};
  std::atomic<bool> aborted_{false};
  std::atomic<bool> finished_{false};
};

class loop_sender {
 public:
  loop_sender(const loop_settings& settings, admission_gate& admission);
  ~loop_sender();
  loop_sender(const loop_sender&) = delete;
  loop_sender& operator=(const loop_sender&) = delete;

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
  /// Loop thread, from the pipeline: `op` has ended with `ec` and `result`. Hands them to the
  /// user's completion (posted when the send ends inside its initiating call) and takes the op
  /// back.
  void complete(send_op& op, std::error_code ec, send_result& result);
  /// Loop thread: the cancellation `link` carries reaches its send (if it is still running).
  void cancel(detail::cancel_link& link);

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
  [[nodiscard]] const loop_counters& counters() const noexcept { return counters_; }
  /// Any thread (its read() takes the lock).
  [[nodiscard]] const metrics::loop_metrics& metrics() const noexcept { return metrics_; }
  [[nodiscard]] std::uint64_t route_queries() const noexcept { return names_.queries(); }
  [[nodiscard]] const route::topic_routes& routes() const noexcept { return routes_; }
  /// Loop thread: the transactions and checks of this loop.
  [[nodiscard]] loop_transactions& transactions() noexcept { return transactions_; }
  /// Loop thread: the requests of this loop.
  [[nodiscard]] loop_requests& requests() noexcept { return requests_; }
  /// Loop thread: before a request to `topic` — its route, then a heartbeat answered by every
  /// master known (the reply may come from any). Its error: the route's, or timed_out.
  [[nodiscard]] coro<std::error_code> prepare_request(std::string topic,
                                                      io::clock::time_point deadline);

  /// Loop thread: runs a recall (producer::async_recall) on this loop.
  void run_recall(recall_run& run);
  /// Loop thread: RECALL_MESSAGE of the timer message `handle` names in `topic`, to the master
  /// of the broker it names, under send_timeout; the outcome into `out` (shared: a cancelled
  /// caller stops waiting before this ends).
  [[nodiscard]] coro<std::error_code> recall(std::string topic, std::string handle,
                                             std::shared_ptr<recall_result> out);

  /// Loop thread: the topic's queues, for producer::fetch_queues.
  [[nodiscard]] coro<std::error_code> queues_of(std::string topic, io::clock::time_point deadline,
                                                std::vector<message_queue>& out);

 private:
  /// A broker's request on one of this loop's connections (net::peer_request_handler).
  static void on_peer_request(void* self, const std::string& address, net::connection_core& core,
                              const wire::command_view& request);
  /// recall() without its exception guard.
  [[nodiscard]] coro<std::error_code> recall_unguarded(std::string topic, std::string handle,
                                                       std::shared_ptr<recall_result> out);
  [[nodiscard]] coro<void> shutdown_sequence(io::clock::time_point deadline,
                                             std::function<void()> done);
  /// The flush bookkeeping of a send that ends.
  void note_finished_epoch(const send_op& op) noexcept;
  struct flush_waiter;
  void check_flush_waiters() noexcept;
  void end_flush_waiter(flush_waiter& w, bool timed_out, bool aborted) noexcept;

  loop_settings settings_;
  io::loop loop_;
  frame_pool frames_;
  // Tallies of sends and connections; before pool_, whose connections report to it.
  metrics::loop_metrics metrics_;
  // Signs every request of this loop's connections (ACL credentials configured); before pool_,
  // which points to it.
  std::optional<wire::request_signer> signer_;
  net::connection_pool pool_;
  route::broker_registry brokers_;
  route::name_server_client names_;
  route::topic_routes routes_;
  registration registration_;
  fault_tolerance faults_;
  admission_gate& gate_;  // the producer's, shared by every loop and caller
  send_op_pool ops_;
  completion_slab completions_;
  const detail::completion_storage completion_storage_{
      [](void* owner, std::size_t size, std::size_t align) {
        return static_cast<loop_sender*>(owner)->completions_.allocate(size, align);
      },
      [](void* owner, void* p, std::size_t size, std::size_t align) noexcept {
        static_cast<loop_sender*>(owner)->completions_.deallocate(p, size, align);
      },
      this};
  loop_counters counters_;
  send_pipeline pipeline_;
  operation_registry operations_;  // transactions, requests and checks under way
  loop_transactions transactions_;
  loop_requests requests_;

  bool closing_ = false;                 // it is closing the connections: new sends fail at once
  std::size_t running_ = 0;              // pipelines not yet finished
  std::coroutine_handle<> drained_;      // the shutdown sequence, waiting for running_ == 0
  const send_op* initiating_ = nullptr;  // the op whose initiating call is on the stack

  // Flush epochs: a flush closes the current epoch and waits for the sends of every epoch up to
  // it. The common case (no flush pending) costs a compare per send.
  std::uint64_t epoch_ = 0;
  std::size_t running_in_epoch_ = 0;            // sends of epoch_ still running
  std::map<std::uint64_t, std::size_t> older_;  // earlier epochs with sends still running
  flush_waiter* flush_waiters_ = nullptr;
};

}  // namespace rmq::send
