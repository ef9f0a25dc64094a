// How a cancellation emitted on a send's completion handler reaches the send on its loop.
//
// A send whose handler has a connected cancellation slot gets one cancel_link (heap, only for
// those sends). The slot's handler (detail::send_cancellation, installed by the initiating call
// on the handler's side) and the send share it:
//
//   emit(type), handler's thread          loop thread
//   ───────────────────────────           ───────────────────────────────────────────────
//   requested |= type                     the send starts: link.op = op; if requested → stop
//   post the link to its loop (once)  →   link runs: what the send waits on now is removed
//                                         (the gate, the route, the request), per the rules
//                                         in producer.hpp; the send then completes
//   slot cleared before the handler       the send completes: link.op = nullptr, the link
//   runs (completion.hpp): its ref goes   task finds nothing to do from then on
//
// Nothing of the loop's is touched from the emitting thread: an emit only sets bits and posts.
// The hub keeps a late emit (its handler not yet run when the producer is destroyed) from
// posting to a loop that is gone.
#pragma once

#include "io/task.hpp"
#include "send/admission.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace rmq::send {
class loop_sender;
struct send_op;
}  // namespace rmq::send

namespace rmq::detail {

/// Shared by a producer and its links: open while the producer's loops exist.
struct cancel_hub {
  std::mutex mutex;
  bool open = true;  // guarded by mutex
};

/// What a cancellable send waits on when the cancellation runs on its loop. (A caller blocked
/// at a full gate off the loops is woken from the emitting thread instead.)
enum class cancel_wait : std::uint8_t {
  none,       ///< running, or between steps: the next step sees the request
  gate,       ///< admission: an admission_gate::acquire_awaiter
  route,      ///< the topic's route: a route::topic_routes::lookup
  request,    ///< an attempt's request on a connection (deferred, queued or written)
  heartbeat,  ///< a timer message: its broker's heartbeat answer (registration::heartbeat_waiter)
  batch,      ///< a member of an automatic batch (auto_batcher), gathering or in its request
};

struct cancel_link final : io::task {
  cancel_link(std::shared_ptr<cancel_hub> h, send::admission_gate& g) noexcept
      : task(&run_on_loop), hub(std::move(h)), gate(g) {
    blocked.requested = &requested;
  }

  // --- any thread ----------------------------------------------------------------------------
  /// The slot's handler, the send until it completes, and a queued run on the loop.
  std::atomic<std::uint32_t> refs{2};
  /// asio::cancellation_type bits emitted so far.
  std::atomic<std::uint32_t> requested{0};
  std::atomic<bool> queued{false};  ///< posted to the loop, not yet run
  /// The loop the send runs on; set before the send is handed to it.
  std::atomic<send::loop_sender*> target{nullptr};
  std::shared_ptr<cancel_hub> hub;
  /// The producer's gate, where a send started off the loops may block its caller (alive while
  /// the hub is open).
  send::admission_gate& gate;
  send::admission_gate::blocking_cancel blocked;

  // --- loop thread ---------------------------------------------------------------------------
  send::send_op* op = nullptr;  ///< the send, from its start on the loop to its completion
  cancel_wait where = cancel_wait::none;
  void* waiting = nullptr;   ///< the awaiter of `where`
  bool after_write = false;  ///< cancelled once its request had reached the socket

  void waits_on(cancel_wait w, void* awaiter) noexcept {
    where = w;
    waiting = awaiter;
  }
  [[nodiscard]] std::uint32_t requested_now() const noexcept {
    return requested.load(std::memory_order_seq_cst);
  }

  /// The emitting thread: records `type` and hands the link to its loop (once per run).
  void request(std::uint32_t type) noexcept;
  /// Any thread: drops one reference; the last deletes the link.
  void release() noexcept;

 private:
  static void run_on_loop(io::task* t, action a) noexcept;
};

}  // namespace rmq::detail
