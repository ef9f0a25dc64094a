#include "wire/stored_message.hpp"

#include "rmq/error.hpp"
#include "wire/sys_flag.hpp"

#include <climits>
#include <zlib.h>

#include <cstring>
#include <stdexcept>

namespace rmq::wire {
namespace {

constexpr std::size_t ipv4_size = 4;
constexpr std::size_t ipv6_size = 16;
constexpr std::size_t max_short = 32767;   // Java short lengths: topic (V2), properties
constexpr std::size_t max_topic_v1 = 127;  // Java reads the V1 length as a signed byte

// Bounds-checked big-endian reads over one message. Every read checks its room first, so a
// length field can never carry a read past the message.
class reader {
 public:
  explicit reader(std::string_view bytes) noexcept : bytes_(bytes) {}

  [[nodiscard]] bool bytes(std::size_t n, std::string_view& out) noexcept {
    if (bytes_.size() - pos_ < n) return false;
    out = bytes_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  template <class Int>
  [[nodiscard]] bool integer(Int& out) noexcept {
    std::string_view raw;
    if (!bytes(sizeof(Int), raw)) return false;
    std::uint64_t v = 0;
    for (const char c : raw) v = v << 8 | static_cast<unsigned char>(c);
    out = static_cast<Int>(v);  // two's complement, as Java's ByteBuffer reads it
    return true;
  }
  /// A length field of type Int followed by that many bytes; negative lengths fail.
  template <class Int>
  [[nodiscard]] bool sized(std::string_view& out) noexcept {
    Int len = 0;
    return integer(len) && len >= 0 && bytes(static_cast<std::size_t>(len), out);
  }
  [[nodiscard]] bool skip(std::size_t n) noexcept {
    std::string_view ignored;
    return bytes(n, ignored);
  }
  [[nodiscard]] bool at_end() const noexcept { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

[[nodiscard]] std::size_t host_size(std::int32_t sys_flag, std::int32_t v6_bit) noexcept {
  return (sys_flag & v6_bit) != 0 ? ipv6_size : ipv4_size;
}

// Appends big-endian through a cursor into room reserved up front.
class writer {
 public:
  explicit writer(char* p) noexcept : p_(p) {}

  template <class Int>
  void integer(Int v) noexcept {
    auto u = static_cast<std::uint64_t>(v);
    for (std::size_t i = sizeof(Int); i-- > 0;) {
      p_[i] = static_cast<char>(u & 0xFF);
      u >>= 8;
    }
    p_ += sizeof(Int);
  }
  void bytes(std::string_view s) noexcept {
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }

 private:
  char* p_;
};

[[nodiscard]] bool valid_host(std::string_view host) noexcept {
  return host.size() == ipv4_size || host.size() == ipv6_size;
}

}  // namespace

std::error_code decode_stored_message(std::string_view& in, stored_message_view& out) noexcept {
  const auto bad = make_error_code(errc::invalid_response);
  stored_message_view m;
  reader head(in);
  if (!head.integer(m.total_size) || !head.integer(m.magic)) return bad;
  if (m.magic != stored_message_magic_v1 && m.magic != stored_message_magic_v2) return bad;
  if (m.total_size < static_cast<std::int32_t>(stored_message_min_size) ||
      static_cast<std::size_t>(m.total_size) > in.size())
    return bad;

  // Everything below reads inside TOTALSIZE, so a length that disagrees with it fails.
  const std::string_view whole = in.substr(0, static_cast<std::size_t>(m.total_size));
  reader r(whole);
  if (!r.skip(8) || !r.integer(m.body_crc) || !r.integer(m.queue_id) || !r.integer(m.flag) ||
      !r.integer(m.queue_offset) || !r.integer(m.commit_log_offset) || !r.integer(m.sys_flag) ||
      !r.integer(m.born_timestamp) ||
      !r.bytes(host_size(m.sys_flag, sys_flag::bornhost_v6), m.born_host) ||
      !r.integer(m.born_port) || !r.integer(m.store_timestamp) ||
      !r.bytes(host_size(m.sys_flag, sys_flag::storehost_v6), m.store_host) ||
      !r.integer(m.store_port) || !r.integer(m.reconsume_times) ||
      !r.integer(m.prepared_transaction_offset) || !r.sized<std::int32_t>(m.body))
    return bad;
  const bool topic_read = m.magic == stored_message_magic_v1 ? r.sized<std::int8_t>(m.topic)
                                                             : r.sized<std::int16_t>(m.topic);
  if (!topic_read || !r.sized<std::int16_t>(m.properties) || !r.at_end()) return bad;

  out = m;
  in.remove_prefix(whole.size());
  return {};
}

stored_message_fields fields_of(const stored_message_view& m) noexcept {
  stored_message_fields f;
  f.magic = m.magic;
  f.body_crc = m.body_crc;
  f.queue_id = m.queue_id;
  f.flag = m.flag;
  f.queue_offset = m.queue_offset;
  f.commit_log_offset = m.commit_log_offset;
  f.sys_flag = m.sys_flag;
  f.born_timestamp = m.born_timestamp;
  f.born_host = m.born_host;
  f.born_port = m.born_port;
  f.store_timestamp = m.store_timestamp;
  f.store_host = m.store_host;
  f.store_port = m.store_port;
  f.reconsume_times = m.reconsume_times;
  f.prepared_transaction_offset = m.prepared_transaction_offset;
  f.body = m.body;
  f.topic = m.topic;
  f.properties = m.properties;
  return f;
}

void encode_stored_message(std::string& out, const stored_message_fields& m) {
  if (!valid_host(m.born_host) || !valid_host(m.store_host))
    throw std::invalid_argument("stored message: a host address must be 4 or 16 bytes");
  std::int32_t magic = m.magic;
  if (magic == 0) {
    magic = m.topic.size() > max_topic_v1 ? stored_message_magic_v2 : stored_message_magic_v1;
  }
  if (magic != stored_message_magic_v1 && magic != stored_message_magic_v2)
    throw std::invalid_argument("stored message: unknown magic code");
  const bool v1 = magic == stored_message_magic_v1;
  if (m.topic.size() > (v1 ? max_topic_v1 : max_short))
    throw std::length_error("stored message: topic too long for its magic code");
  if (m.properties.size() > max_short)
    throw std::length_error("stored message: properties longer than 32767 bytes");
  // Checked piecewise so that the sum cannot wrap.
  const std::size_t fixed = stored_message_min_size + (v1 ? 0 : 1) +
                            (m.born_host.size() - ipv4_size) + (m.store_host.size() - ipv4_size) +
                            m.topic.size() + m.properties.size();
  if (m.body.size() > static_cast<std::size_t>(INT32_MAX) - fixed)
    throw std::length_error("stored message: 2 GiB or more");
  const std::size_t total = fixed + m.body.size();

  std::int32_t sys_flag = m.sys_flag & ~(sys_flag::bornhost_v6 | sys_flag::storehost_v6);
  if (m.born_host.size() == ipv6_size) sys_flag |= sys_flag::bornhost_v6;
  if (m.store_host.size() == ipv6_size) sys_flag |= sys_flag::storehost_v6;

  const std::size_t start = out.size();
  out.resize(start + total);
  writer w(out.data() + start);
  w.integer(static_cast<std::int32_t>(total));
  w.integer(magic);
  w.integer(m.body_crc);
  w.integer(m.queue_id);
  w.integer(m.flag);
  w.integer(m.queue_offset);
  w.integer(m.commit_log_offset);
  w.integer(sys_flag);
  w.integer(m.born_timestamp);
  w.bytes(m.born_host);
  w.integer(m.born_port);
  w.integer(m.store_timestamp);
  w.bytes(m.store_host);
  w.integer(m.store_port);
  w.integer(m.reconsume_times);
  w.integer(m.prepared_transaction_offset);
  w.integer(static_cast<std::int32_t>(m.body.size()));
  w.bytes(m.body);
  if (v1) {
    w.integer(static_cast<std::int8_t>(m.topic.size()));
  } else {
    w.integer(static_cast<std::int16_t>(m.topic.size()));
  }
  w.bytes(m.topic);
  w.integer(static_cast<std::int16_t>(m.properties.size()));
  w.bytes(m.properties);
}

std::int32_t stored_body_crc(std::string_view body) noexcept {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(body.data());
  std::size_t left = body.size();
  while (left > 0) {  // zlib takes a uInt length
    const auto n = static_cast<uInt>(left < UINT_MAX ? left : UINT_MAX);
    crc = crc32(crc, p, n);
    p += n;
    left -= n;
  }
  return static_cast<std::int32_t>(crc & 0x7FFFFFFF);
}

}  // namespace rmq::wire
