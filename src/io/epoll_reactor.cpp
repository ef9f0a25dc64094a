#include "io/epoll_reactor.hpp"

#include <climits>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace rmq::io {

epoll_reactor::epoll_reactor(int wake_fd, spdlog::logger& logger)
    : wake_fd_(wake_fd), logger_(logger) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: read only when written
  ev.data.ptr = nullptr;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    const int err = errno;
    ::close(epoll_fd_);
    throw std::system_error(err, std::system_category(), "epoll_ctl(eventfd)");
  }
  ready_.reserve(1024);
  dispatching_.reserve(1024);
}

epoll_reactor::~epoll_reactor() {
  // Sockets may outlive the loop's run (closed later, or destroyed open): they must not reach
  // back into a reactor that is gone. Closing the epoll set drops their registrations.
  for (epoll_source* s = sources_; s != nullptr;) {
    epoll_source* next = s->next_;
    s->prev_ = s->next_ = nullptr;
    s->watched_ = false;
    s = next;
  }
  ::close(epoll_fd_);
}

std::error_code epoll_reactor::watch(int fd, epoll_source& source) noexcept {
  if (source.watched_) return {};
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &source;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return {errno, std::system_category()};
  }
  source.watched_ = true;
  source.prev_ = nullptr;
  source.next_ = sources_;
  if (sources_ != nullptr) sources_->prev_ = &source;
  sources_ = &source;
  return {};
}

void epoll_reactor::unwatch(int fd, epoll_source& source) noexcept {
  if (!source.watched_) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  if (source.prev_ != nullptr) {
    source.prev_->next_ = source.next_;
  } else {
    sources_ = source.next_;
  }
  if (source.next_ != nullptr) source.next_->prev_ = source.prev_;
  source.prev_ = source.next_ = nullptr;
  source.watched_ = false;
}

std::vector<epoll_reactor::completion>& epoll_reactor::take_completions() noexcept {
  dispatching_.clear();
  std::swap(ready_, dispatching_);  // both keep their capacity: no allocation once warm
  return dispatching_;
}

int epoll_reactor::wait(const timespec* timeout) noexcept {
  const int capacity = static_cast<int>(events_.size());
  int n = -1;
  if (pwait2_) {
    n = ::epoll_pwait2(epoll_fd_, events_.data(), capacity, timeout, nullptr);
    if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
      pwait2_ = false;  // before Linux 5.11, or filtered: millisecond timeouts from now on
    }
  }
  if (!pwait2_) {
    int ms = -1;
    if (timeout != nullptr) {
      // Rounded up, so that a timer is never found early and the loop does not spin on it.
      // Clamped: a far timer must not wrap into a negative (infinite) wait.
      const long long max_s = INT_MAX / 1000 - 1;
      const long long s = timeout->tv_sec < max_s ? timeout->tv_sec : max_s;
      ms = static_cast<int>(s * 1000 + (timeout->tv_nsec + 999'999) / 1'000'000);
    }
    n = ::epoll_wait(epoll_fd_, events_.data(), capacity, ms);
  }
  if (n < 0) {
    if (errno != EINTR) logger_.error("rmq io: epoll_wait failed: {}", std::strerror(errno));
    return 0;
  }
  for (int i = 0; i < n; ++i) {
    auto* source = static_cast<epoll_source*>(events_[static_cast<std::size_t>(i)].data.ptr);
    if (source == nullptr) {
      std::uint64_t value = 0;  // the eventfd: posts are in the loop's queue, just reset it
      [[maybe_unused]] const auto r = ::read(wake_fd_, &value, sizeof value);
      continue;
    }
    // Sources only queue completions here, so none is destroyed while this batch is told.
    source->on_ready_(source, events_[static_cast<std::size_t>(i)].events);
  }
  return n;
}

void epoll_reactor::stop_all() noexcept {
  for (epoll_source* s = sources_; s != nullptr; s = s->next_) s->on_stop_(s);
}

}  // namespace rmq::io
