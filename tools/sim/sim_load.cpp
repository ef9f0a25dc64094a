// rmq-sim-load: measures how many small sends per second a broker absorbs. One blocking TCP
// connection keeps `window` pre-encoded frames in flight: each read's complete responses are
// counted and the same number of frames is written back in one write. By default every frame is
// one SEND_MESSAGE_V2; with --batch N every frame is a SEND_BATCH_MESSAGE of N messages (encoded
// by wire::encode_batch, each with its own UNIQ_KEY, the batch header's properties UNIQ_KEY and
// WAIT), and messages/s counts the messages of the acked frames. With --tls the connection is
// TLS (OpenSSL on the same blocking socket; the server's certificate is not checked).
//
//   taskset -c 1 rmq-sim --port 0 --store off --topics BenchTopic
//   taskset -c 0 rmq-sim-load --broker 127.0.0.1:PORT --topic BenchTopic --seconds 10
//   taskset -c 0 rmq-sim-load --broker 127.0.0.1:PORT --topic BenchTopic --batch 32 --window 64
#include "rmq/message.hpp"
#include "wire/batch.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"
#include "wire/route_data.hpp"
#include "wire/uniq_key.hpp"

#include <CLI/CLI.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

std::uint32_t read_be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{u[0]} << 24 | std::uint32_t{u[1]} << 16 | std::uint32_t{u[2]} << 8 |
         std::uint32_t{u[3]};
}

// A send header like the producer's; `batch` makes it SEND_BATCH_MESSAGE ("m" = true) with
// `properties` as the batch's own.
std::string encode_frame(rmq::wire::serialize_type type, const std::string& topic, int queue_id,
                         std::int32_t opaque, bool batch, std::string_view properties,
                         std::string_view body) {
  rmq::wire::command_fields fields;
  fields.code = batch ? rmq::wire::request_code::send_batch_message
                      : rmq::wire::request_code::send_message_v2;
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
  w.field("i", properties);
  w.field("j", std::int32_t{0});
  w.field("k", false);
  w.field("m", batch);
  w.field("n", "broker-a");
  w.finish(body);
  return out;
}

std::string encode_send(rmq::wire::serialize_type type, const std::string& topic, int queue_id,
                        std::int32_t opaque, std::size_t body_size) {
  return encode_frame(type, topic, queue_id, opaque, false,
                      "UNIQ_KEY\x01"
                      "7F00000112340A0B0C0D0000ABCD0000\x02WAIT\x01true\x02",
                      std::string(body_size, 'x'));
}

// `count` messages of `body_size` bytes, each with its own UNIQ_KEY, as one batch frame.
std::string encode_batch_send(rmq::wire::serialize_type type, const std::string& topic,
                              int queue_id, std::int32_t opaque, std::size_t body_size,
                              std::size_t count, rmq::wire::uniq_key_generator& ids) {
  std::vector<rmq::message> messages;
  for (std::size_t i = 0; i < count; ++i) messages.emplace_back(topic, std::string(body_size, 'x'));
  std::string body;
  if (rmq::wire::encode_batch(messages, ids, body)) return {};
  std::string properties;
  const auto batch_id = ids.next();
  rmq::wire::append_batch_header_properties(properties, true, batch_id.view());
  return encode_frame(type, topic, queue_id, opaque, true, properties, body);
}

// The connection's bytes, in the clear or through TLS.
class connection {
 public:
  explicit connection(int fd) : fd_(fd) {}

  /// Handshakes as a TLS client; false (with OpenSSL's errors printed) if it failed.
  bool start_tls() {
    context_.reset(SSL_CTX_new(TLS_client_method()));
    if (context_) ssl_.reset(SSL_new(context_.get()));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_) != 1 || SSL_connect(ssl_.get()) != 1) {
      ERR_print_errors_fp(stderr);
      return false;
    }
    return true;
  }

  /// Some bytes, as read(2): 0 or less when the connection ended.
  ssize_t read_some(char* data, std::size_t size) {
    if (!ssl_) return ::read(fd_, data, size);
    return SSL_read(ssl_.get(), data, capped(size));
  }

  bool write_all(const char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t n = ssl_ ? SSL_write(ssl_.get(), data, capped(size)) : ::write(fd_, data, size);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  // OpenSSL takes lengths as int.
  static int capped(std::size_t size) {
    return static_cast<int>(std::min<std::size_t>(size, std::numeric_limits<int>::max()));
  }

  struct free_context {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct free_ssl {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  int fd_;
  std::unique_ptr<SSL_CTX, free_context> context_;
  std::unique_ptr<SSL, free_ssl> ssl_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "rmq-sim-load: pipelined SEND_MESSAGE_V2 or SEND_BATCH_MESSAGE load against one broker",
      "rmq-sim-load"};
  std::string broker = "127.0.0.1:10911";
  std::string topic = "BenchTopic";
  std::size_t window = 1024;
  std::size_t body_size = 128;
  double seconds = 10;
  double warmup = 1;
  int queues = 4;
  std::size_t batch = 0;
  bool binary = false;
  bool check = false;
  bool tls = false;
  app.add_option("--broker", broker, "Broker address HOST:PORT")->capture_default_str();
  app.add_option("--topic", topic, "Topic (must exist, or auto-create on)")->capture_default_str();
  app.add_option("--window", window, "Requests in flight")->capture_default_str();
  app.add_option("--body-size", body_size, "Body bytes per message")->capture_default_str();
  app.add_option("--seconds", seconds, "Measured duration")->capture_default_str();
  app.add_option("--warmup", warmup, "Seconds before measuring")->capture_default_str();
  app.add_option("--queues", queues, "Queue ids used, round robin")->capture_default_str();
  app.add_option("--batch", batch,
                 "Messages per SEND_BATCH_MESSAGE frame (0: single SEND_MESSAGE_V2 frames)")
      ->capture_default_str();
  app.add_flag("--binary", binary, "ROCKETMQ binary headers instead of JSON");
  app.add_flag("--check", check,
               "Decode every response and count non-SUCCESS codes (and, for batches, responses "
               "whose msgId does not name every message)");
  app.add_flag("--tls", tls, "Connect with TLS (rmq-sim --tls-cert/--tls-key)");
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
  connection link(fd);
  if (tls && !link.start_tls()) {
    std::fprintf(stderr, "TLS handshake failed\n");
    return 1;
  }

  // `window` frames back to back, cycling over the queue ids; all the same size.
  const auto type = binary ? rmq::wire::serialize_type::rocketmq : rmq::wire::serialize_type::json;
  rmq::wire::uniq_key_generator ids(rmq::wire::detect_host_identity());
  std::vector<std::string> one_per_queue;
  for (int q = 0; q < queues; ++q) {
    one_per_queue.push_back(batch == 0
                                ? encode_send(type, topic, q % 10, 1, body_size)
                                : encode_batch_send(type, topic, q % 10, 1, body_size, batch, ids));
  }
  const std::size_t frame_size = one_per_queue.front().size();
  for (const auto& f : one_per_queue) {
    if (f.empty() || f.size() != frame_size) {  // same-size frames: writes are slices of `frames`
      std::fprintf(stderr, "cannot encode equal-size frames\n");
      return 2;
    }
  }
  const std::size_t per_frame = batch == 0 ? 1 : batch;
  std::string frames;
  for (std::size_t i = 0; i < window; ++i) frames += one_per_queue[i % one_per_queue.size()];

  if (!link.write_all(frames.data(), frames.size())) {
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
    const ssize_t n = link.read_some(buffer.data() + have, buffer.size() - have);
    if (n <= 0) {
      std::fprintf(stderr, "connection closed after %llu responses\n",
                   static_cast<unsigned long long>(responses));
      return 1;
    }
    if (check) {
      (void)decoder.feed(
          std::string_view(buffer.data() + have, static_cast<std::size_t>(n)),
          [&](const rmq::wire::command_view& r) {
            if (r.fields.code != 0) {
              ++errors;
            } else if (batch != 0) {
              const auto id = r.field("msgId").value_or("");
              if (static_cast<std::size_t>(std::count(id.begin(), id.end(), ',')) + 1 != batch) {
                ++errors;
              }
            }
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
      const double frames_per_s = static_cast<double>(measured) / elapsed;
      std::printf(
          "sends/s %.0f  messages/s %.0f  (%llu responses in %.2f s, batch %zu, window %zu, "
          "body %zu B, frame %zu B, %s headers%s, errors %llu)\n",
          frames_per_s, frames_per_s * static_cast<double>(per_frame),
          static_cast<unsigned long long>(measured), elapsed, batch, window, body_size, frame_size,
          binary ? "binary" : "JSON", tls ? ", TLS" : "", static_cast<unsigned long long>(errors));
      return errors == 0 ? 0 : 1;
    }
    // Keep the window full: one frame per response, in one write.
    std::size_t remaining = complete;
    while (remaining > 0) {
      const std::size_t chunk = std::min(remaining, window);
      if (!link.write_all(frames.data(), chunk * frame_size)) {
        std::perror("write");
        return 1;
      }
      remaining -= chunk;
    }
  }
}
