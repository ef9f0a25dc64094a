// rmq::producer: the public API over its loops. Every entry point ends in loop_sender::run on a
// loop thread; the blocking forms wait for the same completion the async forms deliver.
#include "rmq/producer.hpp"

#include "common/log.hpp"
#include "io/async.hpp"
#include "io/resolve.hpp"
#include "metrics/snapshot.hpp"
#include "send/config_description.hpp"
#include "send/loop_sender.hpp"
#include "tls/client_context.hpp"
#include "trace/trace_dispatcher.hpp"
#include "wire/namespace.hpp"
#include "wire/properties.hpp"
#include "wire/uniq_key.hpp"
#include "wire/validation.hpp"

#include <asio/error.hpp>
#include <asio/system_executor.hpp>
#include <spdlog/spdlog.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

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

/// An internal completion of a blocking call: runs `fn` on whatever thread completes it.
template <class F>
class callback_completion final : public detail::error_completion {
 public:
  explicit callback_completion(F fn) : error_completion(&complete_impl), fn_(std::move(fn)) {}

 private:
  static void complete_impl(error_completion* base, std::error_code ec, bool) noexcept {
    static_cast<callback_completion*>(base)->fn_(ec);
  }
  F fn_;
};

/// A blocking operation's completion: stores the outcome and wakes the caller.
template <class Result, class F>
class outcome_callback final : public detail::outcome_completion<Result> {
 public:
  explicit outcome_callback(F fn)
      : detail::outcome_completion<Result>(&complete_impl), fn_(std::move(fn)) {}

 private:
  static void complete_impl(detail::outcome_completion<Result>* base, std::error_code ec,
                            Result&& result, bool) noexcept {
    static_cast<outcome_callback*>(base)->fn_(ec, std::move(result));
  }
  F fn_;
};

/// Bytes of a half message's TRAN_MSG and PGROUP properties, separators included, for a group
/// of `group_size` bytes on the wire.
std::size_t half_message_property_bytes(std::size_t group_size) noexcept {
  return wire::property_names::transaction_prepared.size() + 6 +
         wire::property_names::producer_group.size() + 2 + group_size;
}

/// Bytes of a request's or a reply's correlation properties (MSG_TYPE=reply included), at most.
std::size_t correlation_property_bytes(const detail::correlation_fields& f) noexcept {
  namespace names = wire::property_names;
  return names::message_type.size() + 7 + names::correlation_id.size() + 2 +
         f.correlation_id.size() + names::reply_to_client.size() + 2 + f.reply_to_client.size() +
         names::ttl.size() + 2 + f.ttl.size();
}

/// now + timeout, saturated: a caller may pass milliseconds::max() for "wait for ever".
io::clock::time_point deadline_after(std::chrono::milliseconds timeout) {
  constexpr auto longest = std::chrono::hours(24 * 365 * 100);
  return io::clock::now() + std::min<std::chrono::milliseconds>(timeout, longest);
}

}  // namespace

void detail::report_handler_exception() noexcept {
  io::report_handler_exception();
}

bool detail::runs_inline_here(const asio::any_io_executor& ex) noexcept {
  const io::loop::executor_type* loop_executor = io::loop_executor_in(ex);
  return loop_executor != nullptr &&
         asio::query(*loop_executor, asio::execution::blocking) ==
             asio::execution::blocking.possibly &&
         loop_executor->running_in_this_thread();
}

std::string_view to_string(send_status status) noexcept {
  switch (status) {
    case send_status::send_ok:
      return "SEND_OK";
    case send_status::flush_disk_timeout:
      return "FLUSH_DISK_TIMEOUT";
    case send_status::flush_slave_timeout:
      return "FLUSH_SLAVE_TIMEOUT";
    case send_status::slave_not_available:
      return "SLAVE_NOT_AVAILABLE";
    case send_status::failed:
      return "FAILED";
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
  if (const auto ec = wire::validate_namespace(name_space)) return ec;
  if (wire::validate_group(wire::wrap_namespace(name_space, group))) return invalid;
  // A secret or token without an access key would silently go unused; a key without a secret
  // would sign with an empty key, which no broker accepts.
  if (credentials.enabled() == credentials.secret_key.empty()) return invalid;
  if (!credentials.enabled() && !credentials.security_token.empty()) return invalid;
  // The client id ("<ip>@<instance>") goes into every heartbeat and is how brokers and admin
  // tools name this producer: printable ASCII without spaces, as the ids Java makes.
  if (instance_name.empty() || instance_name.size() > 255) return invalid;
  for (const char c : instance_name) {
    if (c <= ' ' || c >= '\x7f') return invalid;  // char may be signed: bytes >= 0x80 too
  }
  if (!in_range(send_timeout, positive) || !in_range(connect_timeout, positive)) return invalid;
  if (attempt_timeout && !in_range(*attempt_timeout, positive)) return invalid;
  if (retries_sync < 0 || retries_async < 0 || retries_sync > 15 || retries_async > 15)
    return invalid;
  if (max_message_size == 0 || max_message_size > wire::max_message_size_limit) return invalid;
  if (max_delay_level < 1 || max_delay_level > 1000) return invalid;
  if (auto_batch) {
    if (auto_batch->linger.count() < 0 || auto_batch->linger > std::chrono::seconds(1)) {
      return invalid;
    }
    if (auto_batch->max_bytes == 0 || auto_batch->max_bytes > max_message_size) return invalid;
    if (auto_batch->max_messages == 0 || auto_batch->max_messages > 65536) return invalid;
  }
  wire::compression_type codec = wire::compression_type::zlib;
  switch (compress_type) {
    case compression::zlib:
      codec = wire::compression_type::zlib;
      break;
    case compression::zstd:
      codec = wire::compression_type::zstd;
      break;
    case compression::lz4:
      codec = wire::compression_type::lz4;
      break;
    default:
      return invalid;  // not one of the enumerators
  }
  if (!wire::is_valid_compression_level(codec, compress_level)) return invalid;
  // Admission packs the counts of sends and bytes in flight into one word.
  // The producer's admission gate packs both counts into one word.
  if (max_in_flight_sends == 0 || max_in_flight_sends > send::admission_gate::max_sends_limit) {
    return invalid;
  }
  if (max_in_flight_bytes == 0 || max_in_flight_bytes > send::admission_gate::max_bytes_limit) {
    return invalid;
  }
  // Heartbeats further apart than 120 s let brokers expire the registration and close the
  // connection (ProducerManager.scanNotActiveChannel); allowed, as Java does, for runs that must
  // not see a heartbeat at all.
  if (!in_range(heartbeat_interval, positive) || !in_range(route_refresh_interval, positive)) {
    return invalid;
  }
  if (route_idle_timeout.count() != 0 && !in_range(route_idle_timeout, positive)) return invalid;
  if (default_topic_queue_nums <= 0 || wire::validate_topic(create_topic_key)) return invalid;
  if (!wire::valid(route_limits)) return invalid;
  // Binary headers carry the version as a short.
  if (protocol_version < 0 || protocol_version > 32767) return invalid;
  if (serialization != header_serialization::json &&
      serialization != header_serialization::binary) {
    return invalid;
  }
  if (loop_threads == 0 || loop_threads > 64) return invalid;
  for (const auto& hook : send_hooks) {
    if (hook == nullptr) return invalid;
  }
  if ((metrics_interval.count() != 0) != static_cast<bool>(metrics_callback)) return invalid;
  if (metrics_interval.count() != 0 &&
      (metrics_interval < milliseconds(100) || metrics_interval > std::chrono::hours(24))) {
    return invalid;
  }
  if (tls && tls->cert_file.empty() != tls->key_file.empty()) return invalid;
  if (trace) {
    if (wire::validate_topic(trace->topic)) return invalid;
    if (trace->buffer_records == 0 || trace->buffer_records > (1u << 20)) return invalid;
    if (trace->max_records_per_message == 0 || trace->max_records_per_message > 10'000) {
      return invalid;
    }
    if (trace->max_message_size < 1024 || trace->max_message_size > (4u << 20)) return invalid;
    if (trace->flush_interval.count() < 0 || trace->flush_interval > std::chrono::seconds(1)) {
      return invalid;
    }
    if (trace->max_in_flight == 0 || trace->max_in_flight > 65'536) return invalid;
    // The trace group, "_INNER_TRACE_PRODUCER-<group>-PRODUCE-<n>", must be a valid group.
    // 255 - 22 ("_INNER_TRACE_PRODUCER-") - 9 ("-PRODUCE-") - 10 (the counter's digits).
    if (group.size() > 214) return invalid;
  }
  if (!in_range(local_transaction_timeout, positive) || !in_range(check_timeout, positive)) {
    return invalid;
  }
  if (transaction_threads == 0 || transaction_threads > 64) return invalid;
  if (max_concurrent_checks == 0 || max_concurrent_checks > 1'000'000) return invalid;
  if (max_pending_requests == 0 || max_pending_requests > 8'388'607) return invalid;
  if (busy_poll.count() < 0 || busy_poll > std::chrono::seconds(1)) return invalid;
  if (backend != io_backend::automatic && backend != io_backend::io_uring &&
      backend != io_backend::epoll) {
    return invalid;
  }
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

class detail::producer_impl {
  friend struct detail::producer_access;

 public:
  /// The producer's life. Calls read it without a lock; transitions take mutex_.
  enum class state : std::uint8_t {
    created,  ///< not started (or start() failed)
    running,
    draining,        ///< shutdown begun: the gate is closed, the loops finish what they hold
    drained,         ///< every send has completed, connections closed; the loops still run
    stopping_loops,  ///< the loops are being joined (calls started from now find them down)
    stopped,         ///< loops joined and closed: a producer does not restart
  };

  explicit producer_impl(producer_config config) : config_(std::move(config)) {}
  ~producer_impl() {
    // shutdown() ran (or start() never succeeded): nothing still runs on the loops. A
    // cancellation emitted from now on (a handler not yet run) has no loop to go to.
    const std::lock_guard lock(cancel_hub_->mutex);
    cancel_hub_->open = false;
  }

  const std::shared_ptr<detail::cancel_hub>& cancel_hub() const noexcept { return cancel_hub_; }
  /// Binds a loop operation to the loop it will run on (this thread's, or the next one), when
  /// the producer runs; else it will fail at once.
  void bind(const detail::call_scope& scope, send::loop_operation& operation) {
    if (!scope.running) return;
    auto* local = static_cast<send::loop_sender*>(scope.local_loop);
    operation.bind(local != nullptr ? *local : next_loop());
  }

  /// Whether this thread runs a plain transaction function of this producer.
  bool on_transaction_thread() const { return transaction_threads_.on_transaction_thread(); }

  /// nullptr when the send will fail at once (not running): there is nothing to cancel.
  detail::cancel_link* make_cancel_link(const detail::call_scope& scope) {
    if (!scope.running || admission_ == nullptr) return nullptr;
    return new detail::cancel_link(cancel_hub_, *admission_);
  }

  std::error_code start() {
    std::lock_guard lock(mutex_);
    if (state_ == state::running) return {};
    if (state_ != state::created) return make_error_code(errc::shutting_down);
    if (const auto ec = config_.validate()) return ec;
    std::string servers = config_.name_servers;
    if (servers.empty()) {
      if (const char* env = std::getenv("NAMESRV_ADDR")) servers = env;
    }
    send::loop_settings settings;
    settings.config = config_;
    settings.group = wire::wrap_namespace(config_.name_space, config_.group);
    settings.config.logger = logger_ = log::resolve(config_.logger);
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
    if (logger_->should_log(spdlog::level::info)) {
      logger_->info("rmq: producer starting: {}",
                    send::describe_config(config_, servers, settings.client_id));
    }
    settings.threads = &transaction_threads_;
    settings.replies = &replies_;
    settings.hub = cancel_hub_;
    if (config_.tls) {
      // Files are read once, here: every connection of every loop shares the context.
      try {
        settings.tls = std::make_shared<const tls::client_context>(*config_.tls);
      } catch (const std::invalid_argument& e) {
        logger_->error("rmq: producer not started: {}", e.what());
        return make_error_code(errc::configuration_invalid);
      }
    }
    settings.serialization = config_.serialization == header_serialization::binary
                                 ? wire::serialize_type::rocketmq
                                 : wire::serialize_type::json;
    if (config_.trace) {
      // The trace producer starts first: a traced send may complete as soon as a loop runs.
      producer_config traced = config_;
      traced.logger = logger_;
      trace_ = std::make_shared<trace::trace_dispatcher>(traced, servers);
      if (const auto ec = trace_->start()) {
        trace_.reset();
        return ec;
      }
      settings.config.send_hooks.push_back(trace_);
    }
    admission_ = std::make_unique<send::admission_gate>(
        config_.max_in_flight_sends, config_.max_in_flight_bytes, config_.fail_fast_when_full);
    std::vector<std::unique_ptr<send::loop_sender>> built;
    for (std::size_t i = 0; i < config_.loop_threads; ++i) {
      built.push_back(std::make_unique<send::loop_sender>(settings, *admission_));
    }
    if (const auto ec = start_loops(built)) {
      admission_.reset();
      if (trace_) {
        trace_->stop(std::chrono::steady_clock::now());
        trace_.reset();
      }
      return ec;
    }
    // Published before the state: a call that sees `running` sees the loops (and none is
    // read before: calls check the state, or run on one of these loops).
    loops_ = std::move(built);
    state_.store(state::running, std::memory_order_seq_cst);
    logger_->info("rmq: producer started: {} loop(s) on {}", loops_.size(),
                  loops_.front()->loop().uses_epoll() ? "epoll" : "io_uring");
    if (config_.metrics_interval.count() != 0) {
      loops_.front()->loop().post([this] { arm_metrics_timer(); });
    }
    return {};
  }

  // --- producer_config::metrics_callback ------------------------------------------------------

  /// The first loop's thread: the next report in one interval, while the producer runs.
  void arm_metrics_timer() {
    if (current_state() != state::running) return;
    loops_.front()->loop().add_timer(metrics_timer_, io::clock::now() + config_.metrics_interval);
  }

  /// The loop_sender whose loop runs on this thread, or nullptr.
  send::loop_sender* local_loop() const noexcept {
    if (io::loop::current() == nullptr) return nullptr;  // not a loop thread at all
    for (const auto& s : loops_) {
      if (s->on_loop_thread()) return s.get();
    }
    return nullptr;
  }

  /// The loop an off-loop call hands its send to (round robin).
  send::loop_sender& next_loop() noexcept {
    return *loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
  }

  // --- calls in progress (detail::call_scope) ----------------------------------------------

  /// Off the loops: counts the call, then reads whether the loops are up. Paired (seq_cst, as
  /// Dekker) with join_loops(), which publishes stopping_loops and then waits for the count to
  /// drop to zero: a call that saw the loops up keeps them up until it leaves.
  bool enter_call() noexcept {
    calls_.fetch_add(1, std::memory_order_seq_cst);
    const state s = state_.load(std::memory_order_seq_cst);
    return s >= state::running && s <= state::drained;
  }
  void leave_call() noexcept {
    if (calls_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        state_.load(std::memory_order_seq_cst) == state::stopping_loops) {
      calls_.notify_all();
    }
  }

  /// The send's budget: its own timeout (send_options), or the configured one.
  std::chrono::milliseconds budget_of(const detail::send_request& request) const noexcept {
    return request.timeout.count() != 0 ? request.timeout : config_.send_timeout;
  }

  /// Checks the message (or batch) and adds up the body bytes the gate must admit.
  std::error_code validate(const detail::send_request& request, std::size_t& bytes) const {
    // As producer_config bounds send_timeout: 1 ms..1 h (0: the configured one).
    if (request.timeout.count() < 0 || request.timeout > std::chrono::hours(1) ||
        request.conflicting_target) {
      return make_error_code(errc::invalid_argument);
    }
    wire::validation_limits limits;
    limits.max_message_size = config_.max_message_size;
    limits.max_delay_level = config_.max_delay_level;
    limits.name_space = config_.name_space;
    if (!request.batch.empty()) {
      if (auto ec = wire::validate_batch(request.batch, limits)) return ec;
      for (const message& m : request.batch) bytes += m.body().size();
      return {};
    }
    if (request.owned_batch != nullptr) return make_error_code(errc::batch_empty);
    if (request.msg == nullptr) return make_error_code(errc::batch_empty);  // an empty span
    bytes = request.msg->body().size();
    if (request.purpose == detail::send_purpose::half_message) {
      // Java clears a transactional message's delay level silently; a broker would deliver a
      // committed message at once anyway. Refused rather than dropped without a word.
      if (request.msg->delay_level() != 0 || request.msg->has_timer()) {
        return make_error_code(errc::invalid_argument);
      }
      limits.extra_property_bytes =
          half_message_property_bytes(wire::wrapped_size(config_.name_space, config_.group));
    }
    if (request.correlation != nullptr) {
      const detail::correlation_fields& c = *request.correlation;
      // A reply needs the request's correlation and its cluster's reply topic
      // (MessageUtil.createReplyMessage refuses a request without CLUSTER).
      if (request.purpose == detail::send_purpose::reply &&
          (c.correlation_id.empty() || c.reply_to_client.empty() || request.msg->topic().empty())) {
        return make_error_code(errc::invalid_argument);
      }
      limits.extra_property_bytes = correlation_property_bytes(c);
    }
    return wire::validate_message(*request.msg, limits);
  }

  void start_send(const detail::call_scope& scope, detail::send_completion* completion,
                  detail::send_request& request) {
    send_result failure;
    std::error_code ec;
    std::size_t bytes = 0;
    if (!scope.running) {
      ec = make_error_code(state_.load() == state::created ? errc::not_started
                                                           : errc::shutting_down);
    } else {
      ec = validate(request, bytes);
    }
    if (ec) {
      if (request.msg != nullptr) failure.queue.topic = request.msg->topic();
      if (request.cancel != nullptr) request.cancel->release();  // the send's reference
      completion->complete_later(ec, &failure);
      return;
    }
    if (auto* local = static_cast<send::loop_sender*>(scope.local_loop)) {
      // On a loop thread already: no hop, no allocation, the loop's clock reading; admitted by
      // the pipeline (it may suspend there, never block).
      if (request.cancel != nullptr) request.cancel->target.store(local);
      send::send_op& op = *local->acquire_op();
      adopt(op, completion, request, local->loop().now(), budget_of(request));
      op.bytes = bytes;
      local->run(op, true);
      return;
    }
    // Another thread: admitted here, blocking this thread while the producer is full; the
    // wait counts against the send's deadline. Chosen first, so that a cancellation emitted
    // meanwhile finds the loop the send will run on (it stops there before any write).
    send::loop_sender& chosen = next_loop();
    if (request.cancel != nullptr) request.cancel->target.store(&chosen);
    const io::clock::time_point started = io::clock::now();
    ec = admission_->acquire_blocking(
        bytes, started + budget_of(request),
        request.cancel != nullptr ? &request.cancel->blocked : nullptr);
    if (ec) {
      failure.queue.topic = request.msg->topic();
      if (request.cancel != nullptr) request.cancel->release();
      completion->complete_later(ec, &failure);
      return;
    }
    // A foreign thread may not touch the loop's pools: the request travels in its own node.
    auto* posted = new posted_send(chosen, *admission_, completion, request, started, bytes,
                                   budget_of(request));
    chosen.loop().post(*posted);
  }

  // --- shutdown ---------------------------------------------------------------------------

  /// Begins the drain (or joins the one under way) and completes `completion` once every send
  /// has completed and the connections are closed.
  void drain(detail::error_completion* completion, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    switch (state_.load()) {
      case state::created:
        lock.unlock();
        completion->complete(make_error_code(errc::not_started), true);
        return;
      case state::running:
        state_.store(state::draining, std::memory_order_seq_cst);
        drain_waiters_.push_back(completion);
        lock.unlock();
        launch_drain(timeout);
        return;
      case state::draining:
        drain_waiters_.push_back(completion);
        return;
      default:
        lock.unlock();
        completion->complete({}, true);
        return;
    }
  }

  std::error_code shutdown(std::chrono::milliseconds timeout) {
    if (local_loop() != nullptr) return make_error_code(errc::blocking_call_on_loop_thread);
    {
      std::lock_guard lock(mutex_);
      if (state_.load() == state::created) {
        state_.store(state::stopped);  // shut down before it ever ran: it never will
        return {};
      }
    }
    blocking_handoff handoff;
    callback_completion done([&](std::error_code) { handoff.complete([] {}); });
    const auto deadline = deadline_after(timeout);
    drain(&done, timeout);
    handoff.wait();
    join_loops();
    // Every traced send has completed: what its records left in the buffer goes now, within
    // what is left of the shutdown's time.
    if (trace_) trace_->stop(deadline);
    return {};
  }

  void start_flush(const detail::call_scope& scope, send::flush_state* flush,
                   std::chrono::milliseconds timeout) {
    const state s = state_.load();
    if (!scope.running || s != state::running) {
      flush->end_now(make_error_code(s == state::created ? errc::not_started : errc::shutting_down),
                     true);
      return;
    }
    flush->expect(loops_.size());
    const auto deadline = deadline_after(timeout);
    // Posted even to this thread's own loop: the completion never runs inside this call, and
    // every send handed to a loop before this call is ahead of the flush in its queue.
    for (auto& sender : loops_) {
      send::loop_sender* target = sender.get();
      target->loop().post([target, flush, deadline] { target->flush(*flush, deadline); });
    }
  }

  std::error_code fetch_queues(const std::string& topic, std::vector<message_queue>& out);

  const producer_config& config() const noexcept { return config_; }
  std::vector<std::unique_ptr<send::loop_sender>>& loops() noexcept { return loops_; }
  const send::admission_gate* admission() const noexcept { return admission_.get(); }
  const trace::trace_dispatcher* trace() const noexcept { return trace_.get(); }
  state current_state() const noexcept { return state_.load(); }

 private:
  struct posted_send final : io::task {
    posted_send(send::loop_sender& s, send::admission_gate& gate, detail::send_completion* c,
                detail::send_request& request, io::clock::time_point t, std::size_t b,
                std::chrono::milliseconds budget)
        : io::task(&run),
          target_loop(s),
          admission(gate),
          completion(c),
          started(t),
          bytes(b),
          budget(budget) {
      // What the caller hands over moves into this node; the request then points into it.
      taken = request;
      if (request.owned != nullptr) {
        owned.emplace(std::move(*request.owned));
        taken.owned = &*owned;
        taken.msg = &*owned;
      }
      if (request.owned_batch != nullptr) {
        owned_batch = std::move(*request.owned_batch);
        taken.owned_batch = &owned_batch;
        taken.batch = owned_batch;
        taken.msg = &owned_batch.front();
      }
      if (request.queue != nullptr) {
        queue = std::move(*request.queue);
        taken.queue = &queue;
      }
      if (request.selector != nullptr) {
        selector = std::move(*request.selector);
        taken.selector = &selector;
      }
      if (request.correlation != nullptr) {  // requests and replies only: plain sends pay 8 bytes
        const detail::correlation_fields& fields = *request.correlation;
        correlation = std::make_unique<detail::correlation_marker>(
            detail::correlation_marker{request.purpose,
                                       std::string(fields.correlation_id),
                                       std::string(fields.reply_to_client),
                                       std::string(fields.ttl),
                                       {}});
        correlation->view = {correlation->correlation_id, correlation->reply_to_client,
                             correlation->ttl};
        taken.correlation = &correlation->view;
      }
    }
    static void run(io::task* t, action a) noexcept {
      std::unique_ptr<posted_send> self(static_cast<posted_send*>(t));
      if (a != action::run) {
        // Unreachable while shutdown keeps the loops up for calls in progress; kept correct.
        self->admission.release(self->bytes);
        if (self->taken.cancel != nullptr) self->taken.cancel->release();
        send_result failure;
        failure.queue.topic = self->taken.msg->topic();
        self->completion->complete(make_error_code(errc::shutting_down), &failure);
        return;
      }
      send::send_op& op = *self->target_loop.acquire_op();
      adopt(op, self->completion, self->taken, self->started, self->budget);
      op.bytes = self->bytes;
      op.admitted = true;
      self->target_loop.run(op, false);
    }
    send::loop_sender& target_loop;
    send::admission_gate& admission;
    detail::send_completion* completion;
    io::clock::time_point started;
    std::size_t bytes;
    std::chrono::milliseconds budget;
    detail::send_request taken;
    std::optional<message> owned;
    std::vector<message> owned_batch;
    message_queue queue;
    queue_selector selector;
    std::unique_ptr<detail::correlation_marker> correlation;
  };

  /// Fills `op` from the request, taking over what the caller handed over.
  static void adopt(send::send_op& op, detail::send_completion* completion,
                    detail::send_request& request, io::clock::time_point started,
                    std::chrono::milliseconds budget) {
    op.completion = completion;
    op.cancel = request.cancel;
    op.mode = request.kind;
    op.purpose = request.purpose;
    op.started = started;  // the budget counts from the user's call, hops included
    op.deadline = started + budget;
    op.msg = request.msg;
    op.batch = request.batch;
    if (request.owned != nullptr) {
      op.msg = &op.extras().owned.emplace(std::move(*request.owned));
    }
    if (request.owned_batch != nullptr) {
      std::vector<message>& batch = op.extras().owned_batch;
      batch = std::move(*request.owned_batch);
      op.batch = batch;
      op.msg = &batch.front();
    }
    if (request.queue != nullptr) {
      send::send_op_extras& extras = op.extras();
      extras.queue = *request.queue;  // assigned: the op's strings keep their capacity
      extras.has_queue = true;
      op.ordered = true;
    } else if (request.selector != nullptr) {
      op.extras().selector = std::move(*request.selector);
      op.ordered = true;
    }
    if (request.correlation != nullptr) {
      op.extras().set_correlation(request.purpose, *request.correlation);
    }
  }

  std::error_code start_loops(std::vector<std::unique_ptr<send::loop_sender>>& loops) {
    for (std::size_t i = 0; i < loops.size(); ++i) {
      try {
        loops[i]->start();
      } catch (const std::system_error& e) {
        for (std::size_t j = 0; j < i; ++j) loops[j]->loop().stop();
        // The backend the loop was asked for, after RMQ_IO_BACKEND.
        if (loops[i]->loop().options().backend != io_backend::io_uring) {
          logger_->error("rmq: cannot start the producer's I/O loop: {}", e.what());
          return e.code();
        }
        logger_->error(
            "rmq: cannot start the producer: io_uring is not available ({}). Containers block "
            "it by default (Docker 25+, containerd, Kubernetes RuntimeDefault seccomp profiles): "
            "allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile; "
            "on Linux 6.6+ check the sysctl kernel.io_uring_disabled (must be 0); io_uring needs "
            "Linux 6.0 or later. producer_config::backend = automatic (the default) or epoll runs "
            "without it",
            e.what());
        return make_error_code(errc::io_uring_unavailable);
      }
    }
    const io::loop& first = loops.front()->loop();
    if (config_.backend == io_backend::automatic && first.uses_epoll()) {
      logger_->info("rmq: the producer runs on epoll: {}", first.fallback_reason());
    }
    return {};
  }

  void launch_drain(std::chrono::milliseconds timeout) {
    admission_->close(make_error_code(errc::shutting_down));  // callers waiting for room wake
    if (config_.metrics_interval.count() != 0) {
      // No report once the shutdown has begun (a report about to fire sees the state too).
      io::loop& first = loops_.front()->loop();
      first.post([this, &first] { first.cancel_timer(metrics_timer_); });
    }
    logger_->info("rmq: producer shutting down: new sends are refused; those in flight have {} ms",
                  timeout.count());
    const auto deadline = deadline_after(timeout);
    loops_draining_.store(loops_.size(), std::memory_order_relaxed);
    for (auto& s : loops_) {
      send::loop_sender* target = s.get();
      target->loop().post([this, target, deadline] {
        target->begin_shutdown(deadline, [this] { loop_drained(); });
      });
    }
  }

  /// A loop thread: one loop has closed its connections.
  void loop_drained() {
    if (loops_draining_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    // Sends admitted on other threads just before the gate closed may still be on their way
    // to a loop: they fail there at once; the drain ends when the last has completed.
    admission_->notify_when_idle(loops_.front()->loop(), drained_task_);
  }

  /// Terminal or partial cancellation of an async_shutdown: its handler completes now with
  /// operation_aborted (if it has not completed); the shutdown goes on.
  void abandon_drain_waiter(detail::error_completion* completion) {
    {
      std::lock_guard lock(mutex_);
      const auto it = std::find(drain_waiters_.begin(), drain_waiters_.end(), completion);
      if (it == drain_waiters_.end()) return;  // completed already
      drain_waiters_.erase(it);
    }
    completion->complete(make_error_code(asio::error::operation_aborted), true);
  }

  /// The slot handler's side of an async_shutdown: reaches the producer while it exists.
  class shutdown_cancel final : public detail::cancellable_operation {
   public:
    shutdown_cancel(producer_impl& owner, detail::error_completion* completion)
        : hub_(owner.cancel_hub_), owner_(owner), completion_(completion) {}
    void cancel(asio::cancellation_type type) noexcept override {
      // The shutdown has begun and cannot be undone: total cancellation is ignored.
      if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) ==
          asio::cancellation_type::none) {
        return;
      }
      // Once: after it, the completion may be gone and its address reused by another shutdown.
      if (used_) return;
      used_ = true;
      const std::lock_guard lock(hub_->mutex);
      if (hub_->open) owner_.abandon_drain_waiter(completion_);
    }
    void release() noexcept override { delete this; }

   private:
    ~shutdown_cancel() = default;
    std::shared_ptr<detail::cancel_hub> hub_;
    producer_impl& owner_;
    detail::error_completion* completion_;
    bool used_ = false;  // emits come from the handler's executor, one at a time
  };

  /// Loop thread: every send has completed.
  void on_drained() noexcept {
    std::vector<detail::error_completion*> waiters;
    {
      std::lock_guard lock(mutex_);
      state_.store(state::drained, std::memory_order_seq_cst);
      waiters.swap(drain_waiters_);
    }
    // spdlog's logger catches what its sinks throw.
    logger_->info("rmq: producer drained: every send has completed, connections are closed");
    for (detail::error_completion* w : waiters) w->complete({});
  }

  /// Off the loops, after the drain: stops and joins the loop threads once every call in
  /// progress has left (they may still hand work to the loops until then).
  void join_loops() {
    std::lock_guard join(join_mutex_);
    if (state_.load() == state::stopped) return;
    state_.store(state::stopping_loops, std::memory_order_seq_cst);
    for (std::size_t n = calls_.load(std::memory_order_seq_cst); n != 0;
         n = calls_.load(std::memory_order_seq_cst)) {
      calls_.wait(n, std::memory_order_seq_cst);
    }
    for (auto& s : loops_) s->loop().stop();  // runs what was handed to it, then joins
    for (auto& s : loops_) s->loop().close();
    state_.store(state::stopped, std::memory_order_seq_cst);
    logger_->info("rmq: producer stopped: its threads have ended");
  }

  struct drained_task final : io::task {
    explicit drained_task(producer_impl& i) noexcept : io::task(&run), owner(i) {}
    static void run(io::task* t, action) noexcept {
      static_cast<drained_task*>(t)->owner.on_drained();
    }
    producer_impl& owner;
  };

  /// Fires every metrics_interval on the first loop: the report goes to metrics_callback.
  struct metrics_timer final : io::timer_node {
    explicit metrics_timer(producer_impl& i) noexcept : io::timer_node(&fire), owner(i) {}
    static void fire(io::timer_node* node, std::error_code ec) noexcept;
    producer_impl& owner;
  };

  producer_config config_;
  std::shared_ptr<spdlog::logger> logger_;  // config_.logger, or the registry's "rmq" (at start)
  // Before the loops: destroyed (joined) after them.
  send::transaction_threads transaction_threads_{config_.transaction_threads};
  send::reply_table replies_{config_.max_pending_requests};
  std::unique_ptr<send::admission_gate> admission_;
  std::vector<std::unique_ptr<send::loop_sender>> loops_;
  std::shared_ptr<trace::trace_dispatcher> trace_;  // set while producer_config::trace is
  std::atomic<std::size_t> next_loop_{0};
  std::atomic<state> state_{state::created};
  std::atomic<std::size_t> calls_{0};  // calls in progress off the loops
  std::mutex mutex_;                   // state transitions, drain_waiters_
  std::mutex join_mutex_;              // one joiner at a time
  std::vector<detail::error_completion*> drain_waiters_;
  std::atomic<std::size_t> loops_draining_{0};
  std::shared_ptr<detail::cancel_hub> cancel_hub_ = std::make_shared<detail::cancel_hub>();
  drained_task drained_task_{*this};
  metrics_timer metrics_timer_{*this};  // the first loop's thread only
};

// --- call scope ----------------------------------------------------------------------------

detail::call_scope::call_scope(producer& p) noexcept : owner(p) {
  detail::producer_impl& impl = detail::producer_access::state(p);
  if (send::loop_sender* local = impl.local_loop()) {
    local_loop = local;
    running = true;  // we are on one of its loops
    return;
  }
  counted = true;
  running = impl.enter_call();
}

detail::call_scope::~call_scope() {
  if (counted) detail::producer_access::state(owner).leave_call();
}

// --- counters and metrics -------------------------------------------------------------------

namespace {

producer_stats gather_stats(detail::producer_impl& impl) {
  producer_stats stats;
  if (impl.current_state() == detail::producer_impl::state::created)
    return stats;  // no loops to read yet
  for (const auto& s : impl.loops()) {
    const send::loop_counters& c = s->counters();
    stats.sends += c.sends.get();
    stats.succeeded += c.succeeded.get();
    stats.failed += c.failed.get();
    stats.retries += c.retries.get();
    stats.timeouts += c.timeouts.get();
    stats.route_queries += s->route_queries();
    stats.cached_topics += s->routes().topics();
    stats.evicted_topics += s->routes().evicted_topics();
    stats.slot_fallbacks += s->completions().fallbacks();
    stats.handler_exceptions += s->loop().counters().handler_exceptions;
    stats.transactions += c.transactions.get();
    stats.transaction_checks += c.transaction_checks.get();
    stats.checks_ignored += c.checks_ignored.get();
    stats.requests += c.requests.get();
    stats.replies += c.replies.get();
    stats.replies_dropped += c.replies_dropped.get();
    stats.hook_exceptions += c.hook_exceptions.get();
    stats.auto_batches += c.auto_batches.get();
    stats.auto_batched += c.auto_batched.get();
  }
  if (const send::admission_gate* gate = impl.admission()) {
    stats.in_flight = gate->sends();
    stats.in_flight_bytes = gate->bytes();
    stats.waiting_for_room = gate->waiting();
    stats.room_waits = gate->waits();
  }
  if (const trace::trace_dispatcher* trace = impl.trace()) {
    stats.trace_records = trace->records();
    stats.trace_dropped = trace->dropped();
    stats.trace_send_failures = trace->send_failures();
  }
  stats.frame_pool_fallbacks = frame_pool::fallback_allocations();
  return stats;
}

producer_metrics gather_metrics(detail::producer_impl& impl) {
  metrics::snapshot_builder builder;
  if (impl.current_state() != detail::producer_impl::state::created) {
    for (const auto& s : impl.loops()) builder.add(s->metrics());
  }
  return std::move(builder).finish(gather_stats(impl));
}

}  // namespace

void detail::producer_impl::metrics_timer::fire(io::timer_node* node, std::error_code ec) noexcept {
  if (ec) return;  // the loop stops
  producer_impl& impl = static_cast<metrics_timer*>(node)->owner;
  if (impl.current_state() != state::running) return;  // shutdown has begun: no more reports
  try {
    impl.config_.metrics_callback(gather_metrics(impl));
  } catch (const std::exception& e) {
    impl.logger_->error("rmq: the metrics callback threw: {}", e.what());
  } catch (...) {
    impl.logger_->error("rmq: the metrics callback threw a non-standard exception");
  }
  impl.arm_metrics_timer();
}

// --- producer ------------------------------------------------------------------------------

producer::producer(producer_config config)
    : impl_(std::make_unique<detail::producer_impl>(std::move(config))) {}

producer::~producer() {
  if (!impl_) return;
  if (impl_->local_loop() != nullptr || impl_->on_transaction_thread()) {
    // On one of our own loops or transaction threads: they cannot be joined from here. A
    // background thread finishes the shutdown and frees the state once they are down.
    const auto timeout = impl_->config().send_timeout;
    std::thread([state = std::move(impl_), timeout]() mutable {
      (void)state->shutdown(timeout);
      state.reset();
    }).detach();
    return;
  }
  (void)impl_->shutdown(impl_->config().send_timeout);
}

std::error_code producer::start() {
  return impl_->start();
}

std::error_code producer::shutdown(std::chrono::milliseconds timeout) {
  return impl_->shutdown(timeout);
}

detail::producer_impl& detail::producer_access::state(producer& p) noexcept {
  return *p.impl_;
}

void detail::producer_access::start_shutdown(producer& p, error_completion* completion,
                                             std::chrono::milliseconds timeout) {
  p.impl_->drain(completion, timeout);
}

detail::cancellable_operation* detail::producer_access::prepare_flush(error_completion* completion,
                                                                      bool cancellable) {
  return new send::flush_state(completion, cancellable);
}

detail::cancellable_operation* detail::producer_access::prepare_operation(
    const call_scope& scope, outcome_completion<transaction_result>* completion, bool cancellable,
    const message* msg, local_transaction& local, send_options& options) {
  auto* run = new send::transaction_run(scope.owner, scope.owner.impl_->cancel_hub(), completion,
                                        *msg, std::move(local), std::move(options), cancellable);
  scope.owner.impl_->bind(scope, *run);
  return run;
}

detail::cancellable_operation* detail::producer_access::prepare_operation(
    const call_scope& scope, outcome_completion<request_result>* completion, bool cancellable,
    const message* msg, send_options& options) {
  auto* run = new send::request_run(scope.owner, scope.owner.impl_->cancel_hub(), completion, *msg,
                                    std::move(options), cancellable);
  scope.owner.impl_->bind(scope, *run);
  return run;
}

detail::cancellable_operation* detail::producer_access::prepare_operation(
    const call_scope& scope, outcome_completion<recall_result>* completion, bool cancellable,
    std::string& topic, std::string& handle) {
  auto* run = new send::recall_run(scope.owner.impl_->cancel_hub(), completion, std::move(topic),
                                   std::move(handle), cancellable);
  scope.owner.impl_->bind(scope, *run);
  return run;
}

void detail::producer_access::start_operation(const call_scope& scope,
                                              cancellable_operation* operation) {
  auto* run = dynamic_cast<send::loop_operation*>(operation);
  detail::producer_impl& impl = *scope.owner.impl_;
  if (!scope.running) {
    run->fail(make_error_code(impl.current_state() == detail::producer_impl::state::created
                                  ? errc::not_started
                                  : errc::shutting_down));
    return;
  }
  run->start();
}

detail::correlation_marker detail::reply_to(const request_properties& request, std::string& body,
                                            message& out) {
  const auto value = [&](std::string_view name) -> std::string {
    const auto it = request.find(std::string(name));
    return it == request.end() ? std::string() : it->second;
  };
  namespace names = wire::property_names;
  const std::string cluster = value("CLUSTER");
  if (!cluster.empty()) out.set_topic(cluster + "_REPLY_TOPIC");
  out.set_body(std::move(body));
  return {detail::send_purpose::reply,
          value(names::correlation_id),
          value(names::reply_to_client),
          value(names::ttl),
          {}};
}

transaction_result producer::send_in_transaction(const message& msg, local_transaction local,
                                                 std::error_code& ec) {
  return send_in_transaction(msg, std::move(local), send_options{}, ec);
}

namespace {

// Runs the loop operation producer_access::prepare_operation makes of `args` and waits for it on
// the calling thread (not a loop thread: the caller checks): its error into `ec`, its result
// returned, starting from `result` (what a failure reports besides its error).
template <class Result, class... Args>
Result run_blocking(producer& p, Result result, std::error_code& ec, Args&... args) {
  blocking_handoff handoff;
  outcome_callback<Result, std::function<void(std::error_code, Result &&)>> done(
      [&](std::error_code e, Result&& r) {
        handoff.complete([&] {
          ec = e;
          result = std::move(r);
        });
      });
  {
    const detail::call_scope scope(p);
    detail::cancellable_operation* run =
        detail::producer_access::prepare_operation(scope, &done, false, args...);
    detail::producer_access::start_operation(scope, run);
  }
  handoff.wait();
  return result;
}

}  // namespace

transaction_result producer::send_in_transaction(const message& msg, local_transaction local,
                                                 const send_options& options, std::error_code& ec) {
  transaction_result result;
  if (impl_->local_loop() != nullptr) {
    ec = make_error_code(errc::blocking_call_on_loop_thread);
    result.send.queue.topic = msg.topic();
    return result;
  }
  const message* target = &msg;
  send_options copy = options;
  return run_blocking(*this, std::move(result), ec, target, local, copy);
}

recall_result producer::recall(const std::string& topic, const std::string& handle,
                               std::error_code& ec) {
  if (impl_->local_loop() != nullptr) {
    ec = make_error_code(errc::blocking_call_on_loop_thread);
    return {};
  }
  std::string topic_copy = topic;
  std::string handle_copy = handle;
  return run_blocking(*this, recall_result{}, ec, topic_copy, handle_copy);
}

request_result producer::request(const message& msg, std::chrono::milliseconds timeout,
                                 std::error_code& ec) {
  request_result result;
  result.request.queue.topic = msg.topic();
  if (impl_->local_loop() != nullptr) {
    ec = make_error_code(errc::blocking_call_on_loop_thread);
    return result;
  }
  const message* target = &msg;
  send_options options;
  options.timeout = timeout;
  return run_blocking(*this, std::move(result), ec, target, options);
}

detail::cancellable_operation* detail::producer_access::shutdown_cancellation(
    producer& p, error_completion* completion) {
  return new detail::producer_impl::shutdown_cancel(*p.impl_, completion);
}

void detail::producer_access::start_flush(const call_scope& scope, cancellable_operation* flush,
                                          std::chrono::milliseconds timeout) {
  scope.owner.impl_->start_flush(scope, static_cast<send::flush_state*>(flush), timeout);
}

std::error_code producer::flush(std::chrono::milliseconds timeout) {
  if (impl_->local_loop() != nullptr) return make_error_code(errc::blocking_call_on_loop_thread);
  blocking_handoff handoff;
  std::error_code result;
  callback_completion done([&](std::error_code ec) { handoff.complete([&] { result = ec; }); });
  {
    const detail::call_scope scope(*this);
    impl_->start_flush(scope, new send::flush_state(&done, false), timeout);
  }
  handoff.wait();
  return result;
}

producer::executor_type producer::get_executor() const {
  if (impl_->current_state() == detail::producer_impl::state::created || impl_->loops().empty())
    throw std::system_error(make_error_code(errc::not_started));
  return impl_->loops().front()->loop().get_executor();
}

const producer_config& producer::config() const noexcept {
  return impl_->config();
}

io_backend producer::backend() const noexcept {
  if (impl_->current_state() == detail::producer_impl::state::created || impl_->loops().empty())
    return impl_->config().backend;
  return impl_->loops().front()->loop().backend();
}

asio::any_io_executor detail::producer_access::completion_executor(const call_scope& scope) {
  if (scope.local_loop != nullptr) {
    return static_cast<send::loop_sender*>(scope.local_loop)->loop().get_executor();
  }
  if (!scope.running) {
    return asio::prefer(asio::system_executor(), asio::execution::outstanding_work.tracked);
  }
  return scope.owner.impl_->loops().front()->loop().get_executor();
}

const detail::completion_storage* detail::producer_access::completion_storage_for(
    const call_scope& scope) noexcept {
  static constexpr detail::completion_storage heap{&heap_allocate, &heap_deallocate, nullptr};
  if (scope.local_loop != nullptr) {
    return &static_cast<send::loop_sender*>(scope.local_loop)->completion_storage();
  }
  return &heap;
}

void detail::producer_access::start_send(const call_scope& scope, send_completion* completion,
                                         send_request& request) {
  scope.owner.impl_->start_send(scope, completion, request);
}

detail::cancel_link* detail::producer_access::make_cancel_link(const call_scope& scope) {
  return scope.owner.impl_->make_cancel_link(scope);
}

detail::send_cancellation::~send_cancellation() {
  link_->release();
}

void detail::send_cancellation::operator()(asio::cancellation_type type) const noexcept {
  if (type != asio::cancellation_type::none) link_->request(static_cast<std::uint32_t>(type));
}

namespace {

/// Runs `start(handler)` and waits for the handler on this thread. Off the loops only.
template <class Start>
send_result wait_for_send(detail::producer_impl& impl, Start&& start, std::error_code& ec) {
  if (impl.local_loop() != nullptr) {
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

/// The blocking forms: the send's handler wakes the calling thread.
send_result blocking_send(producer& p, detail::send_request& request, std::error_code& ec) {
  return wait_for_send(
      detail::producer_access::state(p),
      [&](auto handler) {
        detail::start_send_with(p, std::move(handler), request, std::false_type{});
      },
      ec);
}

}  // namespace

send_result producer::send_reply(const request_properties& request, std::string body,
                                 std::error_code& ec) {
  message reply;
  detail::correlation_marker marker = detail::reply_to(request, body, reply);
  detail::send_request r;
  r.msg = &reply;
  r.kind = detail::send_kind::sync;
  describe(r, marker);
  return blocking_send(*this, r, ec);
}

send_result producer::send(const message& msg) {
  std::error_code ec;
  send_result result = send(msg, ec);
  if (ec) {
    if (result.queue.topic.empty()) result.queue.topic = msg.topic();
    throw send_error(ec, result);
  }
  return result;
}

send_result producer::send(const message& msg, std::error_code& ec) {
  detail::send_request request;
  request.msg = &msg;
  request.kind = detail::send_kind::sync;
  return blocking_send(*this, request, ec);
}

send_result producer::send(const message& msg, const message_queue& queue, std::error_code& ec) {
  message_queue copy = queue;
  detail::send_request request;
  request.msg = &msg;
  request.kind = detail::send_kind::sync;
  request.queue = &copy;
  return blocking_send(*this, request, ec);
}

send_result producer::send(const message& msg, const queue_selector& selector,
                           std::error_code& ec) {
  queue_selector copy = selector;
  detail::send_request request;
  request.msg = &msg;
  request.kind = detail::send_kind::sync;
  request.selector = &copy;
  return blocking_send(*this, request, ec);
}

send_result producer::send(const message& msg, const send_options& options, std::error_code& ec) {
  send_options copy = options;
  detail::send_request request;
  request.msg = &msg;
  request.kind = detail::send_kind::sync;
  describe(request, copy);
  return blocking_send(*this, request, ec);
}

send_result producer::send_batch(std::span<const message> batch, const send_options& options,
                                 std::error_code& ec) {
  send_options copy = options;
  detail::send_request request;
  request.batch = batch;
  request.msg = batch.empty() ? nullptr : &batch.front();
  request.kind = detail::send_kind::sync;
  describe(request, copy);
  return blocking_send(*this, request, ec);
}

std::error_code producer::send_oneway(const message& msg, const send_options& options) {
  send_options copy = options;
  detail::send_request request;
  request.msg = &msg;
  request.kind = detail::send_kind::oneway;
  describe(request, copy);
  std::error_code ec;
  (void)blocking_send(*this, request, ec);
  return ec;
}

send_result producer::send_batch(std::span<const message> batch, std::error_code& ec) {
  detail::send_request request;
  request.batch = batch;
  request.msg = batch.empty() ? nullptr : &batch.front();
  request.kind = detail::send_kind::sync;
  return blocking_send(*this, request, ec);
}

std::error_code producer::send_oneway(const message& msg) {
  detail::send_request request;
  request.msg = &msg;
  request.kind = detail::send_kind::oneway;
  std::error_code ec;
  (void)blocking_send(*this, request, ec);
  return ec;
}

std::error_code producer::fetch_queues(const std::string& topic, std::vector<message_queue>& out) {
  return impl_->fetch_queues(topic, out);
}

std::error_code detail::producer_impl::fetch_queues(const std::string& topic,
                                                    std::vector<message_queue>& out) {
  if (local_loop() != nullptr) return make_error_code(errc::blocking_call_on_loop_thread);
  if (!enter_call()) {
    leave_call();
    return make_error_code(state_.load() == state::created ? errc::not_started
                                                           : errc::shutting_down);
  }
  // The query runs on the first loop; its task completes the caller however it ends.
  struct query final : io::task {
    query(send::loop_sender& s, std::string t, io::clock::time_point d,
          std::vector<message_queue>& o) noexcept
        : io::task(&run), target(s), topic(std::move(t)), deadline(d), out(o) {}
    static void run(io::task* t, action a) noexcept {
      auto& self = *static_cast<query*>(t);
      if (a != action::run) {
        self.handoff.complete([&] { self.result = make_error_code(errc::shutting_down); });
        return;
      }
      spawn([](query& q) -> coro<void> {
        const std::error_code ec = co_await q.target.queues_of(q.topic, q.deadline, q.out);
        q.handoff.complete([&] { q.result = ec; });
      }(self));
    }
    send::loop_sender& target;
    std::string topic;
    io::clock::time_point deadline;
    std::vector<message_queue>& out;
    std::error_code result;
    blocking_handoff handoff;
  };
  query q(*loops_.front(), topic, io::clock::now() + config_.send_timeout, out);
  loops_.front()->loop().post(q);
  leave_call();
  q.handoff.wait();
  return q.result;
}

producer_stats producer::stats() const {
  return gather_stats(*impl_);
}

producer_metrics producer::metrics() const {
  return gather_metrics(*impl_);
}

}  // namespace rmq
