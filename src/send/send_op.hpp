// The state of one send, from the user's call to its completion. Pooled per loop and reused:
// its strings keep their capacity, so a steady stream of sends allocates nothing here.
#pragma once

#include "common/block_pool.hpp"
#include "io/loop.hpp"
#include "rmq/message.hpp"
#include "rmq/producer.hpp"
#include "rmq/send_result.hpp"
#include "route/broker_registry.hpp"
#include "send/attempt_policy.hpp"
#include "wire/headers.hpp"
#include "wire/properties.hpp"
#include "wire/uniq_key.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rmq::send {

/// Heap bytes of a string's buffer: its capacity beyond the inline room of a short string.
[[nodiscard]] inline std::size_t heap_bytes(const std::string& s) noexcept {
  constexpr std::size_t inline_room = std::string().capacity();
  return s.capacity() > inline_room ? s.capacity() : 0;
}

/// What only some sends need (a compressed or batch body, the diagnostics of a failure or a
/// retry, what the send took over from its caller): allocated the first time an op needs it and
/// kept with the op from then on, so that the usual send carries 8 bytes for it instead of ~400
/// and a steady stream allocates nothing (the strings keep their capacity).
struct send_op_extras {
  /// Properties the send hooks added (send_hook.hpp), kept here so that their buffers are
  /// reused by the next hooked send.
  struct hook_properties {
    struct slot {
      std::uint32_t message = 0;  ///< index in the batch (0 for a single message)
      std::uint32_t name_at = 0, name_size = 0, value_at = 0, value_size = 0;  ///< in `text`
    };
    std::string text;                       ///< names and values, back to back
    std::vector<slot> slots;                ///< in the order added (messages ascending)
    std::vector<wire::property_ref> pairs;  ///< views into `text`, once every hook has run
    std::vector<std::uint32_t> bounds;      ///< a batch's: message i has pairs[bounds[i], [i+1])
    std::size_t message_bytes = 0;          ///< encoded bytes added to the current message

    void clear() noexcept {
      text.clear();
      slots.clear();
      pairs.clear();
      bounds.clear();
      message_bytes = 0;
    }
  };

  std::string body;       ///< compressed body or batch body, when the message's own is not used
  std::string batch_ids;  ///< comma-joined UNIQ_KEYs of a batch
  send_diagnostics diagnostics;  ///< broker remark, brokers tried (failures and retries only)
  /// An attempt that stored the message but not as asked, retried on another broker
  /// (retry_another_broker_when_not_stored_ok): the send's result if every later attempt fails.
  std::optional<send_result> stored_not_ok;
  // Taken over from the initiating call (the send owns them until it completes).
  std::optional<message> owned;      ///< an rvalue message
  std::vector<message> owned_batch;  ///< an rvalue batch
  message_queue queue;               ///< an ordered send's queue (when has_queue)
  // A request's or a reply's correlation properties (send_purpose request, reply).
  std::string correlation_id;
  std::string reply_to_client;
  std::string ttl;
  std::array<wire::property_ref, 4> correlation_properties{};
  std::size_t correlation_count = 0;
  queue_selector selector;  ///< an ordered send's selector (when not empty)
  hook_properties hooks;    ///< when send_op::hook_properties
  bool has_queue = false;
  /// Bytes of buffer capacity counted against the pool's budget (send_op_pool::release).
  std::size_t retained = 0;

  /// Heap bytes the strings above keep for reuse (a short string's inline room is not heap).
  /// owned_batch keeps none: a send moves the caller's vector in. The diagnostics move into the
  /// result, but a completion may have left a remark behind.
  [[nodiscard]] std::size_t buffer_capacity() const noexcept {
    return heap_bytes(body) + heap_bytes(batch_ids) + heap_bytes(diagnostics.remark) +
           heap_bytes(diagnostics.brokers) + heap_bytes(hooks.text);
  }
  /// Gives those buffers back to the heap.
  void release_buffers() noexcept {
    std::string().swap(body);
    std::string().swap(batch_ids);
    std::string().swap(diagnostics.remark);
    std::string().swap(diagnostics.brokers);
    std::string().swap(hooks.text);
  }

  void clear() noexcept {
    body.clear();
    batch_ids.clear();
    stored_not_ok.reset();
    diagnostics.remark.clear();
    diagnostics.brokers.clear();
    diagnostics.elapsed_ms = 0;
    // The user's objects die with the send; the queue's strings keep their capacity.
    owned.reset();
    std::vector<message>().swap(owned_batch);  // the caller's vector, moved in: nothing to keep
    selector = nullptr;
    has_queue = false;
    correlation_count = 0;
    hooks.clear();
  }

  /// Copies a request's or a reply's correlation properties and lists them as the wire has
  /// them (the Java client's order).
  void set_correlation(detail::send_purpose purpose, const detail::correlation_fields& fields) {
    correlation_id = fields.correlation_id;
    reply_to_client = fields.reply_to_client;
    ttl = fields.ttl;
    namespace names = wire::property_names;
    if (purpose == detail::send_purpose::reply) {
      correlation_properties = {{{names::message_type, "reply"},
                                 {names::correlation_id, correlation_id},
                                 {names::reply_to_client, reply_to_client},
                                 {names::ttl, ttl}}};
      correlation_count = 4;
    } else {
      correlation_properties = {{{names::reply_to_client, reply_to_client},
                                 {names::ttl, ttl},
                                 {names::correlation_id, correlation_id},
                                 {}}};
      correlation_count = 3;
    }
  }
};

struct send_op {
  // --- the request, set by the initiating call --------------------------------------------
  detail::send_completion* completion = nullptr;
  /// Non-null when the handler's cancellation slot is connected (cancel_link.hpp): the send
  /// holds a reference until it completes.
  detail::cancel_link* cancel = nullptr;
  const message* msg = nullptr;
  std::span<const message> batch;  ///< non-empty: SEND_BATCH_MESSAGE
  send_mode mode = send_mode::async;
  detail::send_purpose purpose = detail::send_purpose::plain;
  bool ordered = false;   ///< extras() holds the queue or the selector
  bool admitted = false;  ///< holds `bytes` of the admission gate
  io::clock::time_point started{};
  io::clock::time_point deadline{};
  std::size_t bytes = 0;    ///< body bytes counted by the admission gate
  std::uint64_t epoch = 0;  ///< the loop's flush epoch when the send started

  // --- per-send scratch, reused across sends (capacity kept) ------------------------------
  std::array<char, wire::uniq_key_max_size> uniq_key{};
  std::size_t uniq_key_size = 0;
  std::string_view payload;   ///< the body as sent: the message's own, or extras().body
  std::int32_t sys_flag = 0;  ///< compression and batch flags of the request header

  // --- what the attempts learnt, read by send_pipeline::finish ------------------------------
  // Not a send_result, nor the response header: the op lives for the whole round trip, so every
  // byte here is one more byte per send in flight. The attempt that completes the send hands
  // finish() where the message went; the result is built on its stack.
  int attempts = 0;
  route::broker_id first_tried = 0;  ///< the first attempt's broker, for the diagnostics
  // Set with uniq_key (here, where it fills padding): the message carries its own UNIQ_KEY, so
  // finish() reads that instead of uniq_key.
  bool users_uniq_key = false;
  bool hooked = false;           ///< the before-hooks ran: the after-hooks run at completion
  bool hook_properties = false;  ///< a hook added properties (extras().hooks)

  /// The UNIQ_KEY every attempt carries: the message's own, or the one generated for the send.
  [[nodiscard]] std::string_view uniq_key_view() const noexcept {
    if (users_uniq_key) return msg->uniq_key();
    return {uniq_key.data(), uniq_key_size};
  }

  [[nodiscard]] send_op_extras& extras() {
    if (!extras_) extras_ = std::make_unique<send_op_extras>();
    return *extras_;
  }
  [[nodiscard]] send_op_extras* extras_if_any() noexcept { return extras_.get(); }
  [[nodiscard]] const send_op_extras* extras_if_any() const noexcept { return extras_.get(); }

  void reset() noexcept {
    completion = nullptr;
    cancel = nullptr;
    msg = nullptr;
    batch = {};
    purpose = detail::send_purpose::plain;
    ordered = false;
    admitted = false;
    bytes = 0;
    uniq_key_size = 0;
    users_uniq_key = false;
    hooked = false;
    hook_properties = false;
    payload = {};
    sys_flag = 0;
    attempts = 0;
    if (extras_) extras_->clear();
  }

 private:
  std::unique_ptr<send_op_extras> extras_;
};

/// Free list of send_ops owned by one loop (loop thread only). Idle ops keep the buffers they
/// grew (a compressed or batch body, a batch's ids), so that a steady stream of such sends
/// allocates nothing; but all of them together keep at most retained_budget bytes, and an op
/// whose buffers do not fit gives them back. Without the bound the memory held would climb
/// towards (ops ever in flight) × (largest body each ever carried), and never come down.
class send_op_pool {
 public:
  static constexpr std::size_t retained_budget = 16u << 20;

  [[nodiscard]] send_op* acquire() {
    if (free_.empty()) {
      all_.push_back(std::make_unique<send_op>());
      // Room for every op in the free list, so that release never allocates.
      if (free_.capacity() < all_.size()) free_.reserve(2 * all_.size());
      return all_.back().get();
    }
    send_op* op = free_.back();
    free_.pop_back();
    return op;
  }
  void release(send_op* op) noexcept {
    op->reset();
    if (send_op_extras* extras = op->extras_if_any()) keep_within_budget(*extras);
    free_.push_back(op);  // capacity reserved in acquire's growth: never allocates here
  }
  [[nodiscard]] std::size_t size() const noexcept { return all_.size(); }
  /// Buffer bytes the ops keep for reuse, counted when each was last released.
  [[nodiscard]] std::size_t retained_bytes() const noexcept { return retained_; }

 private:
  void keep_within_budget(send_op_extras& extras) noexcept {
    const std::size_t capacity = extras.buffer_capacity();
    retained_ -= extras.retained;
    if (retained_ + capacity > retained_budget) {
      extras.release_buffers();
      extras.retained = 0;
    } else {
      extras.retained = capacity;
      retained_ += capacity;
    }
  }

  std::vector<std::unique_ptr<send_op>> all_;
  std::vector<send_op*> free_;
  std::size_t retained_ = 0;
};

/// Blocks for the completion handlers of sends started on the loop thread, in three size
/// classes carved from large chunks: a callback's handler (96 bytes with its executor), a
/// coroutine's awaitable handler or a future's promise (128), and anything up to 512. An
/// in-flight send holds one block, with no allocator header beside it.
class completion_slab {
 public:
  static constexpr std::array<std::size_t, 3> block_sizes{96, 128, 512};
  static constexpr std::size_t chunk_bytes = 64 * 1024;
  static constexpr std::align_val_t heap_alignment{64};  // for the rare oversized handler

  void* allocate(std::size_t size, std::size_t align) {
    if (!pooled(size, align)) {
      fallbacks_.store(fallbacks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return ::operator new(size, heap_alignment);
    }
    const std::size_t c = size_class(size);
    return blocks_.take(c, block_sizes[c]);
  }
  /// `size` and `align` as given to allocate: they tell a block from a heap fallback.
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    if (!pooled(size, align)) {
      ::operator delete(p, heap_alignment);
      return;
    }
    blocks_.give(p, size_class(size));
  }
  /// Any thread: handlers too large for a block (each cost a heap allocation).
  [[nodiscard]] std::uint64_t fallbacks() const noexcept {
    return fallbacks_.load(std::memory_order_relaxed);
  }

 private:
  static_assert(block_sizes[0] % alignof(std::max_align_t) == 0 &&
                block_sizes[1] % alignof(std::max_align_t) == 0);
  [[nodiscard]] static bool pooled(std::size_t size, std::size_t align) noexcept {
    return size <= block_sizes.back() && align <= alignof(std::max_align_t);
  }
  [[nodiscard]] static std::size_t size_class(std::size_t size) noexcept {
    return size <= block_sizes[0] ? 0 : size <= block_sizes[1] ? 1 : 2;
  }

  block_pool<block_sizes.size()> blocks_{chunk_bytes};
  std::atomic<std::uint64_t> fallbacks_{0};  // written by the loop thread only
};

}  // namespace rmq::send
