#include "simulator.hpp"

#include "broker.hpp"
#include "cluster.hpp"
#include "namesrv.hpp"
#include "recorder.hpp"
#include "server.hpp"
#include "tls.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace rmq::sim {

std::uint64_t sim_counters::broker_requests(std::int32_t code) const noexcept {
  std::uint64_t total = 0;
  for (const auto& [name, c] : brokers) total += c.count(code);
  return total;
}

std::uint64_t sim_counters::broker_messages() const noexcept {
  std::uint64_t total = 0;
  for (const auto& [name, c] : brokers) total += c.messages;
  return total;
}

std::uint64_t sim_counters::sum(std::uint64_t server_counters::*count) const noexcept {
  std::uint64_t total = namesrv.*count;
  for (const auto& [name, c] : brokers) total += c.*count;
  return total;
}

std::uint64_t sim_counters::broker_requests_sent(std::int32_t code) const noexcept {
  std::uint64_t total = 0;
  for (const auto& [name, c] : brokers) total += c.sent(code);
  return total;
}

std::uint64_t sim_counters::broker_client_responses() const noexcept {
  std::uint64_t total = 0;
  for (const auto& [name, c] : brokers) total += c.client_responses;
  return total;
}

transaction_counters sim_counters::transactions() const noexcept {
  transaction_counters total;
  for (const auto& [name, c] : brokers) {
    const auto& t = c.transactions;
    total.half_messages += t.half_messages;
    total.pending += t.pending;
    total.committed += t.committed;
    total.rolled_back += t.rolled_back;
    total.discarded += t.discarded;
    total.checks += t.checks;
    total.checks_sent += t.checks_sent;
    total.end_transaction_refused += t.end_transaction_refused;
    total.end_transaction_dropped += t.end_transaction_dropped;
    total.evicted += t.evicted;
  }
  return total;
}

reply_counters sim_counters::replies() const noexcept {
  reply_counters total;
  for (const auto& [name, c] : brokers) {
    const auto& r = c.replies;
    total.requests += r.requests;
    total.reply_sends += r.reply_sends;
    total.responder_replies += r.responder_replies;
    total.pushes += r.pushes;
    total.delivered += r.delivered;
    total.push_failed += r.push_failed;
    total.requester_gone += r.requester_gone;
    total.withheld += r.withheld;
  }
  return total;
}

struct simulator::impl {
  struct broker_unit {
    broker_state* state = nullptr;
    std::unique_ptr<broker_handler> handler;
    std::unique_ptr<server> listener;
  };

  explicit impl(sim_config c)
      : config(std::move(c)), metadata(config.host, config.cluster, config.version) {}

  // The io_context is declared first so that it is destroyed last: the coroutine frames it
  // still owns hold sockets of its services.
  sim_config config;
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::thread::id io_thread_id;
  std::atomic<bool> running{false};

  cluster metadata;
  recorder records;
  std::unique_ptr<namesrv_handler> ns_handler;
  std::unique_ptr<server> ns;
  std::vector<broker_unit> brokers;
  std::unique_ptr<responder> answerer;

  std::mutex progress_mutex;
  std::condition_variable progress_cv;
  std::uint64_t progress_epoch = 0;
  std::atomic<int> waiters{0};

  /// Runs `f` on the I/O thread and returns its result (exceptions included).
  template <class F>
  auto run(F&& f) -> decltype(f()) {
    if (!running.load() || std::this_thread::get_id() == io_thread_id) return f();
    std::packaged_task<decltype(f())()> task(std::forward<F>(f));
    auto result = task.get_future();
    asio::post(io, [&task] { task(); });
    return result.get();
  }

  void progress() {
    if (waiters.load(std::memory_order_relaxed) == 0) return;
    {
      std::lock_guard lock(progress_mutex);
      ++progress_epoch;
    }
    progress_cv.notify_all();
  }

  std::vector<broker_unit*> find(std::string_view name, std::int64_t id) {
    std::vector<broker_unit*> found;
    for (auto& unit : brokers) {
      if (name == "*" || (unit.state->config.name == name && unit.state->config.id == id)) {
        found.push_back(&unit);
      }
    }
    if (found.empty()) {
      throw std::invalid_argument("rmq-sim: no broker " + std::string(name) + " with id " +
                                  std::to_string(id));
    }
    return found;
  }

  void listen_or_throw(server& s, std::uint16_t port) {
    if (auto ec = s.listen(port)) {
      throw std::system_error(
          ec, "rmq-sim: cannot listen on " + config.host + ":" + std::to_string(port));
    }
  }

  void open_broker(broker_unit& unit, std::uint16_t port) {
    listen_or_throw(*unit.listener, port);
    unit.state->port = unit.listener->port();
    unit.state->registered = true;
    unit.handler->on_port_changed();
  }

  void build() {
    if (config.brokers.empty()) config.brokers = default_brokers(1, 0);
    records.store_enabled = config.store;
    records.messages.set_capacity(config.store_capacity);
    for (const auto& b : config.brokers) metadata.add_broker(b);
    metadata.set_auto_create(config.auto_create, config.default_queues);
    for (const auto& topic : config.topics) metadata.create_topic(topic, config.default_queues);

    ns_handler = std::make_unique<namesrv_handler>(metadata);
    ns = std::make_unique<server>(io, config.host, config.max_frame, *ns_handler);
    ns_handler->attach(*ns);
    ns->set_progress_hook([this] { progress(); });
    answerer = std::make_unique<responder>(io, config.responder, [this](std::string_view name) {
      auto* unit = find_master(name);
      return unit == nullptr ? nullptr : &unit->handler->replies();
    });
    for (auto& state : metadata.brokers()) {
      broker_unit unit;
      unit.state = state.get();
      unit.handler = std::make_unique<broker_handler>(io, metadata, *state, records, config);
      unit.listener = std::make_unique<server>(io, config.host, config.max_frame, *unit.handler);
      unit.handler->attach(*unit.listener);
      unit.handler->set_request_hook([this](reply_service& broker, const stored_message& request) {
        answerer->on_request(broker, request);
      });
      unit.listener->set_progress_hook([this] { progress(); });
      brokers.push_back(std::move(unit));
    }
    check_responder(config.responder);
  }

  broker_unit* find_master(std::string_view name) {
    for (auto& unit : brokers) {
      if (unit.state->config.name == name && unit.state->config.id == 0) return &unit;
    }
    return nullptr;
  }

  void check_responder(const responder_config& c) {
    if (!c.broker.empty() && find_master(c.broker) == nullptr) {
      throw std::invalid_argument("rmq-sim: the responder names no broker " + c.broker);
    }
  }

  sim_counters counters() const {
    sim_counters result;
    if (ns) result.namesrv = ns->counters();
    for (const auto& unit : brokers) {
      std::string name = unit.state->config.name;
      if (unit.state->config.id != 0) name += "#" + std::to_string(unit.state->config.id);
      result.brokers.emplace_back(std::move(name), unit.listener->counters());
    }
    result.stored_messages = records.messages.size();
    result.evicted_messages = records.messages.evicted();
    return result;
  }
};

simulator::simulator(sim_config config) : impl_(std::make_unique<impl>(std::move(config))) {
  impl_->build();
}

simulator::~simulator() {
  stop();
}

void simulator::start() {
  if (impl_->running.load()) return;
  auto& d = *impl_;
  if (d.config.tls.enabled() && !d.ns->tls()) {
    // One context for every listener, as a real cluster's servers share tls.server.*.
    auto context = std::make_shared<tls_server_context>(d.config.tls);
    d.ns->set_tls(context);
    for (auto& unit : d.brokers) unit.listener->set_tls(context);
  }
  d.listen_or_throw(*d.ns, d.config.namesrv_port);
  for (auto& unit : d.brokers) d.open_broker(unit, unit.state->config.port);
  d.ns->set_faults(d.config.namesrv_faults);
  for (const auto& [name, spec] : d.config.broker_faults) {
    for (auto* unit : d.find(name, 0)) unit->listener->set_faults(spec);
  }
  d.work.emplace(d.io.get_executor());
  d.io.restart();
  std::promise<std::thread::id> started;
  auto id = started.get_future();
  d.thread = std::thread([&d, &started] {
    started.set_value(std::this_thread::get_id());
    d.io.run();
  });
  d.io_thread_id = id.get();
  d.running.store(true);
}

void simulator::stop() {
  auto& d = *impl_;
  if (!d.running.load()) return;
  d.run([&d] {
    d.ns->stop();
    for (auto& unit : d.brokers) unit.listener->stop();
  });
  d.running.store(false);
  d.work.reset();
  d.io.stop();
  d.thread.join();
}

bool simulator::running() const noexcept {
  return impl_->running.load();
}

std::string simulator::namesrv_address() const {
  return impl_->run([this] { return impl_->ns->address(); });
}

std::uint16_t simulator::namesrv_port() const {
  return impl_->run([this] { return impl_->ns->port(); });
}

std::vector<broker_endpoint> simulator::brokers() const {
  return impl_->run([this] {
    std::vector<broker_endpoint> result;
    for (const auto& unit : impl_->brokers) {
      broker_endpoint e;
      e.name = unit.state->config.name;
      e.id = unit.state->config.id;
      e.port = unit.state->port;
      e.address = impl_->config.host + ":" + std::to_string(unit.state->port);
      e.listening = unit.listener->listening();
      e.registered = unit.state->registered;
      result.push_back(std::move(e));
    }
    return result;
  });
}

std::string simulator::broker_address(std::string_view name, std::int64_t id) const {
  for (const auto& e : brokers()) {
    if (e.name == name && e.id == id) return e.address;
  }
  return {};
}

void simulator::create_topic(topic_config topic) {
  impl_->run([&] { impl_->metadata.create_topic(topic, impl_->config.default_queues); });
}

void simulator::set_auto_create(bool on) {
  impl_->run([&] { impl_->metadata.set_auto_create(on, impl_->config.default_queues); });
}

void simulator::set_broker_faults(std::string_view name, fault_spec faults, std::int64_t id) {
  impl_->run([&] {
    for (auto* unit : impl_->find(name, id)) unit->listener->set_faults(faults);
  });
}

void simulator::set_namesrv_faults(fault_spec faults) {
  impl_->run([&] { impl_->ns->set_faults(std::move(faults)); });
}

void simulator::clear_faults() {
  impl_->run([&] {
    impl_->ns->set_faults({});
    for (auto& unit : impl_->brokers) unit.listener->set_faults({});
  });
}

void simulator::stop_broker(std::string_view name, std::int64_t id) {
  impl_->run([&] {
    for (auto* unit : impl_->find(name, id)) {
      unit->listener->stop();
      unit->state->registered = false;
    }
  });
}

void simulator::shut_down_broker(std::string_view name, std::chrono::milliseconds wait,
                                 std::int64_t id) {
  impl_->run([&] {
    for (auto* unit : impl_->find(name, id)) {
      unit->state->registered = false;  // first off the routes, as BrokerController.shutdown
      unit->state->going_away = true;
      const std::uint64_t shutdown = ++unit->state->shutdowns;
      auto timer = std::make_shared<asio::steady_timer>(impl_->io, wait);
      timer->async_wait([unit, timer, shutdown](std::error_code ec) {
        // Started again (or shut down anew) meanwhile: this stop is not for that broker.
        if (ec || unit->state->shutdowns != shutdown) return;
        unit->state->going_away = false;
        unit->listener->stop();
      });
    }
  });
}

void simulator::start_broker(std::string_view name, std::int64_t id) {
  impl_->run([&] {
    for (auto* unit : impl_->find(name, id)) {
      ++unit->state->shutdowns;  // a pending graceful stop no longer applies
      unit->state->going_away = false;
      if (!unit->listener->listening()) impl_->open_broker(*unit, unit->state->port);
    }
  });
}

std::string simulator::restart_broker_on_new_port(std::string_view name, std::uint16_t port,
                                                  std::int64_t id) {
  return impl_->run([&] {
    auto* unit = impl_->find(name, id).front();
    std::uint16_t target = port;
    if (target == 0) {
      // Probe for a free port while the old one is still bound, so that the new one differs.
      asio::ip::tcp::acceptor probe(
          impl_->io, asio::ip::tcp::endpoint(asio::ip::make_address(impl_->config.host), 0));
      target = probe.local_endpoint().port();
    }
    unit->listener->stop();
    unit->state->registered = false;
    impl_->open_broker(*unit, target);
    return unit->listener->address();
  });
}

void simulator::namesrv_down() {
  impl_->run([&] { impl_->ns->stop(); });
}

void simulator::namesrv_up() {
  impl_->run([&] {
    if (!impl_->ns->listening()) impl_->listen_or_throw(*impl_->ns, impl_->ns->port());
  });
}

void simulator::drop_broker_connections(std::string_view name, std::int64_t id) {
  impl_->run([&] {
    for (auto* unit : impl_->find(name, id)) unit->listener->close_connections();
  });
}

void simulator::set_store_enabled(bool on) {
  impl_->run([&] { impl_->records.store_enabled = on; });
}

std::vector<stored_message> simulator::messages() const {
  return impl_->run([this] { return impl_->records.messages.snapshot(); });
}

std::size_t simulator::message_count() const {
  return impl_->run([this] { return impl_->records.messages.size(); });
}

void simulator::clear_messages() {
  impl_->run([this] { impl_->records.messages.clear(); });
}

std::vector<client_record> simulator::clients() const {
  return impl_->run([this] { return impl_->records.clients; });
}

std::vector<end_transaction_record> simulator::end_transactions() const {
  return impl_->run([this] { return impl_->records.end_transactions; });
}

std::vector<std::string> simulator::recalled() const {
  return impl_->run([this] { return impl_->records.recalled; });
}

std::vector<transaction_record> simulator::transactions() const {
  return impl_->run([this] {
    std::vector<transaction_record> all;
    for (auto& unit : impl_->brokers) {
      auto records = unit.handler->transactions().records();
      all.insert(all.end(), std::make_move_iterator(records.begin()),
                 std::make_move_iterator(records.end()));
    }
    return all;
  });
}

void simulator::set_transaction_config(transaction_config config) {
  impl_->run([&] {
    impl_->config.transactions = config;
    for (auto& unit : impl_->brokers) unit.handler->transactions().set_config(config);
  });
}

transaction_config simulator::transaction_settings() const {
  return impl_->run([this] { return impl_->config.transactions; });
}

responder_config simulator::responder_settings() const {
  return impl_->run([this] { return impl_->answerer->config(); });
}

std::vector<reply_record> simulator::replies() const {
  return impl_->run([this] {
    std::vector<reply_record> all;
    for (auto& unit : impl_->brokers) {
      auto records = unit.handler->replies().records();
      all.insert(all.end(), std::make_move_iterator(records.begin()),
                 std::make_move_iterator(records.end()));
    }
    return all;
  });
}

void simulator::set_responder(responder_config config) {
  impl_->run([&] {
    impl_->check_responder(config);
    impl_->config.responder = config;
    impl_->answerer->set_config(std::move(config));
  });
}

sim_counters simulator::counters() const {
  return impl_->run([this] { return impl_->counters(); });
}

bool simulator::wait_until(const std::function<bool(const sim_counters&)>& predicate,
                           std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  d.waiters.fetch_add(1);
  std::unique_lock lock(d.progress_mutex);
  bool satisfied = false;
  for (;;) {
    const std::uint64_t seen = d.progress_epoch;
    lock.unlock();
    satisfied = predicate(counters());
    lock.lock();
    if (satisfied) break;
    if (!d.progress_cv.wait_until(lock, deadline, [&] { return d.progress_epoch != seen; })) {
      lock.unlock();
      satisfied = predicate(counters());
      lock.lock();
      break;
    }
  }
  d.waiters.fetch_sub(1);
  return satisfied;
}

bool simulator::wait_for_messages(std::uint64_t count, std::chrono::milliseconds timeout) {
  return wait_until([count](const sim_counters& c) { return c.broker_messages() >= count; },
                    timeout);
}

std::string simulator::stats_json(bool with_messages) const {
  return impl_->run([&] {
    using nlohmann::json;
    const auto counters_json = [](const server_counters& c, bool broker) {
      json requests = json::object();
      for (const auto& [code, n] : c.requests) requests[std::to_string(code)] = n;
      json doc{{"requests", requests},
               {"responses", c.responses},
               {"writes", c.writes},
               {"connections_accepted", c.connections_accepted},
               {"tls_handshakes", c.tls_handshakes},
               {"tls_handshake_failures", c.tls_handshake_failures},
               {"plain_connections_refused", c.plain_connections_refused},
               {"decode_errors", c.decode_errors},
               {"faults_injected", c.faults_injected},
               {"acl_denied", c.acl_denied},
               {"go_away_answers", c.go_away_answers},
               {"recalls", c.recalls},
               {"route_standard", c.route_standard},
               {"route_legacy", c.route_legacy},
               {"route_not_found", c.route_not_found},
               {"messages", c.messages}};
      if (!broker) return doc;
      json sent = json::object();
      for (const auto& [code, n] : c.requests_sent) sent[std::to_string(code)] = n;
      const auto& t = c.transactions;
      const auto& r = c.replies;
      doc.update(json{{"requests_sent", sent},
                      {"client_responses", c.client_responses},
                      {"unmatched_responses", c.unmatched_responses},
                      {"request_timeouts", c.request_timeouts},
                      {"transactions",
                       {{"half_messages", t.half_messages},
                        {"pending", t.pending},
                        {"committed", t.committed},
                        {"rolled_back", t.rolled_back},
                        {"discarded", t.discarded},
                        {"checks", t.checks},
                        {"checks_sent", t.checks_sent},
                        {"end_transaction_refused", t.end_transaction_refused},
                        {"end_transaction_dropped", t.end_transaction_dropped},
                        {"evicted", t.evicted}}},
                      {"replies",
                       {{"requests", r.requests},
                        {"reply_sends", r.reply_sends},
                        {"responder_replies", r.responder_replies},
                        {"pushes", r.pushes},
                        {"delivered", r.delivered},
                        {"push_failed", r.push_failed},
                        {"requester_gone", r.requester_gone},
                        {"withheld", r.withheld}}}});
      return doc;
    };
    const sim_counters c = impl_->counters();
    json doc;
    doc["namesrv"] = counters_json(c.namesrv, false);
    doc["brokers"] = json::object();
    for (const auto& [name, bc] : c.brokers) doc["brokers"][name] = counters_json(bc, true);
    doc["stored_messages"] = c.stored_messages;
    doc["evicted_messages"] = c.evicted_messages;
    if (with_messages) {
      json list = json::array();
      for (const auto& m : impl_->records.messages.snapshot()) {
        json props = json::object();
        for (const auto& [k, v] : m.properties) props[k] = v;
        // Bodies may be binary: invalid UTF-8 is replaced rather than failing the dump.
        list.push_back({{"broker", m.broker_name},
                        {"request_code", m.request_code},
                        {"serialization", m.serialization},
                        {"producer_group", m.producer_group},
                        {"topic", m.topic},
                        {"queue_id", m.queue_id},
                        {"queue_offset", m.queue_offset},
                        {"offset_msg_id", m.offset_msg_id},
                        {"tags", m.tags},
                        {"keys", m.keys},
                        {"properties", props},
                        {"body", m.body},
                        {"flag", m.flag},
                        {"sys_flag", m.sys_flag},
                        {"born_timestamp", m.born_timestamp}});
      }
      doc["messages"] = std::move(list);
      json transactions = json::array();
      for (const auto& unit : impl_->brokers) {
        for (const auto& t : unit.handler->transactions().records()) {
          transactions.push_back({{"broker", t.broker_name},
                                  {"producer_group", t.producer_group},
                                  {"topic", t.topic},
                                  {"queue_id", t.queue_id},
                                  {"transaction_id", t.transaction_id},
                                  {"offset_msg_id", t.offset_msg_id},
                                  {"commit_log_offset", t.commit_log_offset},
                                  {"tran_state_table_offset", t.tran_state_table_offset},
                                  {"state", to_string(t.state)},
                                  {"checks", t.checks},
                                  {"checks_sent", t.checks_sent},
                                  {"commits", t.commits},
                                  {"resolved_by_check", t.resolved_by_check},
                                  {"body", t.body}});
        }
      }
      doc["transactions"] = std::move(transactions);
      json replies = json::array();
      for (const auto& unit : impl_->brokers) {
        for (const auto& r : unit.handler->replies().records()) {
          replies.push_back({{"broker", r.broker_name},
                             {"from_responder", r.from_responder},
                             {"correlation_id", r.correlation_id},
                             {"reply_to_client", r.reply_to_client},
                             {"outcome", to_string(r.outcome)},
                             {"body", r.body}});
        }
      }
      doc["replies"] = std::move(replies);
    }
    return doc.dump(-1, ' ', false, json::error_handler_t::replace);
  });
}

}  // namespace rmq::sim
