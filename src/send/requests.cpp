#include "send/requests.hpp"

#include "io/async.hpp"
#include "net/connection_core.hpp"
#include "rmq/producer.hpp"
#include "send/coro_bridge.hpp"
#include "send/loop_sender.hpp"
#include "wire/codes.hpp"
#include "wire/compression.hpp"
#include "wire/headers.hpp"
#include "wire/properties.hpp"
#include "wire/sys_flag.hpp"
#include "wire/validation.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <random>
#include <vector>

namespace rmq::send {

// --- reply_table -----------------------------------------------------------------------------

bool reply_table::add(const std::string& correlation_id, std::shared_ptr<channel> waiter) {
  const std::lock_guard lock(mutex_);
  if (waiting_.size() >= capacity_) return false;
  return waiting_.emplace(correlation_id, std::move(waiter)).second;
}

void reply_table::remove(const std::string& correlation_id) noexcept {
  const std::lock_guard lock(mutex_);
  waiting_.erase(correlation_id);
}

bool reply_table::deliver(std::string_view correlation_id, message&& reply) {
  std::shared_ptr<channel> waiter;
  {
    const std::lock_guard lock(mutex_);
    const auto it = waiting_.find(std::string(correlation_id));
    if (it == waiting_.end()) return false;
    waiter = std::move(it->second);
    waiting_.erase(it);
  }
  // Outside the lock: the channel hands the reply to the request's loop.
  return waiter->try_send(std::error_code{}, std::move(reply));
}

// --- wire ------------------------------------------------------------------------------------

std::string make_correlation_id() {
  // A version 4 UUID, as Java's UUID.randomUUID() prints it.
  thread_local std::mt19937_64 random(std::random_device{}());
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 8) {
    std::uint64_t word = random();
    for (std::size_t j = 0; j < 8; ++j, word >>= 8) bytes[i + j] = static_cast<std::uint8_t>(word);
  }
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0F) | 0x40);
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3F) | 0x80);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 0x0F];
  }
  return out;
}

bool decode_reply(const wire::command_view& push, message& reply, std::string& correlation_id) {
  wire::reply_message_request_header header;
  if (header.parse(push)) return false;
  std::vector<wire::property_ref> properties;
  wire::decode_properties(header.properties.value_or(std::string_view{}), properties);
  reply = message();
  correlation_id.clear();
  bool correlated = false;
  for (const wire::property_ref& p : properties) {
    namespace names = wire::property_names;
    if (p.name == names::correlation_id) {
      correlation_id = p.value;  // the last one, as Java's map keeps it
      correlated = true;
    } else if (p.name == names::tags) {
      reply.set_tags(std::string(p.value));
    } else if (p.name == names::keys) {
      reply.set_keys(std::string(p.value));
    } else if (p.name == names::uniq_key) {
      reply.set_uniq_key(std::string(p.value));
    } else if (!wire::is_reserved_property_name(p.name)) {
      reply.put_property(p.name, p.value);
    }
  }
  if (!correlated) return false;
  reply.set_topic(std::string(header.topic));
  reply.set_flag(header.flag);
  if (wire::sys_flag::is_compressed(header.sys_flag)) {
    const auto type = wire::compression_from_sys_flag(header.sys_flag);
    wire::body_codec codec;
    if (!type || codec.decompress(*type, push.body, reply.body())) return false;
  } else {
    reply.set_body(std::string(push.body));
  }
  return true;
}

// --- request_run -----------------------------------------------------------------------------

void request_run::run_on(loop_sender& target) {
  target.requests().run(*this);
}

// --- loop_requests ---------------------------------------------------------------------------

namespace {

using asio::experimental::as_tuple;
using asio::experimental::deferred;
using asio::experimental::make_parallel_group;
using asio::experimental::wait_for_one;

asio::awaitable<void> request_body(loop_requests& self, request_run& run, std::uint64_t key,
                                   producer& owner, const message& msg, send_options options) {
  co_await asio::this_coro::throw_if_cancelled(false);  // every step reports its own end
  request_result out;
  out.request.queue.topic = msg.topic();
  std::error_code ec;
  reply_table& replies = *self.settings().replies;
  const std::chrono::milliseconds budget =
      options.timeout.count() != 0 ? options.timeout : self.settings().config.send_timeout;
  const io::clock::time_point deadline = io::clock::now() + budget;  // validated: at most 1 h
  const auto cancelled = []() -> asio::awaitable<bool> {
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    co_return state.cancelled() != asio::cancellation_type::none;
  };
  std::string correlation_id;
  try {
    // The reply may be stored on any broker of the cluster and pushed from there: every master
    // we know must have our client id and connection first (the Java client heartbeats all of
    // them). The request's own route comes first, so that its brokers are among them.
    auto [prepared] = co_await async_await(self.owner().prepare_request(msg.topic(), deadline),
                                           as_tuple(asio::use_awaitable));
    ec = prepared;
    if (!ec && co_await cancelled()) ec = make_error_code(asio::error::operation_aborted);
    std::shared_ptr<reply_table::channel> reply;
    if (!ec) {
      correlation_id = make_correlation_id();
      out.correlation_id = correlation_id;
      reply = std::make_shared<reply_table::channel>(co_await asio::this_coro::executor, 1);
      // Registered before the send: a reply may come before the send's own response.
      if (!replies.add(correlation_id, reply)) {
        ec = make_error_code(errc::backpressure_full);
        correlation_id.clear();
      }
    }
    if (!ec) {
      detail::correlation_marker marker{detail::send_purpose::request, correlation_id,
                                        self.settings().client_id, std::to_string(budget.count())};
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - io::clock::now());
      options.timeout = std::max(left, std::chrono::milliseconds(1));
      auto [send_ec, sent] = co_await detail::initiate_send(owner, as_tuple(asio::use_awaitable),
                                                            &msg, detail::send_kind::sync,
                                                            std::move(options), std::move(marker));
      out.request = std::move(sent);
      ec = send_ec;
      if (!ec) {
        auto [order, received, answer, slept] =
            co_await make_parallel_group(
                reply->async_receive(deferred),
                io::async_sleep_until(self.owner().loop(), deadline, deferred))
                .async_wait(wait_for_one(), asio::use_awaitable);
        if (order[0] == 0 && !received) {  // a reply wins over a cancellation that came with it
          out.reply = std::move(answer);
        } else if (co_await cancelled()) {
          ec = make_error_code(asio::error::operation_aborted);
        } else {
          ec = make_error_code(errc::timed_out);
          out.request.diagnostics.remark = "no reply within the request's timeout";
        }
      }
    }
  } catch (const std::exception& e) {
    if (!ec) ec = make_error_code(errc::shutting_down);
    self.settings().logger().error("rmq: request failed: {}", e.what());
  } catch (...) {
    if (!ec) ec = make_error_code(errc::shutting_down);
    self.settings().logger().error("rmq: request failed: a non-standard exception");
  }
  if (!correlation_id.empty()) replies.remove(correlation_id);  // a later reply is dropped
  run.finish(ec, std::move(out), self.operations(), key);
}

}  // namespace

loop_requests::loop_requests(loop_sender& owner, const loop_settings& settings,
                             loop_counters& counters, operation_registry& operations)
    : owner_(owner), settings_(settings), counters_(counters), operations_(operations) {}

void loop_requests::run(request_run& run) {
  counters_.requests.bump();
  if (operations_.closing()) {
    run.fail(make_error_code(errc::shutting_down));
    return;
  }
  // As a send's own timeout: 1 ms..1 h, 0 for the configured one.
  if (run.options_.timeout.count() < 0 || run.options_.timeout > std::chrono::hours(1)) {
    run.fail(make_error_code(errc::invalid_argument));
    return;
  }
  const std::uint64_t key = operations_.enter(run.work());
  asio::co_spawn(
      owner_.loop().get_executor(),
      request_body(*this, run, key, run.owner_, run.msg_, std::move(run.options_)),
      asio::bind_cancellation_slot(run.work()->signal.slot(), [](std::exception_ptr) {}));
}

void loop_requests::on_reply(net::connection_core& core, const wire::command_view& push) {
  // Answered first, matched or not (ClientRemotingProcessor.receiveReplyMessage).
  message reply;
  std::string correlation_id;
  const bool decoded = decode_reply(push, reply, correlation_id);
  core.submit_unsolicited([&](std::string& out) {
    wire::command_fields fields;
    fields.code = decoded ? wire::response_code::success : wire::response_code::system_error;
    fields.language = wire::language_code::cpp;
    fields.version = settings_.config.protocol_version;
    fields.opaque = push.fields.opaque;
    fields.flag = wire::flag_response;
    wire::frame_writer writer(
        out, push.type, fields,
        decoded ? std::nullopt : std::optional<std::string_view>("process reply message fail"));
    writer.finish();
  });
  if (!decoded) {
    counters_.replies_dropped.bump();
    if (std::has_single_bit(++undecodable_)) {  // rate-limited: 1st, 2nd, 4th, 8th...
      settings_.logger().warn("rmq: a reply push that does not decode was dropped ({} so far)",
                              undecodable_);
    }
    return;
  }
  if (settings_.replies->deliver(correlation_id, std::move(reply))) {
    counters_.replies.bump();
  } else {
    counters_.replies_dropped.bump();  // late (its request timed out) or not ours
  }
}

}  // namespace rmq::send
