// Names the connection types without their definitions, for headers that only hold pointers.
#pragma once

namespace rmq::net {

struct tcp_transport;
template <class Transport>
class basic_connection;
/// The connection the library uses: over TCP on the io_uring loop (net/connection.hpp).
using connection = basic_connection<tcp_transport>;

}  // namespace rmq::net
