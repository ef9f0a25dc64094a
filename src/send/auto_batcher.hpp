// Automatic batching on one loop (producer_config::auto_batch): single sends of one topic (and
// queue, for ordered sends) gather for a linger into a batch, which then goes out as one
// SEND_BATCH_MESSAGE with the attempts the policy allows; each message completes on its own,
// exactly once, with its own result. The rules are in batch_rules.hpp; the attempts reuse the
// pipeline's policy, fault table and completion.
//
//   add(op) ── joins the open batch of its key (or opens one) ── full ──┐
//                   │ linger's end (a timer) ─────────────────────────────┤ (linger 0: every
//                   │ flush, shutdown ────────── leaving: sent at the turn's end ┘  open batch)
//   send(batch): attempts — members past their deadline or cancelled leave → request → each
//   member finishes (pipeline.finish) with its own result
//
// add() never sends: a batch leaves from the loop's own turn (a deferred task or a timer), so a
// handler never runs inside a user's initiating call, and a handler that starts sends while a
// batch completes only reaches open batches, never the one completing.
//
// A member's cancellation (any type) takes it out while the batch gathers or waits to leave, or
// while its request waits, not yet encoded, for room on the connection; the last member also
// while the request is encoded but not written. Once the request is encoded with others, a
// terminal or partial cancellation completes the member at once (the broker may still store
// it), a total one is ignored — as for a single send once written.
#pragma once

#include "common/coro.hpp"
#include "io/loop.hpp"
#include "net/request.hpp"
#include "route/topic_routes.hpp"
#include "send/attempt_policy.hpp"
#include "send/batch_rules.hpp"
#include "send/send_op.hpp"
#include "wire/uniq_key.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rmq::send {

class send_pipeline;

class auto_batcher {
 public:
  auto_batcher(send_pipeline& pipeline, io::loop& loop, const auto_batch_config& limits);
  ~auto_batcher();
  auto_batcher(const auto_batcher&) = delete;
  auto_batcher& operator=(const auto_batcher&) = delete;

  /// Loop thread: whether `op` (a single message that may_auto_batch) can join a batch, measured
  /// before joining (an ordered send's, before its selector runs). Gives it its UNIQ_KEY.
  [[nodiscard]] bool admits(send_op& op) const;
  /// Loop thread: `op` (admitted; a single message that may_auto_batch) joins a batch of its
  /// topic, whose route is `info`; `fixed_queue`: an ordered send's queue (an index into that
  /// route), which the batch shares. The batch then owns the op until it completes it. False:
  /// it cannot (alone it is too big for a batch, or its properties are too long) and is sent
  /// alone (and fails there); nothing of the op but its UNIQ_KEY was changed. Completes nothing.
  [[nodiscard]] bool add(send_op& op, const route::publish_info_ptr& info,
                         std::optional<std::size_t> fixed_queue);
  /// Loop thread: add() to the open batch of an unordered send's topic, if there is one, with
  /// the route that batch found (no route lookup). False: there is none, or it cannot join.
  [[nodiscard]] bool join_open(send_op& op);
  /// Loop thread: a cancellation of `type` reached `op`, a member of a batch (cancel_wait::batch).
  void cancel(send_op& op, std::uint32_t type);
  /// Loop thread: every gathering batch leaves at the end of this turn (a flush, a shutdown).
  /// `for_good` (a shutdown): so do the batches opened from now on, without lingering.
  void send_all_gathering(bool for_good = false);

 private:
  struct member {
    send_op* op = nullptr;  ///< nullptr once completed (cancelled after its request was encoded)
    std::uint32_t record_at = 0;
    std::uint32_t record_size = 0;
  };
  struct batch;
  struct request_encoder {
    auto_batcher& self;
    batch& b;
    const route::topic_publish_info& info;
    route::publish_queue queue;
    void operator()(std::string& out, std::int32_t opaque) const;
  };
  using batch_request = net::request_awaiter<request_encoder>;

  /// The open batch of this key, or nullptr. An ordered batch's queue is an index into its
  /// route: it is shared only by sends that chose it in the same route (`info`; unordered: any).
  [[nodiscard]] batch* find_open(const send_op& op, const route::topic_publish_info* info,
                                 std::optional<std::size_t> fixed_queue) const noexcept;
  /// Gives `op` the UNIQ_KEY it keeps through every attempt (its own, or a new one).
  void give_uniq_key(send_op& op) const noexcept;
  /// Appends `op`'s record to `b` (or, when it does not fit beside the others, to a new batch,
  /// while `b` leaves); false: the record alone is too big, nothing was added.
  [[nodiscard]] bool append(batch& b, send_op& op, const route::publish_info_ptr& info,
                            std::optional<std::size_t> fixed_queue);
  [[nodiscard]] batch& open(const send_op& op, const route::publish_info_ptr& info,
                            std::optional<std::size_t> fixed_queue);
  /// Gathering → leaving: sent at the end of this turn.
  void depart(batch& b);
  /// Every gathering batch → leaving (the caller makes sure a turn sends them).
  void close_all_open() noexcept;
  void schedule_turn();
  /// Takes `b` (already out of the open and leaving lists) into its attempts.
  void leave(batch& b);
  static void linger_ended(io::timer_node* node, std::error_code ec) noexcept;
  static void turn_ended(io::task* node, io::task::action a) noexcept;
  /// The loop is closing with `b` not sent: its members fail with shutting_down.
  void abandon(batch& b);
  /// The batch's attempts, until every member has completed.
  detached send(batch& b);
  /// Before an attempt: members past their deadline (timed_out) or cancelled (operation_aborted)
  /// complete; the body loses their records. `attempts_made`: for a cancelled member's remark.
  /// Returns the members left.
  std::size_t drop_ended(batch& b, io::clock::time_point now, int attempts_made);
  /// Takes member `i` out of the batch (its record out of the body); returns its op (nullptr
  /// for a member completed already), which the caller completes.
  send_op* detach(batch& b, std::size_t i) noexcept;
  /// Completes every member left with the attempt's outcome.
  void finish_all(batch& b, std::error_code ec, const route::topic_publish_info* info,
                  route::publish_queue queue, std::int32_t code,
                  const wire::send_message_response_header* header);
  void release(batch& b) noexcept;

  send_pipeline& pipeline_;
  io::loop& loop_;
  const auto_batch_config limits_;
  std::vector<batch*> open_;       // gathering, oldest first
  std::vector<batch*> leaving_;    // full, or flushed: sent at the end of the turn
  std::vector<batch*> departing_;  // leaving_ as a turn takes it (swapped, capacity kept)
  std::vector<std::unique_ptr<batch>> all_;
  std::vector<batch*> free_;
  std::size_t retained_ = 0;  // buffer capacity idle batches keep (bounded, as send_op_pool's)
  bool lingering_ = true;     // false once a shutdown began: batches leave at the turn's end
  struct turn_task final : io::task {
    explicit turn_task(auto_batcher& b) noexcept : task(&turn_ended), owner(b) {}
    auto_batcher& owner;
    bool queued = false;
  } turn_{*this};
};

}  // namespace rmq::send
