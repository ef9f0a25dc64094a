// The sans-I/O core of one pipelined remoting connection: outgoing buffer with one coalescing
// writer, parse-everything reader that matches responses by opaque, deadline handling.
// It takes bytes and events and returns what to write; the socket driver (net/connection.hpp)
// only executes that. Owned by one loop thread: no locks.
//
// A request's life: submit() encodes its frame straight into the pending buffer (queued) →
// prepare_write() hands it to the socket (writing) → commit_write() once the kernel took all of
// its bytes (written) → its response arrives (completed) — or its deadline passes, it is
// cancelled, or the connection fails (completed with that error). Every request completes
// exactly once. A queued request that expires is never written. A written one that expires is
// abandoned: its slot is freed at once and a late response is dropped (and counted), so a silent
// peer cannot fill the table and a timeout never closes the connection.
//
// Re-entrancy. Waiters complete inline from on_received (responses), commit_write (oneway
// requests), expire, cancel and fail_all — never from submit. A waiter may call submit,
// submit_deferrable, cancel and fail_all (through the driver: close, or a failure) on this
// core. on_received and commit_write notice a fail_all made by a waiter (generation_) and stop
// completing: the frames or writes after it belong to the failed stream. fail_all snapshots
// the live requests first, so requests a waiter submits from inside it are not failed by it.
#pragma once

#include "common/vector_fifo.hpp"
#include "net/request_table.hpp"
#include "wire/command.hpp"
#include "wire/request_signing.hpp"

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace rmq::net {

/// Always-on counters, cheap to read from the loop thread.
struct connection_counters {
  std::uint64_t requests = 0;           ///< requests submitted (oneway included)
  std::uint64_t responses = 0;          ///< responses matched to a waiting request
  std::uint64_t dropped_responses = 0;  ///< responses for unknown or abandoned opaques
  std::uint64_t timeouts = 0;           ///< requests that reached their deadline
  std::uint64_t expired_unsent = 0;     ///< of those, dropped before being written
  std::uint64_t server_requests = 0;    ///< requests initiated by the peer
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t socket_sends = 0;     ///< completed send operations
  std::uint64_t socket_receives = 0;  ///< received chunks
  std::uint64_t frames_sent = 0;  ///< frames fully written; frames_sent / socket_sends = coalescing
  std::uint64_t deferred = 0;     ///< requests that waited for room in the pending buffer
  std::uint64_t go_aways = 0;     ///< of the responses, GO_AWAY answers (a server shutting down)
};

/// Handler for requests the peer initiates (e.g. CHECK_TRANSACTION_STATE). It may answer with
/// connection_core::submit_unsolicited. Without a handler, non-oneway requests get
/// REQUEST_CODE_NOT_SUPPORTED.
struct server_request_handler {
  void (*handle)(void* context, const wire::command_view& request) = nullptr;
  void* context = nullptr;
};

struct connection_core_options {
  std::size_t max_frame = wire::default_max_frame;
  std::size_t initial_slots = 64;
  wire::language_code language = wire::language_code::cpp;
  std::int32_t version = wire::default_request_version;
  /// Bound on encoded frames waiting in user space (the pending buffer, and likewise the one
  /// being written): past it, deferrable requests wait unencoded, in order, until the writer
  /// has taken the pending bytes. A burst of sends then costs its slots, not its frames twice
  /// over, and a broker that reads slowly cannot grow the buffers without bound. One frame
  /// larger than this still goes, alone.
  std::size_t max_pending_bytes = 1u << 20;
  /// Signs every request this core encodes (ACL); nullptr: none. Not owned: it outlives the
  /// core and is used only on the core's thread, one frame at a time.
  wire::request_signer* signer = nullptr;
};

class connection_core {
 public:
  /// Bound on iovecs per send (IOV_MAX); a longer gather list is sent in several sends.
  static constexpr std::size_t max_iovecs = 1024;

  explicit connection_core(const connection_core_options& options = {});
  connection_core(const connection_core&) = delete;
  connection_core& operator=(const connection_core&) = delete;

  /// Identifies a submitted request for cancel(): its opaque. Stale tickets are harmless.
  struct ticket {
    std::int32_t opaque = 0;
  };

  /// Queues a request: `encode(std::string& out, std::int32_t opaque)` must append exactly one
  /// frame carrying that opaque, written with a wire::frame_writer (which signs it, if the core
  /// has a signer). `waiter` is completed exactly once, never from inside submit.
  template <class Encode>
  ticket submit(Encode&& encode, clock::time_point deadline, response_waiter waiter,
                request_kind kind = request_kind::two_way) {
    const std::uint32_t slot = table_.acquire(deadline, waiter, kind);
    const std::int32_t opaque = table_[slot].opaque;
    const std::size_t start = pending_.size();
    try {
      const wire::signing_scope signing(options_.signer);
      encode(pending_, opaque);
    } catch (...) {
      // An encoder that throws (an allocation that failed) leaves neither part of a frame in
      // the stream nor its slot taken; its waiter was never called, and the caller gets the
      // exception.
      pending_.resize(start);
      (void)table_.release(slot);
      throw;
    }
    pending_segments_.push_back({start, pending_.size() - start, opaque, true});
    ++counters_.requests;
    return {opaque};
  }

  /// An encoder that outlives its request (the awaiting coroutine keeps it until its waiter
  /// runs), so that the core may call it later: `encode(context, out, opaque)` as for submit.
  struct deferred_encoder {
    void (*encode)(void* context, std::string& out, std::int32_t opaque) = nullptr;
    void* context = nullptr;
  };

  /// As submit, but once max_pending_bytes are pending (or other requests wait already) the
  /// request takes its slot and deadline now and is encoded later, in submission order, when
  /// the writer has made room. Expired or cancelled before then, it is never encoded.
  ticket submit_deferrable(deferred_encoder encode, clock::time_point deadline,
                           response_waiter waiter, request_kind kind = request_kind::two_way);

  /// Queues a frame that expects no response and completes nothing (answers to the peer's own
  /// requests). `encode(std::string& out)` appends one frame.
  template <class Encode>
  void submit_unsolicited(Encode&& encode) {
    const std::size_t start = pending_.size();
    encode(pending_);
    pending_segments_.push_back({start, pending_.size() - start, 0, false});
  }

  /// Completes a live request now with `reason` (usually operation_aborted). Unwritten, it is
  /// never written; written, it is abandoned. Returns false if it had already completed.
  bool cancel(ticket t, std::error_code reason);
  /// Where a request stands: request_state::free once it has completed (or for a stale ticket).
  /// deferred and queued requests have not reached the socket: cancelling them has no effect on
  /// the peer; writing and written ones may have.
  [[nodiscard]] request_state state_of(ticket t) const noexcept {
    const std::uint32_t slot = table_.find(t.opaque);
    return slot == request_table::npos ? request_state::free : table_[slot].state;
  }

  // --- writer ------------------------------------------------------------------------------
  /// True when frames are pending and no send is in flight (prepare_write may still find that
  /// every pending frame expired, and return nothing).
  [[nodiscard]] bool wants_write() const noexcept {
    return !send_in_flight_ && (!pending_segments_.empty() || iov_next_ < iov_.size());
  }
  /// Starts a send: the gather list of every live pending frame (expired ones are skipped),
  /// coalescing adjacent frames into one iovec. Empty when there is nothing to send. The memory
  /// stays valid and untouched until commit_write.
  [[nodiscard]] std::span<const iovec> prepare_write();
  /// The send started by prepare_write took `bytes` bytes (a partial write leaves the rest for
  /// the next prepare_write). Oneway requests whose frames are fully written complete here.
  void commit_write(std::size_t bytes);
  /// The send started by prepare_write failed; the driver then calls fail_all.
  void abort_write() noexcept;

  // --- reader ------------------------------------------------------------------------------
  /// Parses every complete frame in `chunk` and completes the matching requests inline. An
  /// error means the stream is corrupt: the core has failed every request with protocol_error
  /// and the driver must close the socket.
  std::error_code on_received(std::string_view chunk);

  void set_request_handler(server_request_handler handler) noexcept { handler_ = handler; }
  /// Answers a two-way request of the peer REQUEST_CODE_NOT_SUPPORTED, as a Java peer answers a
  /// code it has no processor for.
  void reply_not_supported(const wire::command_view& request);

  // --- time and failure --------------------------------------------------------------------
  [[nodiscard]] clock::time_point next_deadline() const noexcept { return table_.next_deadline(); }
  /// Completes every request whose deadline is at or before `now` with timed_out.
  void expire(clock::time_point now);
  /// Completes every request with `ec`, drops all buffered bytes and resets the decoder, ready
  /// for a new socket. Safe to call from inside a waiter.
  void fail_all(std::error_code ec);

  // --- GO_AWAY (net/connection_lifecycle.hpp) ----------------------------------------------
  /// True once after a response was GO_AWAY (its waiter, if any, has run); cleared by the call.
  [[nodiscard]] bool take_go_away() noexcept { return std::exchange(go_away_, false); }
  /// The current socket's first answer was GO_AWAY: it never served (a streak goes on).
  [[nodiscard]] bool first_answer_go_away() const noexcept { return first_answer_go_away_; }
  /// A socket starts: its answers are counted from here (first_answer_go_away).
  void new_socket() noexcept;
  /// Nothing of the current socket is unfinished: no send in flight, no request being written
  /// or written and unanswered. A retiring socket may then close without losing an answer.
  [[nodiscard]] bool socket_quiet() const noexcept;
  /// A gather list is partly sent (more than max_iovecs frames, or a short send): a retiring
  /// socket finishes it, so that no frame is cut.
  [[nodiscard]] bool mid_send() const noexcept { return iov_next_ < iov_.size(); }
  /// A quiet socket is retired: forgets its stream (the decoder's bytes, what was left of the
  /// last gather list, which holds no request) and keeps every request, pending frames and
  /// deferred encoders for the next socket. Precondition: socket_quiet().
  void restart_stream() noexcept;

  [[nodiscard]] std::size_t in_flight() const noexcept { return table_.size(); }
  [[nodiscard]] std::size_t pending_bytes() const noexcept { return pending_.size(); }
  [[nodiscard]] const connection_counters& counters() const noexcept { return counters_; }

 private:
  struct segment {
    std::size_t offset;
    std::size_t length;
    std::int32_t opaque;
    bool has_request;  // false for unsolicited frames, which are always live
  };
  struct sent_segment {
    std::size_t stream_end;  // bytes of this send after which the frame is fully written
    std::int32_t opaque;
    bool has_request;
  };

  void complete(std::uint32_t slot, std::error_code ec, const wire::command_view* response);
  void dispatch(const wire::command_view& frame);
  void finish_send();
  /// Encodes deferred requests, oldest first, while the pending buffer has room.
  void encode_deferred();

  connection_core_options options_;
  request_table table_;
  wire::frame_decoder decoder_;

  std::string pending_;  // frames not yet handed to the socket
  std::vector<segment> pending_segments_;
  std::string sending_;  // frames of the send in flight (stable memory)
  std::vector<sent_segment> sending_segments_;
  std::vector<iovec> iov_;
  std::size_t iov_next_ = 0;    // first iovec not fully written
  std::size_t sent_bytes_ = 0;  // bytes of the current gather list written so far
  std::size_t sent_segment_next_ = 0;
  bool send_in_flight_ = false;
  bool send_is_stale_ = false;  // the in-flight send belongs to a failed socket

  std::uint64_t generation_ = 0;  // bumped by fail_all: stops loops that complete waiters
  bool in_receive_ = false;
  bool reset_decoder_after_receive_ = false;
  bool go_away_ = false;               // a GO_AWAY answer since take_go_away()
  bool first_answer_go_away_ = false;  // of the current socket (new_socket)
  std::uint64_t answers_on_socket_ = 0;
  std::vector<std::int32_t> failing_;  // scratch of fail_all, kept for its capacity
  struct deferred_request {
    std::int32_t opaque;
    deferred_encoder encoder;
  };
  vector_fifo<deferred_request> deferred_;
  server_request_handler handler_;
  connection_counters counters_;
};

}  // namespace rmq::net
