// "host:port" → endpoint, without ever blocking the loop. Numeric addresses ("10.0.0.1:9876",
// "[::1]:9876") are parsed on the spot; names go to the loop's resolver thread (getaddrinfo),
// and the result comes back to the loop through its queue. The caller's deadline bounds the
// wait: at the deadline the operation completes with rmq::errc::timed_out even if getaddrinfo
// is still running (its late answer is dropped).
//
//   auto ep = co_await async_resolve(loop, "broker-a:10911", deadline, asio::use_awaitable);
//
// Signature void(std::error_code, endpoint). Errors: rmq::errc::name_resolution_failed (bad
// syntax, unknown host), rmq::errc::timed_out, asio::error::operation_aborted (cancellation
// slot, or the loop stopping). Destroying the loop joins the resolver thread, which may wait
// for a getaddrinfo call in progress.
#pragma once

#include "io/async.hpp"
#include "io/tcp.hpp"
#include "rmq/error.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace rmq::io {

/// Splits and parses a numeric "host:port"; nullopt when the host is not a literal address.
/// `ec` reports bad syntax (no "host:port" shape, missing or invalid port) as
/// rmq::errc::invalid_address; async_resolve reports the same as name_resolution_failed.
[[nodiscard]] std::optional<endpoint> parse_endpoint(std::string_view host_port,
                                                     std::error_code& ec);

namespace detail {

struct resolve_job final : task {
  resolve_job(loop& l, std::string_view host_port);
  static void on_done(task* t, action a) noexcept;

  loop& owner;
  std::string host;
  std::string port;
  // Written by the resolver thread before it posts this task; read on the loop after.
  std::error_code ec;
  endpoint result;
  // Loop thread only: the waiting operation, cleared when it completes another way.
  void (*deliver)(void* op, std::error_code, const endpoint&) noexcept = nullptr;
  void* op = nullptr;
};

/// One helper thread per loop, created on first use, joined at the loop's destruction.
class resolver_service final : public asio::execution_context::service {
 public:
  using key_type = resolver_service;
  inline static asio::execution_context::id id;

  explicit resolver_service(asio::execution_context& ctx);
  ~resolver_service() override;
  void submit(resolve_job* job);

 private:
  void shutdown() override;
  void run() noexcept;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<resolve_job*> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

void submit_resolve(loop& l, resolve_job* job);

template <typename Handler>
struct resolve_op final : handler_storage<Handler>, timer_node, task {
  resolve_op(Handler&& h, loop& l, std::string_view hp, clock::time_point deadline)
      : handler_storage<Handler>(std::move(h), l),
        timer_node(&on_timer),
        task(&on_task),
        loop_(l),
        host_port(hp),
        until(deadline) {}

  void start() {
    std::error_code ec;
    if (loop_.stopping()) {
      finish_later(asio::error::operation_aborted, {});
      return;
    }
    if (auto ep = parse_endpoint(host_port, ec); ep || ec) {
      finish_later(ec ? std::error_code(rmq::errc::name_resolution_failed) : ec,
                   ep.value_or(endpoint{}));
      return;
    }
    if (until <= clock::now()) {
      finish_later(rmq::errc::timed_out, {});
      return;
    }
    auto slot = asio::get_associated_cancellation_slot(this->handler_);
    if (slot.is_connected()) slot.template emplace<canceller>(this);
    job = new resolve_job(loop_, host_port);
    job->op = this;
    job->deliver = &deliver;
    loop_.add_timer(*this, until);
    submit_resolve(loop_, job);
  }

  struct canceller {
    resolve_op* op;
    void operator()(asio::cancellation_type t) const {
      if (t == asio::cancellation_type::none || op->job == nullptr) return;
      op->loop_.cancel_timer(*op);
      op->detach();
      op->finish_later(asio::error::operation_aborted, {});
    }
  };

  void detach() noexcept {
    if (job != nullptr) std::exchange(job, nullptr)->op = nullptr;
  }
  void finish_later(std::error_code ec, const endpoint& ep) {
    result_ec = ec;
    result = ep;
    finishing = true;
    loop_.defer(*this);
  }
  void finish(std::error_code ec, endpoint ep) {
    auto slot = asio::get_associated_cancellation_slot(this->handler_);
    if (slot.is_connected()) slot.clear();
    complete_op(this, ec, ep);
  }
  static void deliver(void* p, std::error_code ec, const endpoint& ep) noexcept {
    auto* self = static_cast<resolve_op*>(p);
    self->job = nullptr;
    self->loop_.cancel_timer(*self);
    self->finish(ec, ep);
  }
  static void on_timer(timer_node* t, std::error_code ec) noexcept {
    auto* self = static_cast<resolve_op*>(t);
    self->detach();
    self->finish(ec ? ec : std::error_code(rmq::errc::timed_out), {});
  }
  static void on_task(task* t, action a) noexcept {
    auto* self = static_cast<resolve_op*>(t);
    if (a == action::destroy) {
      destroy_op(self);
    } else if (self->finishing) {
      self->finish(self->result_ec, self->result);
    } else {
      self->start();
    }
  }

  loop& loop_;
  std::string host_port;
  clock::time_point until;
  resolve_job* job = nullptr;
  std::error_code result_ec;
  endpoint result;
  bool finishing = false;
};

}  // namespace detail

template <typename Token>
auto async_resolve(loop& l, std::string_view host_port, clock::time_point deadline, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code, endpoint)>(
      [](auto handler, loop& lp, std::string_view hp, clock::time_point until) {
        using op_t = detail::resolve_op<std::decay_t<decltype(handler)>>;
        detail::start_on_loop(lp, detail::make_op<op_t>(std::move(handler), lp, hp, until));
      },
      token, std::ref(l), host_port, deadline);
}

}  // namespace rmq::io
