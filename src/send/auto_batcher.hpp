// Automatic batching on one loop (producer_config::auto_batch): single sends of one topic (and
// queue, for ordered sends) gather for a linger into a batch, which then goes out as one
// SEND_BATCH_MESSAGE with the attempts the policy allows; each message completes on its own,
// exactly once, with its own result. The rules are in batch_rules.hpp; the attempts reuse the
// pipeline's policy, fault table and completion.
//
//   add(op) ── joins the open batch of its key (or opens one) ── full ──────┐
//                        │ linger's end (a timer; linger 0: the turn's end)  │
//                        └────────────────────────────────────────────────── send(batch):
//   attempts: members past their deadline or cancelled leave → request → each member finishes
//
// A member's cancellation (any type) takes it out while the batch gathers or while its request
// waits, not yet encoded, for room on the connection; once the request is encoded, a terminal
// or partial cancellation completes the member at once (the broker may still store it), a total
// one is ignored — as for a single send once written.
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

  /// Loop thread: whether `op` (a single message that may_auto_batch) can join a batch: gives
  /// it its UNIQ_KEY and measures its record. False: alone it is too big for a batch, or its
  /// properties are too long (then it is sent alone, and fails there).
  [[nodiscard]] bool admits(send_op& op) const;
  /// Loop thread: `op` (admitted, and admits(op)) joins a batch of its topic, whose route is
  /// `info`; `fixed_queue`: an ordered send's queue (an index into the route), which the batch
  /// shares. The batch then owns the op until it completes it.
  void add(send_op& op, const route::publish_info_ptr& info,
           std::optional<std::size_t> fixed_queue);
  /// Loop thread: a cancellation of `type` reached `op`, a member of a batch (cancel_wait::batch).
  void cancel(send_op& op, std::uint32_t type);
  /// Loop thread: every gathering batch leaves now (a flush, a shutdown).
  void send_all_gathering();
  /// Gathering batches (tests, stats).
  [[nodiscard]] std::size_t gathering() const noexcept { return open_.size(); }

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

  /// The open batch of this key, or nullptr.
  [[nodiscard]] batch* find_open(std::string_view topic, std::optional<std::size_t> fixed_queue,
                                 detail::send_kind mode) const noexcept;
  [[nodiscard]] batch& open(const send_op& op, const route::publish_info_ptr& info,
                            std::optional<std::size_t> fixed_queue);
  /// Takes `b` out of the open ones and starts its attempts.
  void leave(batch& b);
  static void linger_ended(io::timer_node* node, std::error_code ec) noexcept;
  static void turn_ended(io::task* node, io::task::action a) noexcept;
  /// The batch's attempts, until every member has completed.
  detached send(batch& b);
  /// Before an attempt: members past their deadline (timed_out) or cancelled (operation_aborted)
  /// complete; the body loses their records. Returns the members left.
  std::size_t drop_ended(batch& b, io::clock::time_point now);
  /// Takes member `i` out of the batch (its record out of the body) and completes it with `ec`.
  void remove(batch& b, std::size_t i, std::error_code ec);
  /// Completes every member left with the attempt's outcome.
  void finish_all(batch& b, std::error_code ec, const route::topic_publish_info* info,
                  route::publish_queue queue, std::int32_t code,
                  const wire::send_message_response_header* header);
  void release(batch& b) noexcept;

  send_pipeline& pipeline_;
  io::loop& loop_;
  const auto_batch_config limits_;
  std::vector<batch*> open_;  // gathering, most recently opened last
  std::vector<std::unique_ptr<batch>> all_;
  std::vector<batch*> free_;
  std::size_t retained_ = 0;  // body capacity idle batches keep (bounded, as send_op_pool's)
  struct turn_task final : io::task {
    explicit turn_task(auto_batcher& b) noexcept : task(&turn_ended), owner(b) {}
    auto_batcher& owner;
    bool queued = false;
  } turn_{*this};
};

}  // namespace rmq::send
