// RemotingCommand: the frame and header model of the RocketMQ remoting protocol.
//
// Frame: [int32 length][uint8 serialize type | uint24 header length][header][body], big-endian,
// length counting everything after itself. Header in JSON (type 0) or ROCKETMQ binary (type 1).
// Encoding streams straight into a caller-owned buffer (no DOM, no allocation once the buffer has
// grown); decoding yields views into the received bytes plus a reusable scratch area.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace rmq::wire {

class request_signer;  // wire/request_signing.hpp

enum class serialize_type : std::uint8_t { json = 0, rocketmq = 1 };

// clang-format off
/// LanguageCode ordinals. Values from peers outside this list are kept as they are.
enum class language_code : std::uint8_t {
  java = 0, cpp = 1, dotnet = 2, python = 3, delphi = 4, erlang = 5, ruby = 6, other = 7,
  http = 8, go = 9, php = 10, oms = 11, rust = 12, nodejs = 13,
};
// clang-format on
[[nodiscard]] std::string_view to_string(language_code) noexcept;  ///< "JAVA", "CPP", ...
[[nodiscard]] std::optional<language_code> language_from_string(std::string_view) noexcept;

/// MQVersion ordinals a peer acts on (the header's `version`).
namespace mq_version {
inline constexpr std::int32_t v4_9_4 =
    401;  ///< NameServers >= 4.9.4 answer routes in standard JSON
inline constexpr std::int32_t v5_3_1 = 475;  ///< servers answer GO_AWAY only to versions above
inline constexpr std::int32_t v5_3_3 = 479;  ///< the 5.3.3 Java client's version
}  // namespace mq_version
/// The version this client puts in every request header unless configured otherwise
/// (producer_config::protocol_version has the same default, checked by a test).
inline constexpr std::int32_t default_request_version = mq_version::v5_3_3;

/// The topic whose route a producer borrows when its own topic does not exist (auto-create:
/// MixAll.AUTO_CREATE_TOPIC_KEY_TOPIC). producer_config::create_topic_key has the same default,
/// checked by a test.
inline constexpr std::string_view auto_create_topic = "TBW102";

inline constexpr std::int32_t flag_response = 1;  ///< RemotingCommand RPC_TYPE bit
inline constexpr std::int32_t flag_oneway = 2;    ///< RemotingCommand RPC_ONEWAY bit

inline constexpr std::size_t default_max_frame = 16u * 1024 * 1024;
/// Most extFields entries a decoded header may have. Bounds the field list's memory (a few
/// bytes of header per entry would otherwise cost 32 bytes each); real headers have < 50.
inline constexpr std::size_t max_ext_fields = 65536;

/// Fixed header fields common to every command.
struct command_fields {
  std::int32_t code = 0;
  language_code language = language_code::cpp;
  std::int32_t version = 0;
  std::int32_t opaque = 0;
  std::int32_t flag = 0;
};

/// One extFields entry as decoded: views into the frame or the decoder's scratch.
struct ext_field {
  std::string_view name;
  std::string_view value;
};

/// A decoded command. Every view is valid until the decoder that produced it decodes the next
/// frame (or is destroyed), and as long as the received bytes it was fed stay alive.
struct command_view {
  serialize_type type = serialize_type::json;
  command_fields fields;
  std::optional<std::string_view> remark;
  std::span<const ext_field> ext_fields;
  std::string_view body;
  /// The header carried an extFields map, possibly empty (JSON `"extFields":{}`). Lets a
  /// re-encoded command keep the key; binary headers cannot tell an empty map from none.
  bool has_ext_fields = false;

  [[nodiscard]] bool is_response() const noexcept { return (fields.flag & flag_response) != 0; }
  [[nodiscard]] bool is_oneway() const noexcept { return (fields.flag & flag_oneway) != 0; }
  /// Value of an extFields entry, or nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> field(std::string_view name) const noexcept;
};

/// Streams one frame into `out` (appending; earlier contents are kept). Usage:
///   frame_writer w(out, serialize_type::json, fields, remark);
///   w.field("a", group); w.field("d", 4); ...; w.finish(body);
/// JSON output is byte-compatible with the Java client: keys in the order code, extFields, flag,
/// language, opaque, [remark,] version; every extFields value written as a string; control
/// characters escaped as \u00XX. Binary output follows RocketMQSerializable.
///
/// Binary limits: code and version are written as 16-bit shorts. A remark of length 0 is read
/// back as no remark, and an empty extFields map as none (JSON keeps both); empty extFields
/// values do survive, as the Java map decoder keeps them. A key longer than 32767 bytes or a
/// header of 16 MiB or more cannot be encoded: field()/finish() throw std::length_error.
///
/// A request (flag without the response bit) written inside a wire::signing_scope is signed
/// (wire/request_signing.hpp): its fields are collected as they come and written by finish(),
/// with AccessKey and Signature, in the order the Java client writes them.
class frame_writer {
 public:
  frame_writer(std::string& out, serialize_type type, const command_fields& fields,
               std::optional<std::string_view> remark = std::nullopt);
  /// Trims the working room if finish() was never reached (an exception).
  ~frame_writer();
  frame_writer(const frame_writer&) = delete;
  frame_writer& operator=(const frame_writer&) = delete;

  void field(std::string_view name, std::string_view value);
  void field(std::string_view name, std::int64_t value);
  void field(std::string_view name, bool value);
  void field(std::string_view name, const char* value) { field(name, std::string_view(value)); }
  void field(std::string_view name, std::int32_t value) { field(name, std::int64_t{value}); }

  /// Writes the extFields key even if no field follows (`"extFields":{}`, as Java does for an
  /// empty custom header). Call before the first field(); no effect on binary output.
  void open_ext_fields();

  /// Closes the header, appends the body and patches the length words. Call exactly once.
  void finish(std::string_view body = {});

 private:
  // The writer works through a raw cursor: out_ is kept longer than what was written (up to
  // used_), so each piece checks its room once instead of every append checking capacity.
  // finish() (or the destructor) trims out_ back to used_.
  [[nodiscard]] char* room(std::size_t n) {
    if (out_.size() - used_ < n) grow(n);
    return out_.data() + used_;
  }
  void commit(const char* end) noexcept { used_ = static_cast<std::size_t>(end - out_.data()); }
  void grow(std::size_t n);
  /// A value that needs no JSON escaping (a number, true/false).
  void plain_field(std::string_view name, std::string_view value);
  [[nodiscard]] char* json_separator(char* p);  ///< opens extFields / writes the comma

  std::string& out_;
  serialize_type type_;
  command_fields fields_;
  std::optional<std::string_view> remark_;
  std::size_t frame_start_;
  std::size_t used_;
  std::size_t ext_start_ = 0;
  request_signer* signer_;  // signs this request; nullptr: not signed (or a response)
  bool first_field_ = true;
  bool ext_open_ = false;  // JSON: the extFields object has been opened
};

/// Owning command for code that is not on the hot path (tests, rmq-sim, route and heartbeat).
struct remoting_command {
  command_fields fields;
  std::optional<std::string> remark;
  std::vector<std::pair<std::string, std::string>> ext_fields;  ///< in insertion order
  std::string body;
  /// JSON: write `"extFields":{}` even when ext_fields is empty (see command_view).
  bool has_ext_fields = false;

  [[nodiscard]] std::optional<std::string_view> field(std::string_view name) const noexcept;
  void set_field(std::string name, std::string value);  ///< replaces an existing entry

  /// Appends the encoded frame to `out`.
  void encode(serialize_type type, std::string& out) const;
  [[nodiscard]] std::string encode(serialize_type type) const;
  /// Deep copy of a decoded view.
  [[nodiscard]] static remoting_command from_view(const command_view& view);
};

/// Storage the header decoders write unescaped strings and the field list into. Reused from
/// frame to frame, so a steady stream of frames allocates nothing.
class decode_scratch {
 public:
  void clear() noexcept {
    strings_.clear();
    fields_.clear();
  }

 private:
  friend class header_decoder_access;
  // Unescaped JSON strings. Reserved to the header length before a decode (unescaped text is
  // never longer than its escaped form), so views into it never dangle within one frame.
  std::string strings_;
  std::vector<ext_field> fields_;
};

/// Internal: the header decoders' handle on decode_scratch (not for users of the codec).
class header_decoder_access {
 public:
  [[nodiscard]] static std::string& strings(decode_scratch& s) noexcept { return s.strings_; }
  [[nodiscard]] static std::vector<ext_field>& fields(decode_scratch& s) noexcept {
    return s.fields_;
  }
};

/// Decodes one frame's header (of the given type) and body, without the 4-byte length word:
/// `frame` = [type|header length][header][body]. Errors use rmq::errc.
std::error_code decode_frame(std::string_view frame, decode_scratch& scratch, command_view& out);

/// Incremental frame decoder for a byte stream. Feed it chunks of any size; it calls
/// `on_frame(const command_view&)` for each complete frame. A frame that lies wholly inside one
/// chunk is decoded in place (its body is a view into the chunk, not a copy); only frames split
/// across chunks are assembled in an internal buffer, which never grows beyond the maximum frame.
/// After an error the decoder stays failed: the stream cannot be resynchronised.
class frame_decoder {
 public:
  explicit frame_decoder(std::size_t max_frame = default_max_frame) noexcept
      : max_frame_(max_frame) {}

  template <class OnFrame>
  std::error_code feed(std::string_view chunk, OnFrame&& on_frame);

  [[nodiscard]] std::error_code error() const noexcept { return error_; }
  /// Bytes of an incomplete frame held back for the next chunk.
  [[nodiscard]] std::size_t buffered() const noexcept { return len_have_ + partial_.size(); }
  [[nodiscard]] std::size_t max_frame() const noexcept { return max_frame_; }

 private:
  /// Reads and validates a big-endian length word: the frame length after the word.
  [[nodiscard]] std::error_code check_length(const char* word,
                                             std::size_t& frame_len) const noexcept;
  /// Moves the head of `chunk` into the split-frame state; `used` = bytes taken.
  [[nodiscard]] std::error_code stash(std::string_view chunk, std::size_t& used);
  [[nodiscard]] bool assembling() const noexcept { return len_have_ != 0; }
  [[nodiscard]] bool stash_complete() const noexcept {
    return len_have_ == 4 && partial_.size() == frame_len_;
  }
  void reset_stash() noexcept;
  std::error_code fail(std::error_code ec) noexcept {
    error_ = ec;
    return ec;
  }

  // Split frames keep up to this much capacity between frames; bigger buffers are released.
  static constexpr std::size_t keep_capacity = 1u << 20;

  std::size_t max_frame_;
  char len_word_[4] = {};
  std::size_t len_have_ = 0;   // bytes of the length word held (0..4)
  std::size_t frame_len_ = 0;  // validated frame length once len_have_ == 4
  // Frame bytes after the length word. A vector because its reserve() allocates exactly what is
  // asked, so the capacity never exceeds the validated frame length (<= max_frame).
  std::vector<char> partial_;
  decode_scratch scratch_;
  command_view view_;
  std::error_code error_;
};

template <class OnFrame>
std::error_code frame_decoder::feed(std::string_view chunk, OnFrame&& on_frame) {
  if (error_) return error_;
  if (assembling()) {
    std::size_t used = 0;
    if (auto ec = stash(chunk, used)) return fail(ec);
    chunk.remove_prefix(used);
    if (!stash_complete()) return {};
    if (auto ec = decode_frame(std::string_view(partial_.data(), partial_.size()), scratch_, view_))
      return fail(ec);
    on_frame(static_cast<const command_view&>(view_));
    reset_stash();
  }
  // Frames wholly inside the chunk are decoded in place: views point into the chunk.
  while (chunk.size() >= 4) {
    std::size_t len = 0;
    if (auto ec = check_length(chunk.data(), len)) return fail(ec);
    if (chunk.size() - 4 < len) break;
    if (auto ec = decode_frame(chunk.substr(4, len), scratch_, view_)) return fail(ec);
    on_frame(static_cast<const command_view&>(view_));
    chunk.remove_prefix(4 + len);
  }
  if (!chunk.empty()) {
    std::size_t used = 0;
    if (auto ec = stash(chunk, used)) return fail(ec);
  }
  return {};
}

}  // namespace rmq::wire
