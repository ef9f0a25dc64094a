#include "io/resolve.hpp"

#include <asio/ip/address.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace rmq::io {

namespace {

bool split_host_port(std::string_view text, std::string_view& host, std::string_view& port) {
  if (!text.empty() && text.front() == '[') {  // [v6]:port
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  return !host.empty() && !port.empty();
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  unsigned value = 0;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

std::optional<endpoint> parse_endpoint(std::string_view host_port, std::error_code& ec) {
  ec = {};
  std::string_view host;
  std::string_view port_text;
  std::uint16_t port = 0;
  if (!split_host_port(host_port, host, port_text) || !parse_port(port_text, port)) {
    ec = rmq::errc::invalid_address;
    return std::nullopt;
  }
  std::error_code parse_ec;
  const auto address = asio::ip::make_address(std::string(host), parse_ec);
  if (parse_ec) return std::nullopt;  // a name: needs the resolver thread
  return endpoint(address, port);
}

namespace detail {

resolve_job::resolve_job(loop& l, std::string_view host_port) : task(&on_done), owner(l) {
  std::string_view h;
  std::string_view p;
  split_host_port(host_port, h, p);  // already validated by parse_endpoint
  host.assign(h);
  port.assign(p);
}

void resolve_job::on_done(task* t, action a) noexcept {
  auto* job = static_cast<resolve_job*>(t);
  // Either the waiting operation is still there (deliver), or it completed already by
  // deadline/cancel/stop and the answer is dropped. Both ways the job ends here.
  if (a == action::run && job->op != nullptr) job->deliver(job->op, job->ec, job->result);
  delete job;
}

resolver_service::resolver_service(asio::execution_context& ctx)
    : asio::execution_context::service(ctx) {}

resolver_service::~resolver_service() {
  shutdown();
}

void resolver_service::submit(resolve_job* job) {
  std::lock_guard lock(mutex_);
  if (!thread_.joinable() && !stop_) thread_ = std::thread([this] { run(); });
  jobs_.push_back(job);
  cv_.notify_one();
}

void resolver_service::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  // Jobs never started: their operations were completed by the loop's stop already.
  for (resolve_job* job : jobs_) delete job;
  jobs_.clear();
}

void resolver_service::run() noexcept {
  for (;;) {
    resolve_job* job = nullptr;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = jobs_.front();
      jobs_.pop_front();
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(job->host.c_str(), job->port.c_str(), &hints, &list);
    if (rc != 0 || list == nullptr) {
      job->ec = rmq::errc::name_resolution_failed;
    } else {
      endpoint ep;
      std::memcpy(ep.data(), list->ai_addr, list->ai_addrlen);
      ep.resize(list->ai_addrlen);
      job->result = ep;
    }
    if (list != nullptr) ::freeaddrinfo(list);
    job->owner.post(*job);
  }
}

void submit_resolve(loop& l, resolve_job* job) {
  asio::use_service<resolver_service>(l).submit(job);
}

}  // namespace detail
}  // namespace rmq::io
