/// \file
/// rmq::producer: sends messages to RocketMQ brokers.
///
/// Every send is one pipeline on one of the producer's loops: validate → admission (the
/// in-flight limits) → resolve the topic's route (cached) → pick a queue (round robin + fault
/// tolerance) → write the request on the broker's pipelined connection and await the response →
/// result — with retries on other brokers, all under one deadline (send_timeout). The forms
/// below are thin adaptors over that pipeline:
///
/// ```
///   co_await producer.async_send(msg, asio::use_awaitable);          // coroutine (any executor)
///   producer.async_send(msg, [](std::error_code ec, rmq::send_result r) { ... });  // callback
///   std::future<rmq::send_result> f = producer.async_send(msg, asio::use_future);
///   rmq::send_result r = producer.send(msg);                          // blocking; throws
///   producer.send_oneway(msg);                                         // fire and forget
/// ```
///
/// The rules every operation below keeps:
///
/// Completion. Every asynchronous operation completes exactly once — with its result or an
/// error — whatever happens: timeouts, disconnects, shutdown, bad input. The handler runs on its
/// associated executor (Asio's rules); a handler without one runs on the producer's loop thread
/// (keep it short). A handler is never invoked inside the call that started the operation: an
/// operation that fails at once (bad input, not started, shut down, back-pressure fail-fast)
/// completes as if by asio::post. A coroutine spawned on get_executor() is resumed inline by the
/// loop when its response arrives (no hop). The handler's executor counts outstanding work until
/// the handler has run, and every copy of the handler and of its executor is destroyed before
/// that guard is released, so an io_context may end as soon as its last handler has run.
///
/// Errors. Callbacks and error-code tokens get (std::error_code, send_result): on failure the
/// result carries the diagnostics (broker remark, brokers tried, attempts, time) and the topic;
/// status is send_status::failed. With asio::use_awaitable and asio::use_future the signature is
/// (std::exception_ptr, send_result) and a failure throws rmq::send_error (a std::system_error
/// with those diagnostics); the blocking send(msg) throws it too.
///
/// Exceptions from user code. A queue_selector that throws fails its send
/// (errc::queue_selector_failed, the exception's what() in the diagnostics). A handler that throws
/// while running on a producer loop is caught there, counted (producer_stats::handler_exceptions)
/// and logged; the loop keeps running (as the Java client does with its callbacks). A handler
/// running on the user's own executor throws there, as any Asio handler does.
///
/// Threads. Every member function may be called from any thread, concurrently, including from
/// completion handlers and coroutines running on the producer's loops. The blocking calls
/// (send*, send_oneway, send_in_transaction, request, send_reply, fetch_queues, flush, shutdown)
/// fail with
/// errc::blocking_call_on_loop_thread when called on a loop thread (they would deadlock); use
/// the asynchronous forms there.
///
/// Back-pressure. max_in_flight_sends / max_in_flight_bytes bound the whole producer, counted
/// from the call to the completion. When they are reached, a send started on a loop thread waits
/// for room without blocking the thread (the coroutine suspends); one started on any other
/// thread blocks that thread until there is room — whatever its completion token — or fails with
/// errc::backpressure_full at once when fail_fast_when_full is set. The time waited counts
/// against the send's deadline.
///
/// Per-send timeout. Every send form takes an rmq::send_options: its `timeout` replaces
/// producer_config::send_timeout for that send (Java's send(msg, timeout)); its `queue` or
/// `selector` makes it an ordered send.
///
/// Cancellation (per operation, as Asio's own operations). An asynchronous send whose handler
/// has a connected cancellation slot (asio::bind_cancellation_slot, a parallel group such as
/// `co_await (producer.async_send(msg, use_awaitable) || timer.async_wait(use_awaitable))`, a
/// coroutine's cancellation state) may be cancelled by emitting on that slot:
/// - before its request is written — while it waits for back-pressure room, for the topic's
///   route, for a connection, or deferred in the connection's write queue — any type
///   (terminal, partial, total) removes it: it is never written, and completes at once with
///   asio::error::operation_aborted;
/// - after its request is written, terminal and partial cancellation complete it at once with
///   operation_aborted: the broker's late response is read and dropped, the connection stays
///   open, and the result's diagnostics say that the message may have been stored. Total
///   cancellation is ignored once written (the send has had its side effect);
/// - between attempts, a send on which a cancellation was emitted (any type) is not retried: it
///   completes with operation_aborted (unless an earlier attempt stored it, see
///   retry_another_broker_when_not_stored_ok).
/// A message in an automatic batch (producer_config::auto_batch) follows these rules while its
/// batch gathers and while the batch's request is deferred; once that request is encoded with
/// other messages, the message counts as written (the last one left is still withdrawn whole
/// while the request is not written).
/// A send started off the loops that blocks its caller at a full gate is woken by the emit and
/// completes with operation_aborted (the call returns; the handler runs as if by post). Oneway
/// sends and batches follow the same rules; so does async_flush (any type ends the wait; the flush
/// has no effect to undo). An async_shutdown has had its effect once started: terminal and partial
/// cancellation complete its handler at once with operation_aborted while the shutdown goes on;
/// total is ignored. Emit on the handler's executor (Asio's rule for slots), whichever thread runs
/// it — a user's io_context, a strand, the producer's loop: an emit only records the request and
/// posts it to the send's loop (or wakes a caller blocked at the gate), and does nothing once the
/// send has completed. A handler without an executor of its own (use_future's) completes on the
/// loop thread: emit there, or only while the send surely has not completed. The send installs its
/// slot handler in the initiating call and the completion clears it on the handler's side just
/// before the handler runs; a send whose handler has no connected slot pays nothing for any of
/// this. A cancellable send costs one small heap allocation.
///
/// Object lifetimes (as Boost.MySQL documents them, per argument):
/// - `const message& msg`, `std::span<const message> batch`: must stay alive and unchanged until
///   the send completes. The rvalue overloads take the message (or batch vector) over instead: it
///   is moved into the send (its body is not copied) and destroyed when the send completes.
/// - `message_queue queue`, `queue_selector selector`: copied or moved into the send before the
///   call returns; the caller's objects may die at once. The selector is called on a loop thread,
///   once per send, and destroyed when the send completes.
/// - the completion token/handler: moved into the operation.
#pragma once

#include "rmq/batch_split.hpp"
#include "rmq/detail/producer_initiate.hpp"
#include "rmq/error.hpp"
#include "rmq/message.hpp"
#include "rmq/message_queue.hpp"
#include "rmq/producer_config.hpp"
#include "rmq/queue_selector.hpp"
#include "rmq/recall.hpp"
#include "rmq/request_reply.hpp"
#include "rmq/send_error.hpp"
#include "rmq/send_options.hpp"
#include "rmq/send_result.hpp"
#include "rmq/transaction.hpp"

#include <asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

/// rmq-coro: a RocketMQ producer (sends over the remoting protocol on an io_uring loop).
namespace rmq {

/// Counters of a producer, cheap to read from any thread.
struct producer_stats {
  std::uint64_t sends = 0;                 ///< sends started
  std::uint64_t succeeded = 0;             ///< completed with a result
  std::uint64_t failed = 0;                ///< completed with an error
  std::uint64_t retries = 0;               ///< attempts beyond the first
  std::uint64_t timeouts = 0;              ///< sends that ran out of budget
  std::uint64_t in_flight = 0;             ///< sends admitted and not completed (whole producer)
  std::uint64_t in_flight_bytes = 0;       ///< their body bytes
  std::uint64_t waiting_for_room = 0;      ///< sends waiting for room (blocked or suspended)
  std::uint64_t route_queries = 0;         ///< GET_ROUTEINFO_BY_TOPIC sent
  std::uint64_t cached_topics = 0;         ///< topic routes cached (per loop that sent to it)
  std::uint64_t evicted_topics = 0;        ///< forgotten, unused for route_idle_timeout
  std::uint64_t frame_pool_fallbacks = 0;  ///< coroutine frames that had to come from the heap
  std::uint64_t slot_fallbacks = 0;        ///< completion handlers too large for a send slot
  std::uint64_t handler_exceptions = 0;    ///< user handlers that threw on a producer loop
  std::uint64_t transactions = 0;          ///< transactional sends started
  std::uint64_t transaction_checks = 0;    ///< CHECK_TRANSACTION_STATE requests answered
  std::uint64_t checks_ignored = 0;   ///< checks not answered: no checker, too many, undecodable
  std::uint64_t requests = 0;         ///< requests started (async_request, request)
  std::uint64_t replies = 0;          ///< replies pushed to us and matched to their request
  std::uint64_t replies_dropped = 0;  ///< replies that came late, were not ours or did not decode
  std::uint64_t hook_exceptions = 0;  ///< exceptions that escaped a send hook (caught)
  /// Automatic batches sent (producer_config::auto_batch): SEND_BATCH_MESSAGE requests made of
  /// single sends, retries not counted.
  std::uint64_t auto_batches = 0;
  /// Sends that joined an automatic batch (auto_batched ÷ auto_batches: their mean size).
  std::uint64_t auto_batched = 0;
  /// Message trace (producer_config::trace): records handed to the trace producer, in trace
  /// messages sent (or being sent).
  std::uint64_t trace_records = 0;
  /// Trace records dropped: the buffer was full, or shutdown's time was up before they went.
  std::uint64_t trace_dropped = 0;
  /// Trace messages whose send failed (their records are lost; the traced sends are not).
  std::uint64_t trace_send_failures = 0;
};

/// Sends messages to RocketMQ brokers (DefaultMQProducer). Construct with a configuration,
/// start(), send in any of the forms below from any thread, and shutdown() (or destroy) it.
/// The rules every operation keeps (completion, errors, threads, back-pressure, lifetimes) are
/// stated at the top of this header.
class producer {
 public:
  /// The executor of get_executor(): a producer loop, usable with any Asio operation.
  using executor_type = asio::any_io_executor;

  /// Copies the configuration; nothing runs until start().
  explicit producer(producer_config config);
  /// Off the loop threads: shutdown() with the configured send timeout as the grace period,
  /// then frees everything. On one of the producer's own loop threads (from a handler) it cannot
  /// wait for the loops it runs on: it starts the same shutdown and returns at once, and a
  /// background thread finishes it (completing every send, joining the loops) and frees the
  /// producer's state; the sends' handlers still run. Never blocks, never deadlocks there. The
  /// same on one of the producer's transaction threads (from a plain local transaction or
  /// checker). Elsewhere it also waits for plain transaction functions still running.
  ~producer();
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  /// Validates the configuration, starts the loop thread(s); brokers are registered with as
  /// topics are used. Errors: configuration_invalid, no_name_server, io_uring_unavailable (the
  /// kernel or a seccomp profile refuses io_uring; logged with the cause), shutting_down (after
  /// shutdown: a producer does not restart). Calling it again while running returns success.
  std::error_code start();

  /// Blocking. Stops taking sends (later ones fail with errc::shutting_down), lets those in
  /// flight finish until `timeout` has passed, fails the rest with errc::shutting_down,
  /// unregisters from the brokers, closes every connection and joins the loop thread(s). Every
  /// send ever started has completed when it returns. A second call, concurrent or later, waits
  /// for the first to finish. On a loop thread: returns errc::blocking_call_on_loop_thread and
  /// does nothing (use async_shutdown).
  std::error_code shutdown(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

  /// The same drain without blocking: completes (void(std::error_code)) once every send started
  /// before it has completed and the connections are closed; the loop threads are joined later,
  /// by shutdown() or the destructor. Usable on a loop thread. Completes with {} also when the
  /// producer was already shut down; with errc::not_started before start().
  template <class Token>
  auto async_shutdown(std::chrono::milliseconds timeout, Token&& token) {
    return detail::initiate_shutdown(*this, timeout, std::forward<Token>(token));
  }

  /// Blocking: waits until every send started before the call has completed (its handler has
  /// run or been handed to its executor), without shutting down (librdkafka's flush). Returns
  /// errc::timed_out if some had not after `timeout`; errc::blocking_call_on_loop_thread on a
  /// loop thread; errc::not_started / shutting_down before start / after shutdown.
  std::error_code flush(std::chrono::milliseconds timeout);
  /// The same, asynchronous: void(std::error_code). Usable on a loop thread.
  template <class Token>
  auto async_flush(std::chrono::milliseconds timeout, Token&& token) {
    return detail::initiate_flush(*this, timeout, std::forward<Token>(token));
  }

  /// The executor of the producer's (first) loop: coroutines spawned here run with no hop.
  /// Throws std::system_error (errc::not_started) before start(). After shutdown() has joined
  /// the loops, work posted to it is destroyed without running.
  [[nodiscard]] executor_type get_executor() const;

  // --- asynchronous sends: completion signature void(std::error_code, rmq::send_result) -----
  // (void(std::exception_ptr, rmq::send_result) with use_awaitable and use_future.)

  /// Sends `msg` (which must outlive the send).
  template <class Token>
  auto async_send(const message& msg, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), &msg, detail::send_kind::async);
  }
  /// Sends `msg`, taking it over (moved in, body not copied).
  template <class Token>
  auto async_send(message&& msg, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), nullptr,
                                 detail::send_kind::async, std::move(msg));
  }
  /// Sends `msg` (which must outlive the send) with its own settings (send_options: timeout,
  /// ordered queue or selector), taken over by the send.
  template <class Token>
  auto async_send(const message& msg, send_options options, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), &msg, detail::send_kind::async,
                                 std::move(options));
  }
  /// The same, taking the message over.
  template <class Token>
  auto async_send(message&& msg, send_options options, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), nullptr,
                                 detail::send_kind::async, std::move(msg), std::move(options));
  }
  /// Ordered send to one explicit queue of the message's topic (copied): never changes queue
  /// (async retries the same queue). A queue of another topic fails with invalid_argument.
  /// Shorthand for send_options{.queue = queue}.
  template <class Token>
  auto async_send(const message& msg, message_queue queue, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), &msg, detail::send_kind::async,
                                 std::move(queue));
  }
  /// Ordered send to the queue `selector` picks (the selector is moved into the send).
  /// Shorthand for send_options{.selector = selector}.
  template <class Token>
  auto async_send(const message& msg, queue_selector selector, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), &msg, detail::send_kind::async,
                                 std::move(selector));
  }
  /// One attempt, no response awaited: completes once the request is written.
  template <class Token>
  auto async_send_oneway(const message& msg, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), &msg,
                                 detail::send_kind::oneway);
  }
  /// The same, taking the message over.
  template <class Token>
  auto async_send_oneway(message&& msg, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), nullptr,
                                 detail::send_kind::oneway, std::move(msg));
  }
  /// Oneway with its own settings (an ordered oneway send goes to its queue, one attempt).
  template <class Token>
  auto async_send_oneway(const message& msg, send_options options, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), &msg, detail::send_kind::oneway,
                                 std::move(options));
  }
  /// The same, taking the message over.
  template <class Token>
  auto async_send_oneway(message&& msg, send_options options, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), nullptr,
                                 detail::send_kind::oneway, std::move(msg), std::move(options));
  }
  /// SEND_BATCH_MESSAGE: messages of one topic in one request (Java batch rules). The span and
  /// the messages must stay alive until completion.
  template <class Token>
  auto async_send_batch(std::span<const message> batch, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), nullptr,
                                 detail::send_kind::async, batch);
  }
  /// The same, taking the batch over.
  template <class Token>
  auto async_send_batch(std::vector<message>&& batch, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), nullptr,
                                 detail::send_kind::async, std::move(batch));
  }
  /// A batch with its own settings (an ordered batch goes to its one queue).
  template <class Token>
  auto async_send_batch(std::span<const message> batch, send_options options, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), nullptr,
                                 detail::send_kind::async, batch, std::move(options));
  }
  /// The same, taking the batch over.
  template <class Token>
  auto async_send_batch(std::vector<message>&& batch, send_options options, Token&& token) {
    return detail::initiate_send(*this, std::forward<Token>(token), nullptr,
                                 detail::send_kind::async, std::move(batch), std::move(options));
  }

  // --- transactional sends (TransactionMQProducer.sendMessageInTransaction) ---------------
  // Completion signature void(std::error_code, rmq::transaction_result)
  // (void(std::exception_ptr, rmq::transaction_result) with use_awaitable and use_future).

  /// Sends `msg` (which must outlive the operation) as a half message (sysFlag
  /// TRANSACTION_PREPARED, properties TRAN_MSG and PGROUP) under the usual deadline and retry
  /// rules; once stored, runs `local` (rmq/transaction.hpp says where) for at most
  /// local_transaction_timeout; then tells the broker that stored it what `local` decided
  /// (END_TRANSACTION, oneway) and completes with the half message's result and that state.
  /// - The half message fails: the operation fails with the send's error; `local` never runs.
  /// - Stored with a status other than send_ok: rolled back without running `local` (Java's
  ///   rule); the operation succeeds with state rollback.
  /// - `local` throws, times out or is cancelled: state unknown (local_error says why); the
  ///   broker will ask the checker.
  /// - END_TRANSACTION cannot be written: transaction_result::end_error; the broker will ask.
  /// A message with a delay level or a delivery time fails with errc::invalid_argument (Java
  /// clears the delay silently). Cancellation (terminal or partial, emitted as for sends): before
  /// the half message is stored it cancels that send (the operation completes with
  /// operation_aborted, by the send's rules); while `local` runs it cancels `local` (a coroutine
  /// gets a terminal cancellation; a plain function is no longer waited for), the state sent is
  /// unknown, and the operation completes with operation_aborted and its result filled in.
  /// Total cancellation is ignored. END_TRANSACTION is always sent once the half message is
  /// stored. A shutdown lets the operation run until its deadline, then cancels it the same
  /// way (it completes with errc::shutting_down, its result filled in). Costs a few heap
  /// allocations (a coroutine frame, the completion): transactions are not a hot path.
  /// With an error-code token the handler gets the whole result with the error (the state sent,
  /// end_error); with use_awaitable and use_future a failure throws rmq::send_error, which
  /// carries the half message's diagnostics only. An empty `local` fails with
  /// errc::invalid_argument before anything is sent.
  template <class Token>
  auto async_send_in_transaction(const message& msg, local_transaction local, Token&& token) {
    return detail::initiate_operation<transaction_result>(*this, std::forward<Token>(token), &msg,
                                                          std::move(local), send_options{});
  }
  /// The same, with the half message's own settings (timeout; a queue or selector makes it an
  /// ordered send).
  template <class Token>
  auto async_send_in_transaction(const message& msg, local_transaction local, send_options options,
                                 Token&& token) {
    return detail::initiate_operation<transaction_result>(*this, std::forward<Token>(token), &msg,
                                                          std::move(local), std::move(options));
  }
  /// Blocking: as async_send_in_transaction; the error in `ec`, the result returned.
  transaction_result send_in_transaction(const message& msg, local_transaction local,
                                         std::error_code& ec);
  /// The same, with the half message's own settings.
  transaction_result send_in_transaction(const message& msg, local_transaction local,
                                         const send_options& options, std::error_code& ec);

  // --- request-reply (DefaultMQProducer.request) --------------------------------------------
  // Completion signature void(std::error_code, rmq::request_result)
  // (void(std::exception_ptr, rmq::request_result) with use_awaitable and use_future).

  /// Sends `msg` (which must outlive the operation) as a request — with CORRELATION_ID (a new
  /// UUID), REPLY_TO_CLIENT (this producer's client id) and TTL — and completes with the reply a
  /// responder sends back (rmq/request_reply.hpp). One deadline (send_options::timeout, else
  /// send_timeout) covers the route, the heartbeats, the send and the wait for the reply: first
  /// the request's route is resolved and every master this loop knows has answered a heartbeat,
  /// since the broker that stores the reply may be any of them and pushes it on the connection
  /// its heartbeat registered. Errors: the send's (then no reply can come); errc::timed_out when
  /// no reply came in time (request_result::request says where the request was stored; a reply
  /// arriving later is answered and dropped); errc::backpressure_full when
  /// max_pending_requests requests wait already. Cancellation (terminal or partial, emitted as
  /// for sends) ends the send by the send's rules, or the wait for the reply: operation_aborted.
  /// Costs a few heap allocations: requests are not a hot path.
  template <class Token>
  auto async_request(const message& msg, Token&& token) {
    return detail::initiate_operation<request_result>(*this, std::forward<Token>(token), &msg,
                                                      send_options{});
  }
  /// The same, with its own settings (timeout; a queue or a selector makes an ordered request).
  template <class Token>
  auto async_request(const message& msg, send_options options, Token&& token) {
    return detail::initiate_operation<request_result>(*this, std::forward<Token>(token), &msg,
                                                      std::move(options));
  }
  /// Blocking: the request with `timeout` (1 ms..1 h; anything else fails with
  /// errc::invalid_argument) as its whole budget (Java's request(msg, timeout)): returns once the
  /// reply came, or fails. The reply in the result; the error in `ec`.
  request_result request(const message& msg, std::chrono::milliseconds timeout,
                         std::error_code& ec);

  /// Sends the reply to a request that reached any consumer (the Java
  /// MessageUtil.createReplyMessage and send): `request` is the request's properties as the
  /// consumer gives them, `body` the reply's body. The reply goes to `<CLUSTER>_REPLY_TOPIC` as
  /// SEND_REPLY_MESSAGE_V2 with MSG_TYPE=reply and the request's CORRELATION_ID, REPLY_TO_CLIENT
  /// and TTL — reserved names, allowed here and only here — and the broker that stores it pushes
  /// it to the requester. A request without CLUSTER, CORRELATION_ID or REPLY_TO_CLIENT fails with
  /// errc::invalid_argument. When the requester has gone the broker stores the reply but answers
  /// SYSTEM_ERROR ("push reply message fail, channel of ... not found."): make_broker_error(1).
  /// Otherwise as async_send (both arguments are copied before the call returns) — retries
  /// included, as Java's: SYSTEM_ERROR is retried, so a reply to a gone requester is stored once
  /// per attempt (another broker may hold the requester's connection).
  template <class Token>
  auto async_send_reply(const request_properties& request, std::string body, Token&& token) {
    message reply;
    detail::correlation_marker marker = detail::reply_to(request, body, reply);
    return detail::initiate_send(*this, std::forward<Token>(token), nullptr,
                                 detail::send_kind::async, std::move(reply), std::move(marker));
  }
  /// Blocking: as async_send_reply.
  send_result send_reply(const request_properties& request, std::string body, std::error_code& ec);

  // --- recall (5.3 RECALL_MESSAGE) ---------------------------------------------------------
  // Completion signature void(std::error_code, rmq::recall_result)
  // (void(std::exception_ptr, rmq::recall_result) with use_awaitable and use_future).

  /// Recalls a timer message before its delivery time: `handle` is the send_result::recall_handle
  /// a 5.3 broker gave its send, `topic` its topic as the send named it. Sends RECALL_MESSAGE
  /// (370) to the master of the broker the handle names (found in the topic's route), under
  /// send_timeout, and completes with the recalled message's id. Errors: invalid_argument (a
  /// handle that does not decode, or names another topic), no_writable_queue (the topic's route
  /// has no master of that broker), the broker's refusal as a broker error with its remark in
  /// recall_result::remark (NO_PERMISSION "recall failed, operation is forbidden" when the
  /// broker has recall disabled — its default —, ILLEGAL_OPERATION "recall failed, timestamp
  /// invalid" once the message is due, REQUEST_CODE_NOT_SUPPORTED from a 4.9 broker),
  /// timed_out, shutting_down. Cancellation (terminal or partial) completes it at once with
  /// operation_aborted; a RECALL_MESSAGE already written may still take effect at the broker.
  /// Both arguments are taken over.
  template <class Token>
  auto async_recall(std::string topic, std::string handle, Token&& token) {
    return detail::initiate_operation<recall_result>(*this, std::forward<Token>(token),
                                                     std::move(topic), std::move(handle));
  }
  /// Blocking: as async_recall.
  recall_result recall(const std::string& topic, const std::string& handle, std::error_code& ec);

  // --- blocking: the calling thread waits; on a loop thread they fail at once --------------
  /// Throws rmq::send_error on failure; its what() says what happened, like the Java message.
  send_result send(const message& msg);
  /// As send(msg), reporting a failure in `ec` (the diagnostics in the result) instead.
  send_result send(const message& msg, std::error_code& ec);
  /// Ordered send to `queue` of the message's topic: one attempt, never another queue.
  send_result send(const message& msg, const message_queue& queue, std::error_code& ec);
  /// Ordered send to the queue `selector` picks (called once, on a loop thread): one attempt.
  send_result send(const message& msg, const queue_selector& selector, std::error_code& ec);
  /// As send(msg, ec), with its own settings (send_options: timeout, queue or selector).
  send_result send(const message& msg, const send_options& options, std::error_code& ec);
  /// SEND_BATCH_MESSAGE: messages of one topic in one request (Java batch rules).
  send_result send_batch(std::span<const message> batch, std::error_code& ec);
  /// The same, with its own settings.
  send_result send_batch(std::span<const message> batch, const send_options& options,
                         std::error_code& ec);
  /// One attempt, no response awaited: returns once the request is written (or failed).
  std::error_code send_oneway(const message& msg);
  /// The same, with its own settings.
  std::error_code send_oneway(const message& msg, const send_options& options);

  /// Blocking: the topic's queues as the route gives them (sorted like the Java client's list).
  std::error_code fetch_queues(const std::string& topic, std::vector<message_queue>& out);

  /// A snapshot of the counters, summed over the loops (all zero before start()).
  [[nodiscard]] producer_stats stats() const;
  /// The configuration given to the constructor.
  [[nodiscard]] const producer_config& config() const noexcept;
  /// The I/O backend the loops run on once started (io_uring or epoll; with
  /// io_backend::automatic, epoll where io_uring cannot run); before start(): the one asked for.
  [[nodiscard]] io_backend backend() const noexcept;

 private:
  friend struct detail::producer_access;
  std::unique_ptr<detail::producer_impl> impl_;
};

}  // namespace rmq
