// rmq-sim-load: measures how many small sends per second a broker absorbs. One blocking TCP
// connection keeps `window` pre-encoded SEND_MESSAGE_V2 frames in flight: each read's complete
// responses are counted and the same number of frames is written back in one write.
//
//   taskset -c 0 rmq-sim --port 0 --store off --topics BenchTopic
//   taskset -c 1 rmq-sim-load --broker 127.0.0.1:PORT --topic BenchTopic --seconds 10
#include "wire/codes.hpp"
#include "wire/command.hpp"
#include "wire/route_data.hpp"

#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

std::uint32_t read_be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{u[0]} << 24 | std::uint32_t{u[1]} << 16 | std::uint32_t{u[2]} << 8 |
         std::uint32_t{u[3]};
}

std::string encode_send(rmq::wire::serialize_type type, const std::string& topic, int queue_id,
                        std::int32_t opaque, std::size_t body_size) {
  rmq::wire::command_fields fields;
  fields.code = rmq::wire::request_code::send_message_v2;
  fields.language = rmq::wire::language_code::cpp;
  fields.version = 479;
  fields.opaque = opaque;
  std::string out;
  rmq::wire::frame_writer w(out, type, fields);
  w.field("a", "sim_load_group");
  w.field("b", std::string_view(topic));
  w.field("c", rmq::wire::auto_create_topic);
  w.field("d", std::int32_t{4});
  w.field("e", std::int32_t{queue_id});
  w.field("f", std::int32_t{0});
  w.field("g", std::int64_t{1700000000000});
  w.field("h", std::int32_t{0});
  w.field("i", std::string_view("UNIQ_KEY\x01"
                                "7F00000112340A0B0C0D0000ABCD0000\x02WAIT\x01true\x02"));
  w.field("j", std::int32_t{0});
  w.field("k", false);
  w.field("m", false);
  w.field("n", "broker-a");
  w.finish(std::string(body_size, 'x'));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rmq-sim-load: pipelined SEND_MESSAGE_V2 load against one broker", "rmq-sim-load"};
  std::string broker = "127.0.0.1:10911";
  std::string topic = "BenchTopic";
  std::size_t window = 1024;
  std::size_t body_size = 128;
  double seconds = 10;
  double warmup = 1;
  int queues = 4;
  bool binary = false;
  bool check = false;
  app.add_option("--broker", broker, "Broker address HOST:PORT")->capture_default_str();
  app.add_option("--topic", topic, "Topic (must exist, or auto-create on)")->capture_default_str();
  app.add_option("--window", window, "Requests in flight")->capture_default_str();
  app.add_option("--body-size", body_size, "Body bytes per message")->capture_default_str();
  app.add_option("--seconds", seconds, "Measured duration")->capture_default_str();
  app.add_option("--warmup", warmup, "Seconds before measuring")->capture_default_str();
  app.add_option("--queues", queues, "Queue ids used, round robin")->capture_default_str();
  app.add_flag("--binary", binary, "ROCKETMQ binary headers instead of JSON");
  app.add_flag("--check", check, "Decode every response and count non-SUCCESS codes");
  CLI11_PARSE(app, argc, argv);

  const auto colon = broker.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "bad --broker\n");
    return 2;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(broker.substr(colon + 1))));
  if (inet_pton(AF_INET, broker.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "bad --broker address\n");
    return 2;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("connect");
    return 1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  // `window` frames back to back, cycling over the queue ids; all the same size.
  const auto type = binary ? rmq::wire::serialize_type::rocketmq : rmq::wire::serialize_type::json;
  std::vector<std::string> one_per_queue;
  for (int q = 0; q < queues; ++q)
    one_per_queue.push_back(encode_send(type, topic, q % 10, 1, body_size));
  const std::size_t frame_size = one_per_queue.front().size();
  std::string frames;
  for (std::size_t i = 0; i < window; ++i) frames += one_per_queue[i % one_per_queue.size()];

  auto write_all = [fd](const char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd, data, size);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  };
  if (!write_all(frames.data(), frames.size())) {
    std::perror("write");
    return 1;
  }

  std::vector<char> buffer(1 << 20);
  std::size_t have = 0;
  std::uint64_t responses = 0, measured = 0, errors = 0;
  rmq::wire::frame_decoder decoder;
  const auto start = clock_type::now();
  const auto measure_from = start + std::chrono::duration<double>(warmup);
  const auto end = measure_from + std::chrono::duration<double>(seconds);
  bool measuring = false;
  clock_type::time_point measure_start;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data() + have, buffer.size() - have);
    if (n <= 0) {
      std::fprintf(stderr, "connection closed after %llu responses\n",
                   static_cast<unsigned long long>(responses));
      return 1;
    }
    if (check) {
      (void)decoder.feed(std::string_view(buffer.data() + have, static_cast<std::size_t>(n)),
                         [&](const rmq::wire::command_view& r) {
                           if (r.fields.code != 0) ++errors;
                         });
    }
    have += static_cast<std::size_t>(n);
    std::size_t pos = 0, complete = 0;
    while (have - pos >= 4) {
      const std::size_t len = read_be32(buffer.data() + pos);
      if (have - pos - 4 < len) break;
      pos += 4 + len;
      ++complete;
    }
    std::memmove(buffer.data(), buffer.data() + pos, have - pos);
    have -= pos;
    responses += complete;

    const auto now = clock_type::now();
    if (!measuring && now >= measure_from) {
      measuring = true;
      measure_start = now;
      measured = 0;
    } else if (measuring) {
      measured += complete;
    }
    if (measuring && now >= end) {
      const double elapsed = std::chrono::duration<double>(now - measure_start).count();
      std::printf(
          "sends/s %.0f  (%llu responses in %.2f s, window %zu, body %zu B, frame %zu B, "
          "%s headers, errors %llu)\n",
          static_cast<double>(measured) / elapsed, static_cast<unsigned long long>(measured),
          elapsed, window, body_size, frame_size, binary ? "binary" : "JSON",
          static_cast<unsigned long long>(errors));
      return errors == 0 ? 0 : 1;
    }
    // Keep the window full: one frame per response, in one write.
    std::size_t remaining = complete;
    while (remaining > 0) {
      const std::size_t batch = std::min(remaining, window);
      if (!write_all(frames.data(), batch * frame_size)) {
        std::perror("write");
        return 1;
      }
      remaining -= batch;
    }
  }
}
