// rmq::producer: the public API over the shards. Every entry point ends in shard::run on a
// loop thread; the blocking forms wait for the same completion the async forms deliver.
#include "rmq/producer.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include <asio/system_executor.hpp>

#include "io/async.hpp"
#include "io/resolve.hpp"
#include "send/shard.hpp"
#include "wire/uniq_key.hpp"
#include "wire/validation.hpp"

namespace rmq {
namespace {

std::vector<std::string> split_name_servers(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const std::size_t end = list.find(';');
    std::string_view item = list.substr(0, end);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return out;
}

std::string host_ip_text() {
  const wire::host_identity& id = wire::default_uniq_key_generator().identity();
  std::ostringstream os;
  if (id.ip_size == 4) {
    os << int(id.ip[0]) << '.' << int(id.ip[1]) << '.' << int(id.ip[2]) << '.' << int(id.ip[3]);
  } else {
    os << std::hex;
    for (int i = 0; i < 16; i += 2) {
      if (i != 0) os << ':';
      os << ((id.ip[static_cast<std::size_t>(i)] << 8) | id.ip[static_cast<std::size_t>(i) + 1]);
    }
  }
  return os.str();
}

// Any thread: the state shared by the blocking forms and the loop that completes them.
// A blocking caller's side of a hand-off from a loop thread: the loop stores the outcome and
// wakes the caller, which reads it once wait() returns.
class blocking_handoff {
 public:
  /// Loop thread: runs `store` (which fills in the caller's result), then wakes the caller.
  template <class Store>
  void complete(Store&& store) {
    store();
    done_.store(1, std::memory_order_release);
    // The caller may return, and this object die, as soon as it sees done_: the wake-up below
    // uses only the address (a private futex key), never the memory behind it.
    ::syscall(SYS_futex, &done_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
  /// Calling thread: sleeps until complete() has run.
  void wait() noexcept {
    while (done_.load(std::memory_order_acquire) == 0) {
      ::syscall(SYS_futex, &done_, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
    }
  }

 private:
  // A bare futex rather than a mutex and condition variable: the caller usually shares a core
  // with the loop thread, and a wake-up under a held mutex sent it back to sleep on the mutex
  // (two more context switches per blocking send).
  std::atomic<std::uint32_t> done_{0};
};

// One alignment for every heap-held completion, so deallocation needs no record of it.
constexpr std::align_val_t completion_alignment{64};

void* heap_allocate(void*, std::size_t size, std::size_t align) {
  if (align > static_cast<std::size_t>(completion_alignment)) throw std::bad_alloc();
  return ::operator new(size, completion_alignment);
}
void heap_deallocate(void*, void* p, std::size_t, std::size_t) noexcept {
  ::operator delete(p, completion_alignment);
}

}  // namespace

bool detail::runs_inline_here(const asio::any_io_executor& ex) noexcept {
  const io::loop::executor_type* loop_executor = io::loop_executor_in(ex);
  return loop_executor != nullptr &&
         asio::query(*loop_executor, asio::execution::blocking) ==
             asio::execution::blocking.possibly &&
         loop_executor->running_in_this_thread();
}

std::string_view to_string(send_status status) noexcept {
  switch (status) {
    case send_status::send_ok: return "SEND_OK";
    case send_status::flush_disk_timeout: return "FLUSH_DISK_TIMEOUT";
    case send_status::flush_slave_timeout: return "FLUSH_SLAVE_TIMEOUT";
    case send_status::slave_not_available: return "SLAVE_NOT_AVAILABLE";
  }
  return "UNKNOWN";
}

std::string send_diagnostics::describe(std::string_view topic, int attempts) const {
  std::ostringstream os;
  os << "Send [" << attempts << "] times, still failed, cost [" << elapsed_ms
     << "]ms, Topic: " << topic << ", BrokersSent: [" << brokers << "]";
  if (!remark.empty()) os << ": " << remark;
  return os.str();
}

std::error_code producer_config::validate() const {
  using std::chrono::milliseconds;
  const auto invalid = make_error_code(errc::configuration_invalid);
  // Every duration is added to a clock reading (deadlines, timers, fault windows): an hour is
  // far above any sensible setting and keeps each sum far from overflowing the clock.
  constexpr milliseconds max_duration = std::chrono::hours(1);
  const auto in_range = [&](milliseconds d, milliseconds min) {
    return d >= min && d <= max_duration;
  };
  const milliseconds positive{1};
  // Split as start() splits them; host names are resolved later, when connecting.
  for (const std::string& address : split_name_servers(name_servers)) {
    std::error_code ec;
    (void)io::parse_endpoint(address, ec);
    if (ec) return invalid;
  }
  if (const auto ec = wire::validate_group(group)) return ec;
  // The client id ("<ip>@<instance>") goes into every heartbeat and is how brokers and admin
  // tools name this producer: printable ASCII without spaces, as the ids Java makes.
  if (instance_name.empty() || instance_name.size() > 255) return invalid;
  for (const char c : instance_name) {
    if (c <= ' ' || c >= '\x7f') return invalid;  // char may be signed: bytes >= 0x80 too
  }
  if (!in_range(send_timeout, positive) || !in_range(connect_timeout, positive)) return invalid;
  if (attempt_timeout && !in_range(*attempt_timeout, positive)) return invalid;
  if (retries_sync < 0 || retries_async < 0 || retries_sync > 15 || retries_async > 15) return invalid;
  if (max_message_size == 0 || max_message_size > wire::max_message_size_limit) return invalid;
  wire::compression_type codec = wire::compression_type::zlib;
  switch (compress_type) {
    case compression::zlib: codec = wire::compression_type::zlib; break;
    case compression::zstd: codec = wire::compression_type::zstd; break;
    case compression::lz4: codec = wire::compression_type::lz4; break;
    default: return invalid;  // not one of the enumerators
  }
  if (!wire::is_valid_compression_level(codec, compress_level)) return invalid;
  // Admission packs the counts of sends and bytes in flight into one word.
  if (max_in_flight_sends == 0 || max_in_flight_sends > (std::size_t{1} << 24) - 1) return invalid;
  if (max_in_flight_bytes == 0 || max_in_flight_bytes > (std::size_t{1} << 40) - 1) return invalid;
  // Heartbeats further apart than 120 s let brokers expire the registration and close the
  // connection (ProducerManager.scanNotActiveChannel); allowed, as Java does, for runs that must
  // not see a heartbeat at all.
  if (!in_range(heartbeat_interval, positive) || !in_range(route_refresh_interval, positive)) {
    return invalid;
  }
  if (default_topic_queue_nums <= 0 || wire::validate_topic(create_topic_key)) return invalid;
  // GO_AWAY (5.3.1+ servers shutting down) is answered to versions above 475; resending on a new
  // connection is not implemented yet.
  if (protocol_version < 0 || protocol_version > 475) return invalid;
  if (serialization != header_serialization::json &&
      serialization != header_serialization::binary) {
    return invalid;
  }
  if (loop_threads == 0 || loop_threads > 64) return invalid;
  if (busy_poll.count() < 0 || busy_poll > std::chrono::seconds(1)) return invalid;
  if (fault_tables != fault_table_preset::v5 && fault_tables != fault_table_preset::v4_9) {
    return invalid;
  }
  if (custom_fault_tables) {
    const send::fault_tables tables{custom_fault_tables->latency_max,
                                    custom_fault_tables->not_available,
                                    custom_fault_tables->isolation_latency};
    if (!tables.valid()) return invalid;
    if (!in_range(tables.isolation_latency, milliseconds(0))) return invalid;
    for (const auto* list : {&tables.latency_max, &tables.not_available}) {
      for (const milliseconds d : *list) {
        if (!in_range(d, milliseconds(0))) return invalid;
      }
    }
  }
  return {};
}

// --- impl --------------------------------------------------------------------------------------

class producer::impl {
 public:
  explicit impl(producer_config config) : config_(std::move(config)) {}

  std::error_code start() {
    if (started_) return {};
    if (const auto ec = config_.validate()) return ec;
    std::string servers = config_.name_servers;
    if (servers.empty()) {
      if (const char* env = std::getenv("NAMESRV_ADDR")) servers = env;
    }
    send::shard_settings settings;
    settings.config = config_;
    settings.name_servers = split_name_servers(servers);
    if (settings.name_servers.empty()) return make_error_code(errc::no_name_server);
    for (const std::string& address : settings.name_servers) {
      std::error_code ec;
      (void)io::parse_endpoint(address, ec);
      if (ec) return make_error_code(errc::configuration_invalid);
    }
    std::string instance = config_.instance_name;
    if (instance == "DEFAULT") {
      instance = std::to_string(::getpid()) + "#" +
                 std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    }
    settings.client_id = host_ip_text() + "@" + instance;
    settings.serialization = config_.serialization == header_serialization::binary
                                 ? wire::serialize_type::rocketmq
                                 : wire::serialize_type::json;
    for (std::size_t i = 0; i < config_.loop_threads; ++i) {
      shards_.push_back(std::make_unique<send::shard>(settings));
    }
    for (auto& s : shards_) s->start();
    started_ = true;
    return {};
  }

  void shutdown(std::chrono::milliseconds timeout) {
    if (!started_ || stopped_.exchange(true)) return;
    const auto deadline = io::clock::now() + timeout;
    for (auto& s : shards_) s->shutdown(deadline);
  }

  /// The shard whose loop runs on this thread, or nullptr.
  send::shard* local_shard() const noexcept {
    for (const auto& s : shards_) {
      if (s->on_loop_thread()) return s.get();
    }
    return nullptr;
  }

  void start_send(detail::send_completion* completion, const message* msg,
                  std::span<const message> batch, detail::send_kind kind,
                  detail::send_target target) {
    if (!started_ || stopped_.load(std::memory_order_relaxed)) {
      completion->complete(make_error_code(started_ ? errc::shutting_down : errc::not_started),
                           nullptr);
      return;
    }
    if (send::shard* local = local_shard()) {
      // On a loop thread already: no hop, no allocation, and the loop's clock reading.
      send::send_op* op = local->acquire_op();
      fill(*op, completion, msg, batch, kind, target, local->loop().now());
      local->run(*op);
      return;
    }
    send::shard& chosen = *shards_[next_shard_.fetch_add(1, std::memory_order_relaxed) % shards_.size()];
    // A foreign thread may not touch the shard's pools: the request travels in its own node.
    auto* posted = new posted_send(chosen);
    posted->completion = completion;
    posted->msg = msg;
    posted->batch = batch;
    posted->kind = kind;
    posted->target = target;
    posted->started = io::clock::now();
    chosen.loop().post(*posted);
  }

  const producer_config& config() const noexcept { return config_; }
  std::vector<std::unique_ptr<send::shard>>& shards() noexcept { return shards_; }
  bool started() const noexcept { return started_; }
  bool stopped() const noexcept { return stopped_.load(std::memory_order_relaxed); }

 private:
  struct posted_send final : io::task {
    explicit posted_send(send::shard& s) noexcept : io::task(&run), target_shard(s) {}
    static void run(io::task* t, action a) noexcept {
      std::unique_ptr<posted_send> self(static_cast<posted_send*>(t));
      if (a != action::run) {
        self->completion->complete(make_error_code(errc::shutting_down), nullptr);
        return;
      }
      send::send_op* op = self->target_shard.acquire_op();
      fill(*op, self->completion, self->msg, self->batch, self->kind, self->target, self->started);
      self->target_shard.run(*op);
    }
    send::shard& target_shard;
    detail::send_completion* completion = nullptr;
    const message* msg = nullptr;
    std::span<const message> batch;
    detail::send_kind kind = detail::send_kind::async;
    detail::send_target target;
    io::clock::time_point started{};
  };

  static void fill(send::send_op& op, detail::send_completion* completion, const message* msg,
                   std::span<const message> batch, detail::send_kind kind,
                   detail::send_target target, io::clock::time_point started) {
    op.completion = completion;
    op.msg = msg;
    op.batch = batch;
    op.mode = kind;
    op.target = target;
    op.started = started;  // the budget counts from the user's call, hops included
  }

  producer_config config_;
  std::vector<std::unique_ptr<send::shard>> shards_;
  std::atomic<std::size_t> next_shard_{0};
  bool started_ = false;
  std::atomic<bool> stopped_{false};
};

// --- producer ------------------------------------------------------------------------------

producer::producer(producer_config config) : impl_(std::make_unique<impl>(std::move(config))) {}

producer::~producer() { shutdown(impl_->config().send_timeout); }

std::error_code producer::start() { return impl_->start(); }

void producer::shutdown(std::chrono::milliseconds timeout) { impl_->shutdown(timeout); }

producer::executor_type producer::get_executor() const {
  if (impl_->shards().empty()) throw std::system_error(make_error_code(errc::not_started));
  return impl_->shards().front()->loop().get_executor();
}

const producer_config& producer::config() const noexcept { return impl_->config(); }

producer::executor_type producer::completion_executor() const {
  if (!impl_->started() || impl_->stopped()) return asio::system_executor();
  return get_executor();
}

const detail::completion_storage* producer::completion_storage_for_this_thread() const noexcept {
  static constexpr detail::completion_storage heap{&heap_allocate, &heap_deallocate, nullptr};
  if (send::shard* local = impl_->local_shard()) return &local->completion_storage();
  return &heap;
}

void producer::start_send(detail::send_completion* completion, const message& msg,
                          detail::send_kind kind, detail::send_target target) {
  impl_->start_send(completion, &msg, {}, kind, target);
}

void producer::start_batch(detail::send_completion* completion, std::span<const message> messages) {
  if (messages.empty()) {
    completion->complete(make_error_code(errc::batch_empty), nullptr);
    return;
  }
  impl_->start_send(completion, &messages.front(), messages, detail::send_kind::async, {});
}

namespace {

template <class Start>
send_result wait_for_send(producer::impl& impl, Start&& start, std::error_code& ec) {
  if (impl.local_shard() != nullptr) {
    ec = make_error_code(errc::blocking_call_on_loop_thread);
    return {};
  }
  blocking_handoff handoff;
  send_result result;
  start([&](std::error_code e, send_result r) {
    handoff.complete([&] {
      ec = e;
      result = std::move(r);
    });
  });
  handoff.wait();
  return result;
}

}  // namespace

send_result producer::send(const message& msg) {
  std::error_code ec;
  send_result result = send(msg, ec);
  if (ec) {
    throw std::system_error(ec, result.diagnostics.describe(msg.topic(), result.attempts));
  }
  return result;
}

send_result producer::send(const message& msg, std::error_code& ec) {
  return wait_for_send(
      *impl_,
      [&](auto handler) {
        start_send(make_completion(std::move(handler)), msg, detail::send_kind::sync, {});
      },
      ec);
}

send_result producer::send(const message& msg, const message_queue& queue, std::error_code& ec) {
  return wait_for_send(
      *impl_,
      [&](auto handler) {
        start_send(make_completion(std::move(handler)), msg, detail::send_kind::sync,
                   {&queue, nullptr});
      },
      ec);
}

send_result producer::send(const message& msg, const queue_selector& selector,
                           std::error_code& ec) {
  return wait_for_send(
      *impl_,
      [&](auto handler) {
        start_send(make_completion(std::move(handler)), msg, detail::send_kind::sync,
                   {nullptr, &selector});
      },
      ec);
}

send_result producer::send_batch(std::span<const message> batch, std::error_code& ec) {
  return wait_for_send(
      *impl_,
      [&](auto handler) {
        if (batch.empty()) {
          make_completion(std::move(handler))->complete(make_error_code(errc::batch_empty), nullptr);
          return;
        }
        impl_->start_send(make_completion(std::move(handler)), &batch.front(), batch,
                          detail::send_kind::sync, {});
      },
      ec);
}

std::error_code producer::send_oneway(const message& msg) {
  std::error_code ec;
  (void)wait_for_send(
      *impl_,
      [&](auto handler) {
        start_send(make_completion(std::move(handler)), msg, detail::send_kind::oneway, {});
      },
      ec);
  return ec;
}

std::error_code producer::fetch_queues(const std::string& topic, std::vector<message_queue>& out) {
  if (!impl_->started()) return make_error_code(errc::not_started);
  if (impl_->local_shard() != nullptr) return make_error_code(errc::blocking_call_on_loop_thread);
  send::shard& s = *impl_->shards().front();
  blocking_handoff handoff;
  std::error_code result;
  const auto deadline = io::clock::now() + config().send_timeout;
  s.loop().post([&] {
    spawn([](send::shard& sh, std::string t, io::clock::time_point d, std::vector<message_queue>& o,
             std::error_code& r, blocking_handoff& h) -> coro<void> {
      const std::error_code ec = co_await sh.queues_of(std::move(t), d, o);
      h.complete([&] { r = ec; });
    }(s, topic, deadline, out, result, handoff));
  });
  handoff.wait();
  return result;
}

producer_stats producer::stats() const {
  producer_stats stats;
  for (const auto& s : impl_->shards()) {
    const send::shard_counters& c = s->counters();
    stats.sends += c.sends.get();
    stats.succeeded += c.succeeded.get();
    stats.failed += c.failed.get();
    stats.retries += c.retries.get();
    stats.timeouts += c.timeouts.get();
    stats.in_flight += c.in_flight.get();
    stats.route_queries += s->route_queries();
    stats.slot_fallbacks += s->completions().fallbacks();
  }
  stats.frame_pool_fallbacks = frame_pool::fallback_allocations();
  return stats;
}

}  // namespace rmq
