#include "send/config_description.hpp"

#include <limits>
#include <string>

namespace rmq::send {

namespace {

std::string_view name_of(compression c) noexcept {
  switch (c) {
    case compression::zlib:
      return "zlib";
    case compression::zstd:
      return "zstd";
    case compression::lz4:
      return "lz4";
  }
  return "?";
}

std::string_view name_of(header_serialization s) noexcept {
  return s == header_serialization::binary ? "binary" : "json";
}

std::string_view name_of(fault_table_preset p) noexcept {
  return p == fault_table_preset::v4_9 ? "v4_9" : "v5";
}

}  // namespace

void config_description::begin(std::string_view name) {
  if (!text_.empty()) text_ += ", ";
  text_ += name;
  text_ += '=';
}

config_description& config_description::add(std::string_view name, std::string_view value) {
  begin(name);
  text_ += value;
  return *this;
}

config_description& config_description::add(std::string_view name, bool value) {
  return add(name, value ? "true" : "false");
}

config_description& config_description::add(std::string_view name,
                                            std::chrono::milliseconds value) {
  add_number(name, value.count());
  text_ += "ms";
  return *this;
}

config_description& config_description::add(std::string_view name,
                                            std::chrono::microseconds value) {
  add_number(name, value.count());
  text_ += "us";
  return *this;
}

config_description& config_description::add_number(std::string_view name, std::int64_t value) {
  begin(name);
  text_ += std::to_string(value);
  return *this;
}

config_description& config_description::add_unsigned(std::string_view name, std::uint64_t value) {
  begin(name);
  text_ += std::to_string(value);
  return *this;
}

config_description& config_description::secret(std::string_view name, std::string_view value) {
  return add(name, value.empty() ? "(none)" : "***");
}

std::string describe_config(const producer_config& c, std::string_view name_servers,
                            std::string_view client_id) {
  config_description d;
  d.add("name_servers", name_servers)
      .add("group", c.group)
      .add("name_space", c.name_space)
      .add("client_id", client_id)
      .add("send_timeout", c.send_timeout);
  if (c.attempt_timeout) {
    d.add("attempt_timeout", *c.attempt_timeout);
  } else {
    d.add("attempt_timeout", "shared");
  }
  d.add("retries_sync", c.retries_sync)
      .add("retries_async", c.retries_async)
      .add("retry_another_broker_when_not_stored_ok", c.retry_another_broker_when_not_stored_ok);
  if (c.compress_threshold == std::numeric_limits<std::size_t>::max()) {
    d.add("compress_threshold", "never");
  } else {
    d.add("compress_threshold", c.compress_threshold);
  }
  d.add("compress_type", name_of(c.compress_type))
      .add("compress_level", c.compress_level)
      .add("max_message_size", c.max_message_size)
      .add("max_delay_level", c.max_delay_level);
  if (c.auto_batch) {
    d.add("auto_batch.linger", c.auto_batch->linger)
        .add("auto_batch.max_bytes", c.auto_batch->max_bytes)
        .add("auto_batch.max_messages", c.auto_batch->max_messages);
  } else {
    d.add("auto_batch", "off");
  }
  d.add("fault_tolerance", c.fault_tolerance)
      .add("fault_tables", c.custom_fault_tables ? "custom" : name_of(c.fault_tables))
      .add("heartbeat_interval", c.heartbeat_interval)
      .add("route_refresh_interval", c.route_refresh_interval)
      .add("route_idle_timeout", c.route_idle_timeout)
      .add("connect_timeout", c.connect_timeout)
      .add("max_in_flight_sends", c.max_in_flight_sends)
      .add("max_in_flight_bytes", c.max_in_flight_bytes)
      .add("fail_fast_when_full", c.fail_fast_when_full)
      .add("create_topic_key", c.create_topic_key)
      .add("default_topic_queue_nums", c.default_topic_queue_nums)
      .add("route_limits.max_body_bytes", c.route_limits.max_body_bytes)
      .add("route_limits.max_brokers", c.route_limits.max_brokers)
      .add("route_limits.max_queues_per_broker", c.route_limits.max_queues_per_broker)
      .add("route_limits.max_queues", c.route_limits.max_queues)
      .add("protocol_version", c.protocol_version)
      .add("serialization", name_of(c.serialization))
      .add("loop_threads", c.loop_threads)
      .add("busy_poll", c.busy_poll)
      .add("backend", to_string(c.backend))
      .add("send_hooks", c.send_hooks.size())
      .add("metrics_interval", c.metrics_interval);
  if (c.trace) {
    d.add("trace.topic", c.trace->topic)
        .add("trace.buffer_records", c.trace->buffer_records)
        .add("trace.max_records_per_message", c.trace->max_records_per_message)
        .add("trace.max_message_size", c.trace->max_message_size)
        .add("trace.flush_interval", c.trace->flush_interval)
        .add("trace.max_in_flight", c.trace->max_in_flight);
  } else {
    d.add("trace", "off");
  }
  if (c.tls) {
    const auto or_none = [](const std::string& s) {
      return s.empty() ? std::string_view("(none)") : std::string_view(s);
    };
    d.add("tls.ca_file", or_none(c.tls->ca_file))
        .add("tls.ca_dir", or_none(c.tls->ca_dir))
        .add("tls.cert_file", or_none(c.tls->cert_file))
        .add("tls.key_file", or_none(c.tls->key_file))
        .add("tls.verify_server", c.tls->verify_server)
        .add("tls.server_name", or_none(c.tls->server_name));
  } else {
    d.add("tls", "off");
  }
  d.add("checker", c.checker ? "set" : "none")
      .add("local_transaction_timeout", c.local_transaction_timeout)
      .add("check_timeout", c.check_timeout)
      .add("transaction_threads", c.transaction_threads)
      .add("max_concurrent_checks", c.max_concurrent_checks)
      .add("max_pending_requests", c.max_pending_requests);
  d.add("credentials.access_key", c.credentials.access_key.empty()
                                      ? std::string_view("(none)")
                                      : std::string_view(c.credentials.access_key))
      .secret("credentials.secret_key", c.credentials.secret_key)
      .secret("credentials.security_token", c.credentials.security_token);
  return d.text();
}

}  // namespace rmq::send
