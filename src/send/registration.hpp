// The producer's standing with its brokers on one loop: a heartbeat to every master (at start,
// for each new master and every heartbeat_interval), the periodic route refresh, and the
// unregister of a shutdown. The waits follow producer_config (heartbeat_deadline,
// unregister_deadline), never fixed numbers.
#pragma once

#include "common/coro.hpp"
#include "io/loop.hpp"
#include "rmq/producer_config.hpp"
#include "route/broker_registry.hpp"
#include "route/topic_routes.hpp"
#include "send/loop_settings.hpp"

#include <coroutine>
#include <cstddef>
#include <vector>

namespace rmq::send {

/// How long a heartbeat waits for its answer: as long as a send may take (the Java client gives
/// it mqClientApiTimeout, whose default equals sendMsgTimeout's).
[[nodiscard]] io::clock::time_point heartbeat_deadline(const producer_config& config,
                                                       io::clock::time_point now) noexcept;

/// Until when the unregister of a shutdown may wait: the shutdown's own deadline, but at least
/// the time of one send attempt from `now` (attempt_timeout, or the sync send's share of
/// send_timeout), so that a shutdown whose deadline has passed still tells the brokers.
[[nodiscard]] io::clock::time_point unregister_deadline(const producer_config& config,
                                                        io::clock::time_point shutdown_deadline,
                                                        io::clock::time_point now) noexcept;

class registration {
 public:
  registration(const loop_settings& settings, io::loop& loop, route::broker_registry& brokers,
               route::topic_routes& routes);
  registration(const registration&) = delete;
  registration& operator=(const registration&) = delete;

  /// Loop thread: arms the periodic heartbeats and route refresh.
  void start();
  /// Loop thread: a broker got a master: registers with it at once.
  void on_new_master(route::broker_id broker);
  /// Loop thread: no more heartbeats nor refreshes (a shutdown has begun).
  void stop();
  [[nodiscard]] bool stopped() const noexcept { return stopped_; }
  /// Loop thread: unregisters from every broker with a master, then returns (when each has
  /// answered or failed, at the latest at unregister_deadline).
  [[nodiscard]] coro<void> unregister_all(io::clock::time_point shutdown_deadline);
  /// Loop thread: returns once every broker with a master has answered (or failed) a heartbeat
  /// since it got that master — so that each knows our client id and connection, as a reply to
  /// a request may be pushed from any of them — or at `deadline`, or at stop() (false then).
  [[nodiscard]] coro<bool> heartbeats_settled(io::clock::time_point deadline);

  /// Awaitable: resumes once `broker`'s heartbeat since it got its master has ended (answered
  /// — its version is then known — or failed), or every master's has (`every_master`), or at
  /// `deadline`, stop() or cancel() — inline from whichever comes first. Ready at once when
  /// that has happened already. Lives in the awaiting coroutine's frame.
  class heartbeat_waiter final : public io::timer_node {
   public:
    static constexpr route::broker_id every_master = static_cast<route::broker_id>(-1);
    heartbeat_waiter(registration& owner, route::broker_id broker,
                     io::clock::time_point deadline) noexcept
        : timer_node(&fire), owner_(owner), broker_(broker), deadline_(deadline) {}
    heartbeat_waiter(const heartbeat_waiter&) = delete;
    heartbeat_waiter& operator=(const heartbeat_waiter&) = delete;
    [[nodiscard]] bool await_ready() const noexcept;
    void await_suspend(std::coroutine_handle<> h) noexcept;
    void await_resume() const noexcept {}

   private:
    friend class registration;
    static void fire(io::timer_node* t, std::error_code ec) noexcept;
    registration& owner_;
    route::broker_id broker_;
    io::clock::time_point deadline_;
    std::coroutine_handle<> waiting_;
    heartbeat_waiter* next_ = nullptr;
  };
  /// Loop thread: resumes `w` now if it waits (a cancellation of the send waiting in it).
  void cancel(heartbeat_waiter& w) noexcept;
  /// Whether `broker`'s heartbeat since it got its master has ended (answered or failed).
  [[nodiscard]] bool heartbeat_done(route::broker_id broker) const noexcept;

 private:
  [[nodiscard]] bool settled() const noexcept;
  [[nodiscard]] bool satisfied(const heartbeat_waiter& w) const noexcept;
  /// Wakes the waiters whose heartbeats have ended (all of them once stopped).
  void wake_settled() noexcept;
  void remove(heartbeat_waiter& w) noexcept;
  [[nodiscard]] coro<void> heartbeat(route::broker_id broker);
  [[nodiscard]] coro<void> unregister(route::broker_id broker, io::clock::time_point deadline,
                                      std::size_t& pending, std::coroutine_handle<>& waiter);
  [[nodiscard]] coro<void> refresh_routes(io::clock::time_point deadline);
  void arm_periodic();
  void on_periodic();

  const loop_settings& settings_;
  io::loop& loop_;
  route::broker_registry& brokers_;
  route::topic_routes& routes_;

  struct periodic_timer final : io::timer_node {
    explicit periodic_timer(registration& r) noexcept : timer_node(&fire), owner(r) {}
    static void fire(io::timer_node* t, std::error_code ec) noexcept;
    registration& owner;
  };
  periodic_timer periodic_{*this};
  io::clock::time_point next_refresh_{};
  io::clock::time_point next_heartbeat_{};
  bool refreshing_ = false;
  bool stopped_ = false;
  std::vector<bool> heartbeat_done_;  ///< by broker id: answered or failed since its new master
  heartbeat_waiter* waiters_ = nullptr;
};

}  // namespace rmq::send
