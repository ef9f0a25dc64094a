#include "send/transactions.hpp"

#include "io/async.hpp"
#include "net/request.hpp"
#include "rmq/producer.hpp"
#include "send/coro_bridge.hpp"
#include "send/loop_sender.hpp"
#include "wire/codes.hpp"
#include "wire/compression.hpp"
#include "wire/headers.hpp"
#include "wire/namespace.hpp"
#include "wire/properties.hpp"
#include "wire/stored_message.hpp"
#include "wire/sys_flag.hpp"
#include "wire/validation.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <exception>
#include <iterator>
#include <tuple>
#include <utility>
#include <vector>

namespace rmq {

std::string_view to_string(transaction_state state) noexcept {
  switch (state) {
    case transaction_state::commit:
      return "COMMIT_MESSAGE";
    case transaction_state::rollback:
      return "ROLLBACK_MESSAGE";
    case transaction_state::unknown:
      return "UNKNOW";
  }
  return "UNKNOW";
}

}  // namespace rmq

namespace rmq::send {
namespace {

using asio::experimental::deferred;
using asio::experimental::make_parallel_group;
using asio::experimental::wait_for_one;

/// What a user function's failure leaves in a result: its what(), bounded.
constexpr std::size_t max_error_text = 512;

std::string bounded(std::string text) {
  if (text.size() > max_error_text) text.resize(max_error_text);
  return text;
}

std::string describe_exception(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return bounded(std::string("threw: ") + ex.what());
  } catch (...) {
    return "threw a non-standard exception";
  }
}

/// Whether a cancellation reached the running coroutine (the user's, or the shutdown's).
asio::awaitable<bool> cancelled() {
  const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

/// Where user code answers: a channel on the loop, which the waiting coroutine may stop
/// listening to (a timeout) while the code still runs.
using answer_channel =
    asio::experimental::channel<void(std::error_code, transaction_state, std::string)>;

/// Runs user transaction code until it answers or `deadline` passes; unknown (and `error` set)
/// when it throws, times out or is cancelled. It may outlive the wait, so it gets copies of
/// `args`, and answers only through a weak reference to the channel:
/// - a coroutine is spawned on this loop with a cancellation signal of its own, emitted
///   (terminal) when the wait ends without its answer;
/// - a plain function runs on the transaction threads; when the wait ends first it is skipped if
///   it has not started, and its late answer is dropped. Its answer reaches the loop through a
///   post guarded by the producer's hub, so a function that returns after the loops are gone
///   touches nothing of theirs.
template <class... Args, class... Values>
asio::awaitable<transaction_state> run_user_code(loop_transactions& self,
                                                 const transaction_function<Args...>& fn,
                                                 io::clock::time_point deadline, std::string& error,
                                                 const Values&... args) {
  const asio::any_io_executor ex = self.loop().get_executor();
  auto answer = std::make_shared<answer_channel>(ex, 1);
  const std::weak_ptr<answer_channel> to = answer;
  auto copies = std::make_shared<std::tuple<Values...>>(args...);
  std::shared_ptr<asio::cancellation_signal> stop;
  auto abandoned = std::make_shared<std::atomic<bool>>(false);
  if (const auto& coroutine = fn.as_awaitable()) {
    stop = std::make_shared<asio::cancellation_signal>();
    asio::co_spawn(
        ex,
        [coroutine, copies]() -> asio::awaitable<transaction_state> {
          co_return co_await std::apply(coroutine, *copies);  // a throw here is its answer too
        },
        asio::bind_cancellation_slot(
            stop->slot(), [to, stop](std::exception_ptr e, transaction_state state) {
              if (const auto channel = to.lock()) {
                (void)channel->try_send(std::error_code{}, e ? transaction_state::unknown : state,
                                        e ? describe_exception(e) : std::string());
              }
            }));
  } else {
    const std::shared_ptr<detail::cancel_hub> hub = self.settings().hub;
    io::loop* const loop = &self.loop();
    const bool queued =
        self.settings().threads->try_run([plain = fn.as_plain(), copies, abandoned, hub, loop, to] {
          if (abandoned->load()) return;  // nobody waits for it any more
          transaction_state state = transaction_state::unknown;
          std::string failure;
          try {
            state = std::apply(plain, *copies);
          } catch (...) {
            failure = describe_exception(std::current_exception());
          }
          const std::lock_guard lock(hub->mutex);
          if (!hub->open || abandoned->load()) return;
          loop->post([to, state, failure = std::move(failure)]() mutable {
            if (const auto channel = to.lock()) {
              (void)channel->try_send(std::error_code{}, state, std::move(failure));
            }
          });
        });
    if (!queued) {
      error = "not run: too many transaction functions wait for a thread";
      co_return transaction_state::unknown;
    }
  }
  auto [order, received, state, failure, slept] =
      co_await make_parallel_group(answer->async_receive(deferred),
                                   io::async_sleep_until(self.loop(), deadline, deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
  if (order[0] == 0 && !received) {  // an answer wins over a cancellation that came with it
    if (failure.empty()) co_return state;
    error = std::move(failure);
    co_return transaction_state::unknown;
  }
  error = co_await cancelled() ? "cancelled" : "timed out";
  abandoned->store(true);
  if (stop) stop->emit(asio::cancellation_type::terminal);
  co_return transaction_state::unknown;
}

}  // namespace

// --- transaction_threads -----------------------------------------------------------------

transaction_threads::~transaction_threads() {
  if (pool_) pool_->join();
}

bool transaction_threads::try_run(std::function<void()> fn) {
  if (pending_.fetch_add(1, std::memory_order_relaxed) >= queue_limit) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  asio::thread_pool* pool = nullptr;
  {
    const std::lock_guard lock(mutex_);
    if (!pool_) pool_ = std::make_unique<asio::thread_pool>(count_);
    pool = pool_.get();
  }
  asio::post(*pool, [this, f = std::move(fn)] {
    f();
    pending_.fetch_sub(1, std::memory_order_relaxed);
  });
  return true;
}

bool transaction_threads::on_transaction_thread() const {
  const std::lock_guard lock(mutex_);
  return pool_ && pool_->get_executor().running_in_this_thread();
}

// --- wire helpers --------------------------------------------------------------------------

void write_end_transaction(std::string& out, std::int32_t opaque,
                           const end_transaction_request& request, const frame_settings& frame) {
  wire::command_fields fields;
  fields.code = wire::request_code::end_transaction;
  fields.language = frame.language;
  fields.version = frame.version;
  fields.opaque = opaque;
  fields.flag = wire::flag_oneway;
  wire::frame_writer writer(out, frame.serialization, fields);
  wire::end_transaction_request_header header;
  header.producer_group = frame.group;
  header.tran_state_table_offset = request.tran_state_table_offset;
  header.commit_log_offset = request.commit_log_offset;
  header.commit_or_rollback = commit_or_rollback(request.state);
  header.from_transaction_check = request.from_check;
  header.msg_id = request.msg_id;
  if (request.transaction_id) header.transaction_id = *request.transaction_id;
  if (request.with_topic) header.topic = request.topic;
  if (request.with_broker_name) header.broker_name = request.broker_name;
  header.write(writer);
  writer.finish();
}

std::optional<end_transaction_request> end_request_for(const send_result& half,
                                                       transaction_state state,
                                                       std::string address) {
  const std::optional<std::int64_t> offset = commit_log_offset_of(half.offset_msg_id.view());
  if (!offset) return std::nullopt;
  end_transaction_request request;
  request.address = std::move(address);
  request.broker_name = half.queue.broker_name;
  request.msg_id = half.msg_id.view();
  request.commit_log_offset = *offset;
  request.tran_state_table_offset = half.queue_offset;
  request.state = state;
  if (!half.transaction_id.empty()) {
    request.transaction_id = std::string(half.transaction_id.view());
    request.topic = half.queue.topic;
    request.with_topic = true;
  }
  return request;
}

std::int32_t commit_or_rollback(transaction_state state) noexcept {
  switch (state) {
    case transaction_state::commit:
      return wire::sys_flag::transaction_commit;
    case transaction_state::rollback:
      return wire::sys_flag::transaction_rollback;
    case transaction_state::unknown:
      return wire::sys_flag::transaction_not_type;
  }
  return wire::sys_flag::transaction_not_type;
}

std::optional<std::int64_t> commit_log_offset_of(std::string_view offset_msg_id) {
  // 8 hex digits of IPv4 and 8 of port, or 32 and 8 for IPv6; then 16 of the offset.
  if (offset_msg_id.size() != 32 && offset_msg_id.size() != 56) return std::nullopt;
  const std::string_view digits = offset_msg_id.substr(offset_msg_id.size() - 16);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return static_cast<std::int64_t>(value);
}

bool decode_check(const wire::command_view& request, std::string_view address,
                  transaction_check& out, end_transaction_request& answer) {
  wire::check_transaction_state_request_header header;
  if (header.parse(request)) return false;
  std::string_view body = request.body;
  wire::stored_message_view stored;
  if (wire::decode_stored_message(body, stored)) return false;
  std::vector<wire::property_ref> properties;
  wire::decode_properties(stored.properties, properties);
  const auto property = [&](std::string_view name) -> std::string_view {
    std::string_view value;
    for (const wire::property_ref& p : properties) {
      if (p.name == name) value = p.value;  // the last one, as Java's map keeps it
    }
    return value;
  };
  const std::string_view real_topic = property("REAL_TOPIC");
  out.topic = std::string(real_topic.empty() ? stored.topic : real_topic);
  const std::string_view uniq_key = property(wire::property_names::uniq_key);
  out.msg_id = std::string(header.msg_id.value_or(uniq_key));
  out.transaction_id = std::string(header.transaction_id.value_or(out.msg_id));
  out.offset_msg_id = std::string(header.offset_msg_id.value_or(std::string_view{}));
  out.broker_address = std::string(address);
  out.tags = std::string(property(wire::property_names::tags));
  out.keys = std::string(property(wire::property_names::keys));
  std::from_chars(
      property("TRANSACTION_CHECK_TIMES").data(),
      property("TRANSACTION_CHECK_TIMES").data() + property("TRANSACTION_CHECK_TIMES").size(),
      out.check_times);
  if (wire::sys_flag::is_compressed(stored.sys_flag)) {
    const auto type = wire::compression_from_sys_flag(stored.sys_flag);
    wire::body_codec codec;
    if (!type || codec.decompress(*type, stored.body, out.body)) return false;
  } else {
    out.body = std::string(stored.body);
  }
  // What the broker adds to a half message it checks is not the user's either.
  constexpr std::string_view broker_added[] = {"TRANSACTION_CHECK_TIMES", "__transactionId__"};
  for (const wire::property_ref& p : properties) {
    if (wire::is_reserved_property_name(p.name) ||
        std::find(std::begin(broker_added), std::end(broker_added), p.name) !=
            std::end(broker_added)) {
      continue;
    }
    out.properties.emplace_back(p.name, p.value);
  }
  // The answer copies what identifies the checked copy (Java's checkTransactionState).
  answer.address = std::string(address);
  answer.msg_id = out.msg_id;
  answer.transaction_id = out.transaction_id;
  answer.commit_log_offset = header.commit_log_offset;
  answer.tran_state_table_offset = header.tran_state_table_offset;
  answer.from_check = true;
  answer.with_broker_name = header.broker_name.has_value();
  answer.broker_name = std::string(header.broker_name.value_or(std::string_view{}));
  answer.with_topic = header.topic.has_value();
  answer.topic = std::string(header.topic.value_or(std::string_view{}));
  return true;
}

// --- transaction_run -------------------------------------------------------------------------

void transaction_run::run_on(loop_sender& target) {
  target.transactions().run(*this);
}

// --- loop_transactions -----------------------------------------------------------------------

loop_transactions::loop_transactions(const loop_settings& settings, io::loop& loop,
                                     route::broker_registry& brokers, net::connection_pool& pool,
                                     loop_counters& counters, operation_registry& operations)
    : settings_(settings),
      loop_(loop),
      brokers_(brokers),
      pool_(pool),
      counters_(counters),
      operations_(operations) {}

namespace {

/// end_request_for, addressed to the master of the broker that stored the half message.
std::optional<end_transaction_request> end_request_to_master(loop_transactions& self,
                                                             const send_result& half,
                                                             transaction_state state,
                                                             std::error_code& ec) {
  const std::optional<route::broker_id> broker = self.brokers().find(half.queue.broker_name);
  if (!broker || self.brokers()[*broker].master_address.empty()) {
    ec = make_error_code(errc::no_route);
    return std::nullopt;
  }
  auto request = end_request_for(half, state, self.brokers()[*broker].master_address);
  if (!request) {
    ec = make_error_code(errc::invalid_response);
  } else if (request->with_topic) {
    // The result names the user's topic; the broker knows it in the namespace.
    request->topic = wire::wrap_namespace(self.settings().config.name_space, request->topic);
  }
  return request;
}

asio::awaitable<void> transaction_body(loop_transactions& self, transaction_run& run,
                                       std::uint64_t key, producer& owner, const message& msg,
                                       local_transaction& local, send_options options) {
  transaction_result out;
  std::error_code ec;
  // A cancellation ends what it reaches (the half message's send, the local transaction) and
  // nothing after it: END_TRANSACTION still goes out.
  co_await asio::this_coro::throw_if_cancelled(false);
  try {
    auto [send_ec, half] = co_await detail::initiate_send(
        owner, asio::experimental::as_tuple(asio::use_awaitable), &msg, detail::send_kind::async,
        std::move(options), detail::half_message_marker{});
    out.send = std::move(half);
    if (send_ec) {
      ec = send_ec;
    } else {
      if (out.send.status != send_status::send_ok) {
        out.state = transaction_state::rollback;  // stored, but not as asked (Java's rule)
      } else if (run.cancel_requested()) {
        out.local_error = "cancelled";  // before it could start: it does not run
      } else {
        const auto deadline = io::clock::now() + self.settings().config.local_transaction_timeout;
        out.state = co_await run_user_code(self, local, deadline, out.local_error, msg, out.send);
      }
      // A cancellation that ended the local transaction is the operation's outcome, with what
      // was done (the half message stored, UNKNOW sent below).
      if (out.local_error == "cancelled") ec = make_error_code(asio::error::operation_aborted);
      std::error_code end_ec;
      if (auto request = end_request_to_master(self, out.send, out.state, end_ec)) {
        auto [write_error] =
            co_await async_await(self.end_transaction(std::move(*request)),
                                 asio::experimental::as_tuple(asio::use_awaitable));
        end_ec = write_error;
      }
      out.end_error = end_ec;
      if (end_ec) {
        self.settings().logger().warn(
            "rmq: END_TRANSACTION of {} to {} not sent ({}); the broker will check back",
            out.send.msg_id.view(), out.send.queue.broker_name, end_ec.message());
      }
    }
  } catch (const std::exception& e) {
    // Only the library's own failures reach here (allocation): the operation still completes.
    if (!ec) ec = make_error_code(errc::shutting_down);
    self.settings().logger().error("rmq: transactional send failed: {}", e.what());
  } catch (...) {
    if (!ec) ec = make_error_code(errc::shutting_down);
    self.settings().logger().error("rmq: transactional send failed: a non-standard exception");
  }
  run.finish(ec, std::move(out), self.operations(), key);
}

asio::awaitable<void> check_body(loop_transactions& self, std::uint64_t key,
                                 transaction_check check, end_transaction_request answer,
                                 std::size_t& checks) {
  std::string error;
  co_await asio::this_coro::throw_if_cancelled(false);  // the answer still goes out
  try {
    const auto deadline = io::clock::now() + self.settings().config.check_timeout;
    answer.state =
        co_await run_user_code(self, self.settings().config.checker, deadline, error, check);
    if (!error.empty() && std::has_single_bit(++self.checker_failures())) {  // rate-limited
      self.settings().logger().warn(
          "rmq: the transaction checker {} for {} ({} so far): answering UNKNOW", error,
          check.msg_id, self.checker_failures());
    }
    // Counted when the answer is handed to the connection, so that whoever sees the answer
    // arrive sees the count too. An answer that is then not written (the connection is lost)
    // only makes the broker ask again.
    self.counters().transaction_checks.bump();
    co_await async_await(self.end_transaction(std::move(answer)),
                         asio::experimental::as_tuple(asio::use_awaitable));
  } catch (const std::exception& e) {
    self.settings().logger().error("rmq: transaction check failed: {}", e.what());
  } catch (...) {
    self.settings().logger().error("rmq: transaction check failed: a non-standard exception");
  }
  --checks;
  self.operations().leave(key);
}

}  // namespace

void loop_transactions::run(transaction_run& run) {
  counters_.transactions.bump();
  if (operations_.closing()) {
    run.fail(make_error_code(errc::shutting_down));
    return;
  }
  if (!run.local_) {  // Java refuses a null transaction listener too
    run.fail(make_error_code(errc::invalid_argument));
    return;
  }
  const std::uint64_t key = operations_.enter(run.work());
  asio::co_spawn(
      loop_.get_executor(),
      transaction_body(*this, run, key, run.owner_, run.msg_, run.local_, std::move(run.options_)),
      asio::bind_cancellation_slot(run.work()->signal.slot(), [](std::exception_ptr) {}));
}

void loop_transactions::on_check(const std::string& address, const wire::command_view& request) {
  transaction_check check;
  end_transaction_request answer;
  if (!settings_.config.checker || operations_.closing() ||
      checks_ >= settings_.config.max_concurrent_checks ||
      !decode_check(request, address, check, answer)) {
    counters_.checks_ignored.bump();
    // The 1st, 2nd, 4th, 8th... only: a broker full of pending half messages cannot flood the log.
    if (!std::has_single_bit(counters_.checks_ignored.get())) return;
    const bool undecodable = settings_.config.checker && !operations_.closing() &&
                             checks_ < settings_.config.max_concurrent_checks;
    settings_.logger().warn("rmq: transaction check from {} ignored ({} so far): {}", address,
                            counters_.checks_ignored.get(),
                            undecodable                 ? "it does not decode"
                            : !settings_.config.checker ? "no checker is configured"
                            : operations_.closing()     ? "shutting down"
                                                        : "too many checks under way");
    return;
  }
  // The checker sees the topic as its user names it (Java's checkTransactionState).
  const std::string& name_space = settings_.config.name_space;
  if (!name_space.empty()) check.topic = wire::without_namespace(check.topic, name_space);
  ++checks_;
  auto work = std::make_shared<tracked_work>();
  const std::uint64_t key = operations_.enter(work);
  asio::co_spawn(loop_.get_executor(),
                 check_body(*this, key, std::move(check), std::move(answer), checks_),
                 asio::bind_cancellation_slot(work->signal.slot(), [](std::exception_ptr) {}));
}

coro<std::error_code> loop_transactions::end_transaction(end_transaction_request request) {
  const producer_config& config = settings_.config;
  const frame_settings frame{settings_.group, config.protocol_version, settings_.serialization};
  const auto encode = [&](std::string& out, std::int32_t opaque) {
    write_end_transaction(out, opaque, request, frame);
  };
  const net::response r =
      co_await net::request(pool_.get(request.address), encode,
                            io::clock::now() + config.send_timeout, net::request_kind::oneway);
  co_return r.error;
}

}  // namespace rmq::send
