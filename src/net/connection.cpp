#include "net/connection.hpp"

#include "io/resolve.hpp"
#include "net/connection_driver.hpp"

#include <spdlog/spdlog.h>

namespace rmq::net {

void log_link_step(std::string_view address, const link_step& step) noexcept {
  try {
    if (step.outcome == link_step::verdict::illegal) {
      spdlog::error("rmq net {}: event {} cannot happen in state {}", address,
                    to_string(step.event), to_string(step.from));
      return;
    }
    spdlog::debug("rmq net {}: {} --{}--> {}", address, to_string(step.from), to_string(step.event),
                  to_string(step.to));
  } catch (...) {  // a failing sink must not take the connection down
  }
}

void tcp_transport::resolve(io::loop& l, std::string_view address, clock::time_point deadline,
                            resolve_callback done) {
  io::async_resolve(l, address, deadline, [done](std::error_code ec, io::endpoint peer) {
    done.done(done.context, ec, peer);
  });
}

template class basic_connection<tcp_transport>;

}  // namespace rmq::net
