/// \file
/// rmq::route_limits: how much work one NameServer route may make a producer do. Its own header
/// so that the route decoder (and its fuzz harness) need nothing of the producer's API.
#pragma once

#include <cstddef>

namespace rmq {

/// Bounds on the work one NameServer route may make a producer do (no Java equivalent: Java has
/// none, and a route body of a few KB could make it build millions of queues). A topic's first
/// route beyond any of them fails the sends waiting on it with errc::invalid_route_data; a
/// refresh beyond them is logged once and the previous route stays in use. The
/// defaults are far above real clusters (a route of 256 brokers with two addresses each is about
/// 56 KB), and the largest route they allow takes the loop a few milliseconds to parse
/// (docs/reliability.md).
struct route_limits {
  /// The route body as received, 1 KiB..16 MiB. Parsing costs about 20 ms per MiB.
  std::size_t max_body_bytes = 256 * 1024;
  /// Entries of queueDatas, of brokerDatas, of orderTopicConf and of a static topic's mapping:
  /// each 1..65,536.
  std::size_t max_brokers = 256;
  /// writeQueueNums of one queueDatas entry, and the count of one orderTopicConf entry:
  /// 1..65,536.
  std::size_t max_queues_per_broker = 1024;
  /// Publish queues of one topic over all its brokers (the sum of the writable entries'
  /// writeQueueNums, of the orderTopicConf counts, or of a static topic's largest totalQueues per
  /// scope): 1..1,048,576.
  std::size_t max_queues = 65536;
};

}  // namespace rmq
