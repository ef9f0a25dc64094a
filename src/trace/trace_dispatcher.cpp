#include "trace/trace_dispatcher.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

namespace rmq::trace {
namespace {

// A trace message's KEYS stay well below the 32767-byte properties limit.
constexpr std::size_t max_keys_bytes = 16 * 1024;

// Java numbers its trace groups per process (AsyncTraceDispatcher's COUNTER).
std::atomic<int> trace_groups{0};

std::int64_t epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

message_type type_of(const send_context& context) {
  if (context.kind() == send_hook_kind::half_message) return message_type::transaction_half;
  const message& msg = context.msg();
  if (msg.delay_level() > 0 || msg.delivery_time_ms() || msg.delay_time_ms() ||
      msg.delay_time_sec()) {
    return message_type::delay;
  }
  return message_type::normal;
}

// A batch's comma-joined ids, taken one by one as its messages' hooks run (in index order, on
// one loop thread): each id is found once, not by a scan from the start per message.
class id_cursor {
 public:
  /// The `index`th of `ids` (the whole text for a single message).
  std::string_view at(std::string_view ids, std::size_t index, std::size_t count) {
    if (count <= 1) return ids;
    if (index == 0 || ids.data() != whole_.data() || index != next_) {
      whole_ = ids;
      rest_ = ids;
      next_ = 0;
    }
    for (; next_ < index; ++next_) skip();
    const std::string_view id = rest_.substr(0, rest_.find(','));
    skip();
    ++next_;
    return id;
  }

 private:
  void skip() noexcept {
    const std::size_t comma = rest_.find(',');
    rest_ = comma == std::string_view::npos ? std::string_view{} : rest_.substr(comma + 1);
  }
  std::string_view whole_;
  std::string_view rest_;
  std::size_t next_ = 0;
};

}  // namespace

producer_config trace_producer_config(const producer_config& traced,
                                      const std::string& name_servers) {
  producer_config config;
  config.name_servers = name_servers;
  config.group = "_INNER_TRACE_PRODUCER-" + traced.group + "-PRODUCE-" +
                 std::to_string(trace_groups.fetch_add(1, std::memory_order_relaxed) + 1);
  config.instance_name = "PID_CLIENT_INNER_TRACE_PRODUCER_" + name_servers;
  if (config.instance_name.size() > 255) config.instance_name.resize(255);
  config.credentials = traced.credentials;
  config.send_timeout = std::chrono::milliseconds(5000);  // Java's trace producer
  // Trace messages (~19 KB of records) are compressed as Java's are, but at zlib's fastest
  // level: any level inflates the same, and level 5 cost a third of the traced send.
  config.compress_level = 1;
  config.heartbeat_interval = traced.heartbeat_interval;
  config.route_refresh_interval = traced.route_refresh_interval;
  config.connect_timeout = traced.connect_timeout;
  config.create_topic_key = traced.create_topic_key;
  config.default_topic_queue_nums = traced.default_topic_queue_nums;
  config.protocol_version = traced.protocol_version;
  config.serialization = traced.serialization;
  config.backend = traced.backend;
  config.logger = traced.logger;
  // The dispatcher bounds its trace messages in flight itself; the gate never makes it wait.
  config.max_in_flight_sends = traced.trace->max_in_flight;
  config.fail_fast_when_full = true;
  config.loop_threads = 1;
  return config;
}

trace_dispatcher::trace_dispatcher(const producer_config& traced, const std::string& name_servers)
    : settings_(*traced.trace),
      group_(traced.group),
      buffer_(settings_.buffer_records, settings_.max_records_per_message),
      producer_(trace_producer_config(traced, name_servers)) {}

trace_dispatcher::~trace_dispatcher() {
  stop(std::chrono::steady_clock::now());
}

std::error_code trace_dispatcher::start() {
  if (const std::error_code ec = producer_.start()) return ec;
  thread_ = std::thread([this] { run(); });
  started_ = true;
  return {};
}

void trace_dispatcher::stop(std::chrono::steady_clock::time_point deadline) {
  const std::lock_guard lock(stop_mutex_);
  if (stopped_) return;
  stopped_ = true;
  {
    const std::lock_guard flight(flight_mutex_);
    stop_deadline_ = deadline;
  }
  flight_room_.notify_all();
  buffer_.close();
  if (thread_.joinable()) thread_.join();  // it has handed every record left to the producer
  if (!started_) return;
  const auto left = std::max(deadline - std::chrono::steady_clock::now(),
                             std::chrono::steady_clock::duration::zero());
  (void)producer_.shutdown(std::chrono::ceil<std::chrono::milliseconds>(left));
}

void trace_dispatcher::before_send(send_context& /*context*/) {}

void trace_dispatcher::after_send(const send_context& context, const send_outcome& outcome) {
  // Java traces the sends that got a result with TRACE_ON, never its own trace messages.
  if (outcome.error || !outcome.result.trace_on || context.mode() == send_hook_mode::oneway) {
    return;
  }
  if (context.topic().starts_with(settings_.topic)) return;
  const auto now = std::chrono::system_clock::now();
  buffer_.push([&](trace_record& r) {
    const send_result& result = outcome.result;
    const auto cost = std::chrono::duration_cast<std::chrono::milliseconds>(outcome.latency);
    r.timestamp_ms = epoch_ms(now) - cost.count();
    r.region_id.assign(result.region_id.view());
    r.group.assign(context.group());
    r.topic.assign(context.topic());
    // One cursor per list and loop thread: hooks of several loops run concurrently.
    thread_local id_cursor msg_ids;
    thread_local id_cursor offset_ids;
    r.msg_id.assign(msg_ids.at(result.msg_id.view(), context.batch_index(), context.batch_size()));
    r.tags.assign(context.msg().tags());
    r.keys.assign(context.msg().keys());
    r.store_host.assign(outcome.broker_address);
    r.body_length = static_cast<std::int64_t>(context.msg().body().size());
    r.cost_ms = cost.count();
    r.type = type_of(context);
    r.offset_msg_id.assign(
        offset_ids.at(result.offset_msg_id.view(), context.batch_index(), context.batch_size()));
    r.success = result.status == send_status::send_ok;
  });
}

void trace_dispatcher::run() {
  for (;;) {
    const std::span<const trace_record> taken = buffer_.take(settings_.flush_interval);
    if (taken.empty()) return;  // closed, and all sent
    send_records(taken);
  }
}

void trace_dispatcher::send_records(std::span<const trace_record> records) {
  std::string body;
  std::string keys;
  std::string encoded;
  std::size_t in_message = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    encoded.clear();
    append_record(encoded, records[i]);
    const bool full =
        in_message == settings_.max_records_per_message ||
        body.size() + encoded.size() > settings_.max_message_size ||
        keys.size() + records[i].msg_id.size() + records[i].keys.size() + 2 > max_keys_bytes;
    if (in_message > 0 && full) {
      send_message(body, keys, in_message);
      in_message = 0;
    }
    body.append(encoded);
    append_keys(keys, records[i]);
    ++in_message;
  }
  if (in_message > 0) send_message(body, keys, in_message);
}

void trace_dispatcher::send_message(std::string& body, std::string& keys, std::size_t count) {
  if (!reserve_flight()) {
    buffer_.count_dropped(count);  // shutdown's time is up
    body.clear();
    keys.clear();
    return;
  }
  message msg(settings_.topic, std::exchange(body, {}));
  msg.set_keys(std::exchange(keys, {}));
  records_.fetch_add(count, std::memory_order_relaxed);
  producer_.async_send(std::move(msg), [this](std::error_code ec, const send_result&) {
    if (ec) send_failures_.fetch_add(1, std::memory_order_relaxed);
    release_flight();
  });
}

bool trace_dispatcher::reserve_flight() {
  std::unique_lock lock(flight_mutex_);
  const auto room = [&] { return in_flight_ < settings_.max_in_flight; };
  // Until stop(), wait as long as it takes (the buffer drops meanwhile); then until its deadline.
  flight_room_.wait(lock, [&] { return room() || stop_deadline_.has_value(); });
  if (!room() && !flight_room_.wait_until(lock, *stop_deadline_, room)) return false;
  ++in_flight_;
  return true;
}

void trace_dispatcher::release_flight() {
  {
    const std::lock_guard lock(flight_mutex_);
    --in_flight_;
  }
  flight_room_.notify_one();
}

}  // namespace rmq::trace
