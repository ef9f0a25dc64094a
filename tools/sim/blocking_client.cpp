#include "blocking_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace rmq::sim {

blocking_client::blocking_client(const std::string& address) {
  const auto colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (colon == std::string::npos ||
      inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    connect_error_ = std::make_error_code(std::errc::invalid_argument);
    return;
  }
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    connect_error_ = std::error_code(errno, std::generic_category());
    return;
  }
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    connect_error_ = std::error_code(errno, std::generic_category());
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

blocking_client::~blocking_client() {
  if (fd_ >= 0) ::close(fd_);
}

bool blocking_client::send_raw(std::string_view bytes) {
  if (fd_ < 0) return false;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (errno == ECONNRESET) reset_ = true;
      closed_ = true;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::int32_t blocking_client::send(wire::remoting_command request, wire::serialize_type type,
                                   bool keep_opaque) {
  if (!keep_opaque) request.fields.opaque = next_opaque_++;
  send_raw(request.encode(type));
  return request.fields.opaque;
}

bool blocking_client::fill(std::chrono::steady_clock::time_point deadline) {
  if (fd_ < 0 || closed_) return false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char buffer[64 * 1024];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0 && errno == ECONNRESET) reset_ = true;
      closed_ = true;
      return false;
    }
    ++reads_;
    const auto ec =
        decoder_.feed(std::string_view(buffer, static_cast<std::size_t>(n)),
                      [this](const wire::command_view& view) {
                        frames_.emplace_back(view.type, wire::remoting_command::from_view(view));
                      });
    if (ec) {
      closed_ = true;
      return false;
    }
    return true;
  }
}

std::optional<wire::remoting_command> blocking_client::read(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (frames_.empty()) {
    if (!fill(deadline)) return std::nullopt;
  }
  auto [type, frame] = std::move(frames_.front());
  frames_.pop_front();
  last_type_ = type;
  return std::move(frame);
}

std::optional<wire::remoting_command> blocking_client::call(const wire::remoting_command& request,
                                                            wire::serialize_type type,
                                                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::int32_t opaque = send(request, type);
  std::deque<std::pair<wire::serialize_type, wire::remoting_command>> server_requests;
  std::optional<wire::remoting_command> found;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto frame = read(std::max(left, std::chrono::milliseconds(0)));
    if (!frame) break;
    const bool response = (frame->fields.flag & wire::flag_response) != 0;
    if (response && frame->fields.opaque == opaque) {
      found = std::move(frame);
      break;
    }
    if (!response) server_requests.emplace_back(last_type_, std::move(*frame));
  }
  frames_.insert(frames_.begin(), std::make_move_iterator(server_requests.begin()),
                 std::make_move_iterator(server_requests.end()));
  return found;
}

std::optional<wire::remoting_command> blocking_client::read_request(
    std::int32_t code, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::deque<std::pair<wire::serialize_type, wire::remoting_command>> others;
  std::optional<wire::remoting_command> found;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto frame = read(std::max(left, std::chrono::milliseconds(0)));
    if (!frame) break;
    if ((frame->fields.flag & wire::flag_response) == 0 && frame->fields.code == code) {
      found = std::move(frame);
      break;
    }
    others.emplace_back(last_type_, std::move(*frame));
  }
  frames_.insert(frames_.begin(), std::make_move_iterator(others.begin()),
                 std::make_move_iterator(others.end()));
  return found;
}

bool blocking_client::respond(std::int32_t opaque, std::int32_t code, wire::serialize_type type) {
  wire::remoting_command response;
  response.fields.code = code;
  response.fields.language = wire::language_code::java;
  response.fields.version = 409;
  response.fields.opaque = opaque;
  response.fields.flag = wire::flag_response;
  return send_raw(response.encode(type));
}

bool blocking_client::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_) {
    if (!fill(deadline) && !closed_) return false;
  }
  return true;
}

wire::remoting_command make_request(
    std::int32_t code, std::initializer_list<std::pair<std::string, std::string>> fields,
    std::string body, std::int32_t version) {
  wire::remoting_command request;
  request.fields.code = code;
  request.fields.language = wire::language_code::cpp;
  request.fields.version = version;
  for (const auto& [name, value] : fields) request.ext_fields.emplace_back(name, value);
  request.body = std::move(body);
  return request;
}

}  // namespace rmq::sim
