// Uses the installed library through pkg-config, without CMake: a producer that is shut down
// before it starts (which links the library with its dependencies) says why it cannot start.
#include <iostream>
#include <rmq/producer.hpp>

int main() {
  rmq::producer_config config;
  config.name_servers = "127.0.0.1:9876";
  if (config.validate()) return 1;
  rmq::producer producer(config);
  if (producer.shutdown()) return 2;
  std::cout << producer.start().message() << '\n';
  return 0;
}
