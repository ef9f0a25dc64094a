// The per-topic publish-info cache of one loop. The first sends of a topic share one
// NameServer query; a topic the NameServer does not know borrows the route of the
// auto-create topic (TBW102), as the Java client does; every topic in use is refreshed in the
// background, and a refresh replaces the topic's publish info and broker addresses at once. A
// topic not sent to for route_settings::idle_timeout leaves the cache at the next refresh.
#pragma once

#include "common/coro.hpp"
#include "common/string_map.hpp"
#include "io/loop.hpp"
#include "net/connection_pool.hpp"
#include "rmq/message_queue.hpp"
#include "route/broker_registry.hpp"
#include "route/name_server_client.hpp"
#include "wire/route_data.hpp"

#include <spdlog/fwd.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rmq::metrics {
struct topic_tally;
}

namespace rmq::route {

/// What a send needs of a topic's route. Immutable once published; a refresh publishes a new one.
struct topic_publish_info {
  std::string topic;       ///< as the user names it: the cache's key, reported in results
  std::string wire_topic;  ///< as brokers know it: `topic` in the namespace, wrapped once here
  std::vector<publish_queue> queues;          ///< writable queues on masters, Java's order
  std::vector<message_queue> message_queues;  ///< the same, as the public type (selectors)
  bool order_topic = false;
  bool from_default_topic = false;  ///< borrowed the auto-create topic's route
  wire::topic_route_data route;     ///< as received, to detect changes
  /// The topic's round-robin position: the only mutable part (loop thread only), starting at a
  /// random queue like the Java client's ThreadLocalIndex.
  mutable std::uint32_t round_robin = 0;
  /// Owners (publish_info_ptr): the cache and the sends using it.
  mutable std::uint32_t owners = 0;
  /// The topic's metrics on this loop, found on the first completion that uses this info (loop
  /// thread only), so that later ones count without a lookup.
  mutable metrics::topic_tally* tally = nullptr;
};

/// Shared ownership of a topic_publish_info among one loop's cache and sends. The count is a
/// plain integer because only that loop's thread copies or drops one: every send takes and
/// drops one, and a shared_ptr's locked increment and decrement made each send wait for its
/// earlier stores to reach the cache.
class publish_info_ptr {
 public:
  publish_info_ptr() noexcept = default;
  publish_info_ptr(std::nullptr_t) noexcept {}  // NOLINT: converts like a pointer
  /// The first owner of a new info.
  explicit publish_info_ptr(std::unique_ptr<topic_publish_info> info) noexcept
      : p_(info.release()) {
    if (p_ != nullptr) p_->owners = 1;
  }
  publish_info_ptr(const publish_info_ptr& other) noexcept : p_(other.p_) {
    if (p_ != nullptr) ++p_->owners;
  }
  publish_info_ptr(publish_info_ptr&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  publish_info_ptr& operator=(publish_info_ptr other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  ~publish_info_ptr() {
    if (p_ != nullptr && --p_->owners == 0) delete p_;
  }

  [[nodiscard]] const topic_publish_info* get() const noexcept { return p_; }
  const topic_publish_info& operator*() const noexcept { return *p_; }
  const topic_publish_info* operator->() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  friend bool operator==(const publish_info_ptr& a, std::nullptr_t) noexcept {
    return a.p_ == nullptr;
  }

 private:
  topic_publish_info* p_ = nullptr;
};

struct route_settings {
  std::string create_topic_key{wire::auto_create_topic};
  std::int32_t default_topic_queue_nums = 4;
  /// A topic unused for this long is forgotten at the next refresh (zero: never).
  std::chrono::milliseconds idle_timeout{0};
  /// The producer's namespace: routes are looked up and sends addressed by the wrapped topic
  /// (topic_publish_info::wire_topic). Empty: none.
  std::string name_space;
  /// Where route changes are logged (not owned); nullptr: spdlog's default logger.
  spdlog::logger* logger = nullptr;
};

class topic_routes {
  struct waiter;
  struct entry;
  using entry_node = std::pair<const std::string, entry>;  // a map node: key and entry

 public:
  topic_routes(name_server_client& names, broker_registry& brokers, net::connection_pool& pool,
               route_settings settings);

  class lookup;
  /// Awaitable: the topic's publish info (into `out`), from the cache or (first use) from the
  /// NameServer; co_await yields the error. Errors: no_route (unknown topic and no auto-create
  /// route), no_name_server, timed_out, and the transport errors of the last NameServer tried.
  /// A wait joins the topic's one query; it ends by `deadline` even when the query (started
  /// with another deadline) goes on, and lookup::abandon ends it early.
  [[nodiscard]] lookup get(std::string_view topic, net::clock::time_point deadline,
                           publish_info_ptr& out);
  /// The cached publish info, or nullptr (then get() queries): lets a send skip the coroutine
  /// when the route is known, which is nearly always.
  [[nodiscard]] publish_info_ptr cached(std::string_view topic) const;

  /// A send whose topic was forgotten while it ran (it outlived the idle timeout, retrying)
  /// puts the route it holds back: the topic, its brokers and their connections, so that its
  /// next attempt has a master to go to. Returns the topic's info now (nullptr: no writable
  /// queue in that route). Rare: nothing on the hot path pays for it.
  [[nodiscard]] publish_info_ptr readopt(const topic_publish_info& held);

  /// Forgets the topics idle for route_settings::idle_timeout, then queries every topic that
  /// has a route again and publishes the routes that changed.
  [[nodiscard]] coro<void> refresh_all(net::clock::time_point deadline);

  /// Called with a broker's id whenever a route introduces a master address not seen before
  /// (registration: heartbeats).
  void on_new_master(std::function<void(broker_id)> callback) {
    on_new_master_ = std::move(callback);
  }

  /// Every master address referenced by a cached route, plus the NameServers (connections to
  /// anything else can be closed).
  [[nodiscard]] std::vector<std::string> addresses_in_use() const;
  /// Topics in the cache and topics forgotten as idle: any thread.
  [[nodiscard]] std::uint64_t topics() const noexcept {
    return topics_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t evicted_topics() const noexcept {
    return evicted_.load(std::memory_order_relaxed);
  }

 private:
  /// Why a waiter left before its query ended.
  enum class left_early : std::uint8_t { no, timed_out, cancelled, shutting_down };
  struct waiter {
    std::coroutine_handle<> handle;
    waiter* next = nullptr;
    net::clock::time_point deadline{};
    left_early left = left_early::no;
  };
  /// Ends the waits whose own deadline comes before their query's (one timer per topic, armed
  /// at the earliest such deadline).
  struct waiter_timer final : io::timer_node {
    waiter_timer() noexcept : timer_node(&fire) {}
    static void fire(io::timer_node* t, std::error_code ec) noexcept;
    topic_routes* owner = nullptr;
    entry_node* node = nullptr;
  };
  struct entry {
    publish_info_ptr info;
    bool querying = false;
    /// Set by every send that looks the topic up (cached() and lookups), cleared by the idle
    /// sweep: a store to a line the send reads anyway, instead of a clock read per send.
    mutable bool used = true;
    net::clock::time_point last_used{};       ///< the sweep that last saw `used`
    net::clock::time_point query_deadline{};  ///< of the query running
    std::error_code last_error;
    waiter* waiters = nullptr;
    waiter_timer timer;
  };

  /// Queries the topic's route, publishes it, and wakes the sends waiting for it (the outcome is
  /// in the entry: info, last_error).
  [[nodiscard]] coro<void> query(std::string topic, net::clock::time_point deadline);
  /// Publishes the route of `topic` (known to brokers as `wire_topic`).
  [[nodiscard]] std::error_code publish(const std::string& topic, std::string_view wire_topic,
                                        wire::topic_route_data route, bool from_default_topic);
  void wake(entry& e);
  /// A waiter whose deadline comes before its query's joined `node`.
  void watch_deadline(entry_node& node, net::clock::time_point deadline) noexcept;
  /// The timer of `node` fired: ends the waits that are due, re-arms for the rest.
  void end_due_waits(entry_node& node, std::error_code ec) noexcept;
  /// Logs a published route: a topic's first, or one that differs from `previous`.
  void log_route(const topic_publish_info& info, const topic_publish_info* previous) const;
  /// Erases the entries unused since the sweep idle_timeout ago that no query or wait holds.
  void evict_idle(net::clock::time_point now);
  /// The topic's entry, its query started when there is neither a route nor a query.
  [[nodiscard]] entry_node& entry_for(std::string_view topic, net::clock::time_point deadline);

  name_server_client& names_;
  broker_registry& brokers_;
  net::connection_pool& pool_;
  route_settings settings_;
  spdlog::logger& logger_;
  string_map<entry> entries_;  // looked up by string_view: no string built per send
  std::function<void(broker_id)> on_new_master_;
  std::minstd_rand random_{std::random_device{}()};
  // entries_.size() and the evictions, for producer::stats (written by the loop thread only).
  std::atomic<std::uint64_t> topics_{0};
  std::atomic<std::uint64_t> evicted_{0};
};

// The sends that find no route wait in a node of their own awaiter (in the caller's frame) for
// the topic's one query: a burst of first sends allocates nothing per send, and takes no frame
// but its own. get() starts the query (its own frame, shared by all) when none is running. Every
// waiter wakes when the query ends; one whose own deadline comes first (a send with a shorter
// timeout than the send that started the query) leaves at that deadline, on the topic's timer.
// Small on purpose: the awaiter takes room in every send's frame.
class topic_routes::lookup {
 public:
  /// As topic_routes::get (which only calls this).
  lookup(topic_routes& owner, std::string_view topic, net::clock::time_point deadline,
         publish_info_ptr& out);
  lookup(const lookup&) = delete;
  lookup& operator=(const lookup&) = delete;

  /// A route, or a query that ended already (perhaps at once: no NameServer to ask).
  [[nodiscard]] bool await_ready() const noexcept {
    return node_.second.info != nullptr || !node_.second.querying;
  }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    waiter_.handle = h;
    waiter_.next = node_.second.waiters;
    node_.second.waiters = &waiter_;
    if (waiter_.deadline < node_.second.query_deadline) {
      owner_.watch_deadline(node_, waiter_.deadline);
    }
  }
  [[nodiscard]] std::error_code await_resume() const;

  /// Loop thread, while suspended: stops waiting (cancellation) and resumes the waiter inline,
  /// which then sees asio::error::operation_aborted. The query goes on for the others.
  void abandon() noexcept;

 private:
  topic_routes& owner_;
  entry_node& node_;  // erased only when no query runs (evict_idle): outlives every wait
  publish_info_ptr& out_;
  waiter waiter_;
};

}  // namespace rmq::route
