#include "store.hpp"

namespace rmq::sim {

std::optional<std::string_view> stored_message::property(std::string_view name) const noexcept {
  for (const auto& [key, value] : properties) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::string_view to_string(transaction_state state) noexcept {
  switch (state) {
    case transaction_state::pending:
      return "pending";
    case transaction_state::committed:
      return "committed";
    case transaction_state::rolled_back:
      return "rolled_back";
    case transaction_state::discarded:
      return "discarded";
  }
  return "?";
}

std::string_view to_string(reply_outcome outcome) noexcept {
  switch (outcome) {
    case reply_outcome::pushing:
      return "pushing";
    case reply_outcome::delivered:
      return "delivered";
    case reply_outcome::push_failed:
      return "push_failed";
    case reply_outcome::requester_gone:
      return "requester_gone";
    case reply_outcome::withheld:
      return "withheld";
  }
  return "?";
}

std::uint64_t server_counters::count(std::int32_t code) const noexcept {
  const auto it = requests.find(code);
  return it == requests.end() ? 0 : it->second;
}

std::uint64_t server_counters::sent(std::int32_t code) const noexcept {
  const auto it = requests_sent.find(code);
  return it == requests_sent.end() ? 0 : it->second;
}

void message_store::set_capacity(std::size_t capacity) {
  capacity_ = capacity;
  while (messages_.size() > capacity_) {
    messages_.pop_front();
    ++evicted_;
  }
}

void message_store::add(stored_message message) {
  if (capacity_ == 0) {
    ++evicted_;
    return;
  }
  if (messages_.size() >= capacity_) {
    messages_.pop_front();
    ++evicted_;
  }
  messages_.push_back(std::move(message));
}

std::vector<stored_message> message_store::snapshot() const {
  return {messages_.begin(), messages_.end()};
}

}  // namespace rmq::sim
