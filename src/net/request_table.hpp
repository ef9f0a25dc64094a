// The in-flight request table of one pipelined connection: slots indexed by opaque, plus a
// min-heap of their deadlines. Owned by one loop thread; no locks, and no allocation once the
// table has grown to the connection's peak number of requests in flight.
#pragma once

#include "common/indexed_heap.hpp"
#include "common/vector_fifo.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <system_error>
#include <vector>

namespace rmq::wire {
struct command_view;
}

namespace rmq::net {

using clock = std::chrono::steady_clock;

/// What the table may fetch into the cache ahead of a waiter's completion. Decided by whoever
/// made the waiter (the table knows nothing of what lies around a context); one per kind of
/// waiter, outliving every request that points to it.
struct waiter_prefetch {
  /// Lines to fetch as context + line * 64, first_line..last_line (none when first > last):
  /// what complete() touches around the context (request_table::prefetch_waiter).
  std::int8_t first_line = 0;
  std::int8_t last_line = -1;
  /// Optional: starts fetching what complete() will read beyond the context
  /// (request_table::prefetch_waiter_state).
  void (*state)(const void* context) noexcept = nullptr;
};

/// Called exactly once per request: with the response (valid only during the call), or with an
/// error and nullptr. A plain function pointer plus context, so a request costs no allocation;
/// the context is usually the awaiter object inside the waiting coroutine's frame.
struct response_waiter {
  void (*complete)(void* context, std::error_code ec, const wire::command_view* response) = nullptr;
  void* context = nullptr;
  const waiter_prefetch* prefetch = nullptr;  ///< optional

  void operator()(std::error_code ec, const wire::command_view* response) const {
    complete(context, ec, response);
  }
};

/// A request's life: queued (frame in the outgoing buffer) → writing (in a socket send) →
/// written (waiting for its response) → slot freed. Oneway requests complete when written.
/// deferred: waits for room in the connection's pending buffer, not encoded yet;
/// queued: encoded into the pending buffer; writing: handed to the socket; written: all sent.
enum class request_state : std::uint8_t { free, deferred, queued, writing, written };

/// Whether a request awaits a response (two_way) or completes once written (oneway).
enum class request_kind : bool { two_way, oneway };

struct request_slot {
  std::int32_t opaque = 0;  ///< full opaque: a late response for an older request never matches
  request_state state = request_state::free;
  bool oneway = false;
  clock::time_point deadline{};
  response_waiter waiter;
  bool in_heap = false;          ///< its deadline is in the heap, not in the in-order run
  std::uint32_t heap_index = 0;  ///< position in the deadline heap
};

/// Slot for opaque o is o & (capacity - 1). A new request takes the next opaque whose slot is
/// free (skipping opaques is legal: an opaque only has to be unique among requests in flight);
/// when every slot is taken the table doubles. Doubling never collides: two opaques equal modulo
/// the new capacity are equal modulo the old one, where they already had distinct slots.
class request_table {
 public:
  explicit request_table(std::size_t initial_capacity = 64);
  // The heap's order refers back to this table's slots.
  request_table(const request_table&) = delete;
  request_table& operator=(const request_table&) = delete;

  /// Takes a slot for a new request. Never fails (grows instead).
  [[nodiscard]] std::uint32_t acquire(clock::time_point deadline, response_waiter waiter,
                                      request_kind kind);
  static constexpr std::uint32_t npos = 0xFFFFFFFFu;

  /// Index of the live request with this opaque, or npos. Indices change when the table grows,
  /// so callers keep opaques, not indices, across calls that may submit requests.
  [[nodiscard]] std::uint32_t find(std::int32_t opaque) const noexcept;
  /// The slot a response with this opaque answers, or npos when the opaque is unknown, belongs
  /// to an abandoned request, or names a request not handed to the socket yet.
  [[nodiscard]] std::uint32_t find_written(std::int32_t opaque) const noexcept;
  /// Frees a slot and returns its waiter (which the caller then completes, exactly once).
  response_waiter release(std::uint32_t index) noexcept;

  /// Starts fetching into the cache the waiter of the request `ahead` opaques after `opaque`,
  /// if it is live. Responses come back roughly in request order, and with thousands in flight a
  /// waiter's state (a coroutine frame) has left the cache since its request was sent.
  void prefetch_waiter(std::int32_t opaque, std::uint32_t ahead) const noexcept {
    const request_slot* slot = live_slot_after(opaque, ahead);
    if (slot == nullptr || slot->waiter.prefetch == nullptr) return;
    // The lines its maker named (waiter_prefetch), around the context.
    const waiter_prefetch& lines = *slot->waiter.prefetch;
    const auto* context = static_cast<const char*>(slot->waiter.context);
    for (int line = lines.first_line; line <= lines.last_line; ++line) {
      __builtin_prefetch(context + line * 64);
    }
  }
  /// Calls the state hook of the waiter `ahead` opaques after `opaque`, if it is live and has
  /// one: at depth what a waiter points to has left the cache too, and the pointer sits near
  /// the context that prefetch_waiter fetched a few responses earlier.
  void prefetch_waiter_state(std::int32_t opaque, std::uint32_t ahead) const noexcept {
    const request_slot* slot = live_slot_after(opaque, ahead);
    if (slot != nullptr && slot->waiter.prefetch != nullptr &&
        slot->waiter.prefetch->state != nullptr) {
      slot->waiter.prefetch->state(slot->waiter.context);
    }
  }

  [[nodiscard]] request_slot& operator[](std::uint32_t index) noexcept { return slots_[index]; }
  [[nodiscard]] const request_slot& operator[](std::uint32_t index) const noexcept {
    return slots_[index];
  }
  [[nodiscard]] std::size_t size() const noexcept { return live_; }
  [[nodiscard]] bool empty() const noexcept { return live_ == 0; }
  [[nodiscard]] std::size_t capacity() const noexcept { return slots_.size(); }

  /// Earliest deadline among live requests (time_point::max() when none).
  [[nodiscard]] clock::time_point next_deadline() const noexcept {
    const clock::time_point run =
        run_.empty() ? clock::time_point::max() : slots_[run_front()].deadline;
    return heap_.empty() ? run : std::min(run, slots_[heap_.front()].deadline);
  }
  /// Index of the live request with the earliest deadline. Precondition: !empty().
  [[nodiscard]] std::uint32_t earliest() const noexcept {
    if (run_.empty()) return heap_.front();
    const std::uint32_t run = run_front();
    return heap_.empty() || slots_[run].deadline <= slots_[heap_.front()].deadline ? run
                                                                                   : heap_.front();
  }

 private:
  // The slot `ahead` opaques after `opaque` if a request holds it (whichever request: a guess
  // about what comes next, for prefetching only).
  [[nodiscard]] const request_slot* live_slot_after(std::int32_t opaque,
                                                    std::uint32_t ahead) const noexcept {
    const request_slot& slot = slots_[(static_cast<std::uint32_t>(opaque) + ahead) & mask_];
    return slot.state == request_state::free ? nullptr : &slot;
  }

  [[nodiscard]] std::uint32_t run_front() const noexcept {
    return static_cast<std::uint32_t>(run_.front()) & mask_;
  }
  /// Drops released requests from the front of the run, so that its front is live.
  void trim_run() noexcept;

  // Slot indices ordered by deadline; positions kept in request_slot::heap_index.
  struct deadline_order {
    std::vector<request_slot>* slots;
    [[nodiscard]] bool before(std::uint32_t a, std::uint32_t b) const noexcept {
      return (*slots)[a].deadline < (*slots)[b].deadline;
    }
    void moved(std::uint32_t index, std::size_t position) const noexcept {
      (*slots)[index].heap_index = static_cast<std::uint32_t>(position);
    }
  };

  void grow();

  std::vector<request_slot> slots_;
  // Deadlines in two parts. Requests nearly always arrive with deadlines no earlier than the
  // one before (now + the same timeout), and complete nearly in order: those join the run, a
  // FIFO of opaques in deadline order where acquiring and releasing cost O(1) and touch memory
  // in order — a binary heap of 100k requests cost a cache miss per level on every response.
  // A request with an earlier deadline than the run's last goes to the heap. A released
  // request stays in the run until it reaches the front (the run holds at most what was sent
  // while its oldest live request waits: bounded by its deadline).
  vector_fifo<std::int32_t> run_;  // opaques
  clock::time_point run_back_deadline_ = clock::time_point::min();
  indexed_heap<std::uint32_t, deadline_order> heap_{deadline_order{&slots_}};
  std::size_t live_ = 0;
  std::uint32_t mask_ = 0;
  std::uint32_t next_opaque_ = 0;  // unsigned so it wraps without UB; sent as int32
};

}  // namespace rmq::net
