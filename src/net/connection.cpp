#include "net/connection.hpp"

#include "io/resolve.hpp"
#include "net/connection_driver.hpp"

namespace rmq::net {

void tcp_transport::resolve(io::loop& l, std::string_view address, clock::time_point deadline,
                            resolve_callback done) {
  io::async_resolve(l, address, deadline, [done](std::error_code ec, io::endpoint peer) {
    done.done(done.context, ec, peer);
  });
}

template class basic_connection<tcp_transport>;

}  // namespace rmq::net
