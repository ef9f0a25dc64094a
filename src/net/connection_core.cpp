#include "net/connection_core.hpp"

#include "rmq/error.hpp"
#include "wire/codes.hpp"

#include <algorithm>
#include <cassert>
#include <string>

namespace rmq::net {

connection_core::connection_core(const connection_core_options& options)
    : options_(options), table_(options.initial_slots), decoder_(options.max_frame) {}

connection_core::ticket connection_core::submit_deferrable(deferred_encoder encode,
                                                           clock::time_point deadline,
                                                           response_waiter waiter,
                                                           request_kind kind) {
  if (deferred_.empty() && pending_.size() < options_.max_pending_bytes) {
    return submit([encode](std::string& out,
                           std::int32_t opaque) { encode.encode(encode.context, out, opaque); },
                  deadline, waiter, kind);
  }
  request_slot& slot = table_[table_.acquire(deadline, waiter, kind)];
  slot.state = request_state::deferred;
  deferred_.push_back({slot.opaque, encode});
  ++counters_.requests;
  ++counters_.deferred;
  return {slot.opaque};
}

void connection_core::encode_deferred() {
  while (!deferred_.empty() && pending_.size() < options_.max_pending_bytes) {
    const deferred_request next = deferred_.front();
    deferred_.pop_front();
    // A deferred request is encoded long after it was made, its waiter's state out of the
    // cache: fetch ahead as dispatch does (the waiters name what, waiter_prefetch).
    if (const deferred_request* ahead = deferred_.peek(7)) table_.prefetch_waiter(ahead->opaque, 0);
    if (const deferred_request* ahead = deferred_.peek(1)) {
      table_.prefetch_waiter_state(ahead->opaque, 0);
    }
    const std::uint32_t slot = table_.find(next.opaque);
    if (slot == request_table::npos || table_[slot].state != request_state::deferred) {
      continue;  // expired or cancelled while it waited: never encoded
    }
    table_[slot].state = request_state::queued;
    const std::size_t start = pending_.size();
    {
      const wire::signing_scope signing(options_.signer);
      next.encoder.encode(next.encoder.context, pending_, next.opaque);
    }
    pending_segments_.push_back({start, pending_.size() - start, next.opaque, true});
  }
}

bool connection_core::cancel(ticket t, std::error_code reason) {
  const std::uint32_t slot = table_.find(t.opaque);
  if (slot == request_table::npos) return false;
  complete(slot, reason, nullptr);
  return true;
}

std::span<const iovec> connection_core::prepare_write() {
  if (send_in_flight_) return {};
  while (iov_next_ == iov_.size()) {
    // Start a new gather list from everything pending. Swapping keeps both buffers' capacity,
    // so a steady stream of requests allocates nothing here.
    if (pending_segments_.empty()) return {};
    sending_.swap(pending_);
    pending_.clear();
    // Both buffers track the largest burst seen (at most max_pending_bytes and a frame), so
    // that once a burst of the peak size has passed, neither has to grow again.
    if (pending_.capacity() < sending_.capacity()) pending_.reserve(sending_.capacity());
    std::size_t stream_end = 0;
    for (const segment& seg : pending_segments_) {
      if (seg.has_request) {
        const std::uint32_t slot = table_.find(seg.opaque);
        if (slot == request_table::npos) continue;  // expired or cancelled: never written
        table_[slot].state = request_state::writing;
      }
      char* base = sending_.data() + seg.offset;
      if (!iov_.empty() && static_cast<char*>(iov_.back().iov_base) + iov_.back().iov_len == base) {
        iov_.back().iov_len += seg.length;
      } else {
        iov_.push_back({base, seg.length});
      }
      stream_end += seg.length;
      sending_segments_.push_back({stream_end, seg.opaque, seg.has_request});
    }
    pending_segments_.clear();
    // The pending buffer is empty again: room for the requests that waited for it. They go
    // out with the next send (or this one's turn, if every frame of this one had expired).
    encode_deferred();
    if (iov_.empty()) finish_send();
  }
  send_in_flight_ = true;
  const std::size_t count = std::min(max_iovecs, iov_.size() - iov_next_);
  return {iov_.data() + iov_next_, count};
}

void connection_core::commit_write(std::size_t bytes) {
  assert(send_in_flight_);
  send_in_flight_ = false;
  ++counters_.socket_sends;
  counters_.bytes_sent += bytes;
  if (send_is_stale_) {
    finish_send();
    return;
  }
  sent_bytes_ += bytes;
  while (bytes > 0 && iov_next_ < iov_.size()) {
    iovec& v = iov_[iov_next_];
    if (bytes >= v.iov_len) {
      bytes -= v.iov_len;
      ++iov_next_;
    } else {
      v.iov_base = static_cast<char*>(v.iov_base) + bytes;
      v.iov_len -= bytes;
      bytes = 0;
    }
  }
  const std::uint64_t generation = generation_;
  while (sent_segment_next_ < sending_segments_.size() &&
         sending_segments_[sent_segment_next_].stream_end <= sent_bytes_) {
    const sent_segment seg = sending_segments_[sent_segment_next_++];
    ++counters_.frames_sent;
    if (!seg.has_request) continue;
    const std::uint32_t slot = table_.find(seg.opaque);
    if (slot == request_table::npos) continue;  // abandoned while being written
    table_[slot].state = request_state::written;
    if (table_[slot].oneway) {
      complete(slot, {}, nullptr);
      if (generation != generation_) return;  // the waiter failed the connection
    }
  }
  if (iov_next_ == iov_.size()) finish_send();
}

bool connection_core::socket_quiet() const noexcept {
  if (send_in_flight_) return false;
  // Scanned only while a socket retires: the table is at most as large as the peak in flight.
  for (std::uint32_t i = 0; i < table_.capacity(); ++i) {
    const request_state s = table_[i].state;
    if (s == request_state::writing || s == request_state::written) return false;
  }
  return true;
}

void connection_core::restart_stream() noexcept {
  assert(socket_quiet());
  finish_send();
  if (in_receive_) {
    reset_decoder_after_receive_ = true;
  } else {
    decoder_ = wire::frame_decoder(options_.max_frame);
  }
}

void connection_core::new_socket() noexcept {
  answers_on_socket_ = 0;
  first_answer_go_away_ = false;
  go_away_ = false;
}

void connection_core::abort_write() noexcept {
  send_in_flight_ = false;
  finish_send();
}

void connection_core::finish_send() {
  sending_.clear();
  sending_segments_.clear();
  iov_.clear();
  iov_next_ = 0;
  sent_bytes_ = 0;
  sent_segment_next_ = 0;
  send_is_stale_ = false;
}

std::error_code connection_core::on_received(std::string_view chunk) {
  ++counters_.socket_receives;
  counters_.bytes_received += chunk.size();
  const std::uint64_t generation = generation_;
  in_receive_ = true;
  const std::error_code ec = decoder_.feed(chunk, [&](const wire::command_view& frame) {
    if (generation == generation_) dispatch(frame);  // frames after a failure are dropped
  });
  in_receive_ = false;
  if (reset_decoder_after_receive_) {
    reset_decoder_after_receive_ = false;
    decoder_ = wire::frame_decoder(options_.max_frame);
    return {};  // a waiter failed the connection; its error is the one that counts
  }
  if (ec) fail_all(make_error_code(errc::protocol_error));
  return ec;
}

void connection_core::dispatch(const wire::command_view& frame) {
  if (frame.is_response()) {
    const bool go_away = frame.fields.code == wire::response_code::go_away;
    if (answers_on_socket_++ == 0) first_answer_go_away_ = go_away;
    if (go_away) [[unlikely]] {
      // Even for a request given up already: the server is leaving this socket. A waiter decides
      // what to do with its own (resend once: net/request.hpp); the driver retires the socket
      // after the read (take_go_away).
      ++counters_.go_aways;
      go_away_ = true;
    }
    const std::uint32_t slot = table_.find_written(frame.fields.opaque);
    if (slot == request_table::npos) {
      ++counters_.dropped_responses;
      return;
    }
    ++counters_.responses;
    // Responses come back roughly in request order, and a response costs ~1 µs: fetch the
    // lines the waiter 8 responses on named, and the state of the waiter 2 on (reached through
    // those lines, fetched 6 responses ago), so that both are in the cache when they complete.
    table_.prefetch_waiter(frame.fields.opaque, 8);
    table_.prefetch_waiter_state(frame.fields.opaque, 2);
    complete(slot, {}, &frame);
    return;
  }
  ++counters_.server_requests;
  if (handler_.handle != nullptr) {
    handler_.handle(handler_.context, frame);
  } else if (!frame.is_oneway()) {
    reply_not_supported(frame);
  }
}

void connection_core::reply_not_supported(const wire::command_view& request) {
  // What a Java remoting peer answers to a request code it has no processor for.
  submit_unsolicited([&](std::string& out) {
    const std::string remark =
        " request type " + std::to_string(request.fields.code) + " not supported";
    wire::command_fields fields;
    fields.code = wire::response_code::request_code_not_supported;
    fields.language = options_.language;
    fields.version = options_.version;
    fields.opaque = request.fields.opaque;
    fields.flag = wire::flag_response;
    wire::frame_writer writer(out, request.type, fields, remark);
    writer.finish();
  });
}

void connection_core::expire(clock::time_point now) {
  while (!table_.empty() && table_.next_deadline() <= now) {
    const std::uint32_t slot = table_.earliest();
    ++counters_.timeouts;
    const request_state state = table_[slot].state;
    if (state == request_state::deferred || state == request_state::queued) {
      ++counters_.expired_unsent;
    }
    complete(slot, make_error_code(errc::timed_out), nullptr);
  }
}

void connection_core::fail_all(std::error_code ec) {
  ++generation_;
  go_away_ = false;  // of the failed stream: the next socket starts afresh
  pending_.clear();
  pending_segments_.clear();
  deferred_.clear();  // their slots fail below with the rest
  if (send_in_flight_) {
    send_is_stale_ = true;  // the kernel may still read sending_: keep it until the send ends
  } else {
    finish_send();
  }
  if (in_receive_) {
    reset_decoder_after_receive_ = true;  // the decoder is mid-feed; replace it afterwards
  } else {
    decoder_ = wire::frame_decoder(options_.max_frame);
  }
  // Snapshot first: waiters may submit new requests, which this failure must not touch.
  failing_.clear();
  for (std::uint32_t slot = 0; slot < table_.capacity(); ++slot) {
    if (table_[slot].state != request_state::free) failing_.push_back(table_[slot].opaque);
  }
  for (const std::int32_t opaque : failing_) {
    const std::uint32_t slot = table_.find(opaque);
    if (slot != request_table::npos) complete(slot, ec, nullptr);
  }
}

void connection_core::complete(std::uint32_t slot, std::error_code ec,
                               const wire::command_view* response) {
  const response_waiter waiter = table_.release(slot);
  waiter(ec, response);
}

}  // namespace rmq::net
