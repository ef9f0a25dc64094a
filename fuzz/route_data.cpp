// TopicRouteData JSON (the NameServer's GET_ROUTEINFO_BY_TOPIC body): parse_route_data on
// arbitrary bytes; a route that parses must come back equal from both JSON styles the writer
// produces (standard, and fastjson's legacy form with unquoted integer keys), and the publish
// queues are built from it.
#include "wire/route_data.hpp"

#include "fuzz_check.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

// Publish queues the route asks for. Building a legal but huge route (65,536 queues per entry)
// costs seconds; those are bounded by the route layer, not by the parser, so skip them here.
std::int64_t queue_count(const rmq::wire::topic_route_data& route) {
  std::int64_t total = 0;
  for (const auto& q : route.queue_datas) total += q.write_queue_nums;
  std::string_view conf;
  if (route.order_topic_conf) conf = *route.order_topic_conf;
  while (!conf.empty()) {
    const auto end = conf.find(';');
    const auto entry = conf.substr(0, end);
    const auto colon = entry.rfind(':');
    std::int32_t n = 0;
    if (colon != std::string_view::npos)
      std::from_chars(entry.data() + colon + 1, entry.data() + entry.size(), n);
    total += n;
    conf = end == std::string_view::npos ? std::string_view() : conf.substr(end + 1);
  }
  return total;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace rmq::wire;
  const route_parse_result parsed = parse_route_data(rmq::fuzz::as_text(data, size));
  if (!parsed) return 0;
  for (const auto style : {route_json_style::standard, route_json_style::legacy}) {
    const std::string text = to_json(parsed.route, style);
    // to_json may grow the body (\uXXXX escapes): re-read it without the body limit.
    rmq::route_limits roomy;
    roomy.max_body_bytes = default_max_frame;
    const route_parse_result again = parse_route_data(text, roomy);
    FUZZ_CHECK(!again.error);
    FUZZ_CHECK(again.route == parsed.route);
  }
  if (queue_count(parsed.route) > 4096) return 0;
  for (const auto& queue : build_publish_queues(parsed.route))
    (void)find_master_address(parsed.route, queue.target_broker());
  topic_route_data borrowed = parsed.route;
  clamp_default_route(borrowed, 4);
  (void)build_publish_queues(borrowed);
  return 0;
}
