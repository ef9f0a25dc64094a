#include "config.hpp"

namespace rmq::sim {

std::string default_broker_name(std::size_t index) {
  std::string suffix;
  std::size_t n = index + 1;
  while (n > 0) {
    --n;
    suffix.insert(suffix.begin(), static_cast<char>('a' + n % 26));
    n /= 26;
  }
  return "broker-" + suffix;
}

std::vector<broker_config> default_brokers(std::size_t count, std::uint16_t first_port) {
  std::vector<broker_config> brokers;
  for (std::size_t i = 0; i < count; ++i) {
    broker_config broker;
    broker.name = default_broker_name(i);
    broker.port = first_port == 0 ? 0 : static_cast<std::uint16_t>(first_port + i);
    brokers.push_back(std::move(broker));
  }
  return brokers;
}

}  // namespace rmq::sim
