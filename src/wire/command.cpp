#include "wire/command.hpp"

#include "rmq/error.hpp"
#include "wire/big_endian.hpp"
#include "wire/binary_header.hpp"
#include "wire/json_header.hpp"
#include "wire/request_signing.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace rmq::wire {
namespace {

constexpr std::array<std::string_view, 14> language_names = {
    "JAVA",  "CPP",  "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY",
    "OTHER", "HTTP", "GO",     "PHP",    "OMS",    "RUST",   "NODE_JS",
};

constexpr std::size_t max_header_length = 0xFFFFFF;  // 24 bits of the header word

char* put(char* p, std::string_view text) noexcept {
  if (!text.empty()) std::memcpy(p, text.data(), text.size());  // an empty view may be null
  return p + text.size();
}

constexpr std::size_t max_int_chars = 20;  // "-9223372036854775808"

char* put_int(char* p, std::int64_t v) noexcept {
  if (static_cast<std::uint64_t>(v) < 10) {  // most header numbers: ids, flags, counts
    *p = static_cast<char>('0' + v);
    return p + 1;
  }
  return std::to_chars(p, p + max_int_chars, v).ptr;
}

// Room the JSON header's fixed parts need at most: the extFields opening, the keys and numbers
// finish() writes, a comma.
constexpr std::size_t json_fixed_room = 160;
// Room grown at least at once, so that a usual header grows out_ a single time.
constexpr std::size_t min_growth = 512;

}  // namespace

std::string_view to_string(language_code language) noexcept {
  const auto i = static_cast<std::size_t>(language);
  return i < language_names.size() ? language_names[i] : std::string_view{};
}

std::optional<language_code> language_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < language_names.size(); ++i) {
    if (language_names[i] == name) return static_cast<language_code>(i);
  }
  return std::nullopt;
}

std::optional<std::string_view> command_view::field(std::string_view name) const noexcept {
  // Scan from the back: with repeated keys the last one wins, as in a Java HashMap.
  for (auto it = ext_fields.rbegin(); it != ext_fields.rend(); ++it) {
    if (it->name == name) return it->value;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// frame_writer

frame_writer::frame_writer(std::string& out, serialize_type type, const command_fields& fields,
                           std::optional<std::string_view> remark)
    : out_(out),
      type_(type),
      fields_(fields),
      remark_(remark),
      frame_start_(out.size()),
      used_(out.size()),
      signer_((fields.flag & flag_response) == 0 ? signing_scope::current() : nullptr) {
  if (signer_ != nullptr) signer_->begin();
  const std::string_view remark_text = remark_.value_or(std::string_view{});
  char* p = room(8 + json_fixed_room + remark_text.size());
  std::memset(p, 0, 8);  // length word and header word, patched by finish()
  p += 8;
  if (type_ == serialize_type::json) {
    p = put(p, "{\"code\":");
    commit(put_int(p, fields_.code));
    return;
  }
  // Binary: code and version are shorts on the wire (codes above 32767 cannot be carried).
  p = put_be16(p, static_cast<std::uint16_t>(fields_.code));
  *p++ = static_cast<char>(fields_.language);
  p = put_be16(p, static_cast<std::uint16_t>(fields_.version));
  p = put_be32(p, static_cast<std::uint32_t>(fields_.opaque));
  p = put_be32(p, static_cast<std::uint32_t>(fields_.flag));
  // An empty remark is written as length 0, which every reader takes as "no remark".
  p = put_be32(p, static_cast<std::uint32_t>(remark_text.size()));
  p = put(p, remark_text);
  ext_start_ = static_cast<std::size_t>(p - out_.data());
  commit(put_be32(p, 0));  // extFields length, patched by finish()
}

frame_writer::~frame_writer() {
  if (out_.size() > used_) out_.resize(used_);
}

void frame_writer::grow(std::size_t n) {
  out_.resize(used_ + std::max(n, min_growth));
}

char* frame_writer::json_separator(char* p) {
  if (!ext_open_) {
    p = put(p, ",\"extFields\":{");
    ext_open_ = true;
  }
  if (!first_field_) *p++ = ',';
  first_field_ = false;
  return p;
}

void frame_writer::open_ext_fields() {
  if (type_ != serialize_type::json || ext_open_) return;
  commit(put(room(json_fixed_room), ",\"extFields\":{"));
  ext_open_ = true;
}

void frame_writer::field(std::string_view name, std::string_view value) {
  if (signer_ != nullptr) {
    signer_->add(name, value);  // written by finish(), in Java's order
    return;
  }
  if (type_ == serialize_type::json) {
    char* p = room(json_fixed_room + json_string_max_size(name.size()) +
                   json_string_max_size(value.size()));
    p = write_json_string(json_separator(p), name);
    *p++ = ':';
    commit(write_json_string(p, value));
    return;
  }
  if (name.size() > static_cast<std::size_t>(std::numeric_limits<std::int16_t>::max()))
    throw std::length_error("extFields key longer than 32767 bytes");
  if (value.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw std::length_error("extFields value longer than 2^31-1 bytes");
  char* p = room(2 + name.size() + 4 + value.size());
  p = put(put_be16(p, static_cast<std::uint16_t>(name.size())), name);
  commit(put(put_be32(p, static_cast<std::uint32_t>(value.size())), value));
  first_field_ = false;
}

void frame_writer::field(std::string_view name, std::int64_t value) {
  char buf[max_int_chars];
  const char* end = put_int(buf, value);
  plain_field(name, std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

void frame_writer::field(std::string_view name, bool value) {
  plain_field(name, value ? std::string_view("true") : std::string_view("false"));
}

void frame_writer::plain_field(std::string_view name, std::string_view value) {
  if (type_ != serialize_type::json || signer_ != nullptr) {
    field(name, value);
    return;
  }
  // Digits and true/false need no escaping: written straight between the quotes.
  char* p = room(json_fixed_room + json_string_max_size(name.size()) + value.size());
  p = write_json_string(json_separator(p), name);
  p = put(p, ":\"");
  p = put(p, value);
  *p++ = '"';
  commit(p);
}

void frame_writer::finish(std::string_view body) {
  if (signer_ != nullptr) {
    request_signer& signer = *signer_;
    signer_ = nullptr;  // field() writes from here on
    for (const ext_field& f : signer.seal(body)) field(f.name, f.value);
  }
  if (type_ == serialize_type::json) {
    const std::string_view remark_text = remark_.value_or(std::string_view{});
    char* p = room(json_fixed_room + json_string_max_size(remark_text.size()));
    if (ext_open_) *p++ = '}';  // no extFields key at all unless opened
    p = put_int(put(p, ",\"flag\":"), fields_.flag);
    p = put(p, ",\"language\":\"");
    const std::string_view name = to_string(fields_.language);
    p = put(p, name.empty() ? std::string_view("OTHER") : name);
    p = put_int(put(p, "\",\"opaque\":"), fields_.opaque);
    if (remark_) p = write_json_string(put(p, ",\"remark\":"), *remark_);
    p = put_int(put(p, ",\"version\":"), fields_.version);
    *p++ = '}';
    commit(p);
  } else {
    const std::size_t ext_len = used_ - ext_start_ - 4;
    if (ext_len > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
      throw std::length_error("extFields region longer than 2^31-1 bytes");
    put_be32(out_.data() + ext_start_, static_cast<std::uint32_t>(ext_len));
  }
  const std::size_t header_len = used_ - frame_start_ - 8;
  if (header_len > max_header_length) throw std::length_error("header longer than 16 MiB - 1");
  // Appended, not written into grown room: growing fills with zeros first (a batch's body is
  // tens of KiB).
  out_.resize(used_);
  out_.append(body);
  used_ = out_.size();
  const std::size_t frame_len = used_ - frame_start_ - 4;
  if (frame_len > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw std::length_error("frame longer than 2^31-1 bytes");
  char* frame = out_.data() + frame_start_;
  put_be32(put_be32(frame, static_cast<std::uint32_t>(frame_len)),
           (static_cast<std::uint32_t>(type_) << 24) | static_cast<std::uint32_t>(header_len));
}

// ---------------------------------------------------------------------------------------------
// remoting_command

std::optional<std::string_view> remoting_command::field(std::string_view name) const noexcept {
  for (const auto& [key, value] : ext_fields) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

void remoting_command::set_field(std::string name, std::string value) {
  for (auto& [key, old] : ext_fields) {
    if (key == name) {
      old = std::move(value);
      return;
    }
  }
  ext_fields.emplace_back(std::move(name), std::move(value));
}

void remoting_command::encode(serialize_type type, std::string& out) const {
  std::optional<std::string_view> remark_view;
  if (remark) remark_view = *remark;
  frame_writer w(out, type, fields, remark_view);
  if (has_ext_fields) w.open_ext_fields();
  for (const auto& [key, value] : ext_fields) w.field(key, std::string_view(value));
  w.finish(body);
}

std::string remoting_command::encode(serialize_type type) const {
  std::string out;
  encode(type, out);
  return out;
}

remoting_command remoting_command::from_view(const command_view& view) {
  remoting_command cmd;
  cmd.fields = view.fields;
  if (view.remark) cmd.remark = std::string(*view.remark);
  cmd.ext_fields.reserve(view.ext_fields.size());
  for (const auto& f : view.ext_fields) cmd.set_field(std::string(f.name), std::string(f.value));
  cmd.body.assign(view.body);
  cmd.has_ext_fields = view.has_ext_fields || !view.ext_fields.empty();
  return cmd;
}

// ---------------------------------------------------------------------------------------------
// decoding

std::error_code decode_frame(std::string_view frame, decode_scratch& scratch, command_view& out) {
  if (frame.size() < 4) return make_error_code(errc::frame_length_invalid);
  const std::uint32_t word = load_be32(frame.data());
  const auto type = static_cast<std::uint8_t>(word >> 24);
  const std::size_t header_len = word & 0xFFFFFF;
  if (header_len > frame.size() - 4) return make_error_code(errc::header_length_invalid);
  const std::string_view header = frame.substr(4, header_len);
  std::error_code ec;
  switch (type) {
    case static_cast<std::uint8_t>(serialize_type::json):
      ec = decode_json_header(header, scratch, out);
      break;
    case static_cast<std::uint8_t>(serialize_type::rocketmq):
      ec = decode_binary_header(header, scratch, out);
      break;
    default:
      return make_error_code(errc::unknown_serialize_type);
  }
  if (ec) return ec;
  out.body = frame.substr(4 + header_len);
  return {};
}

std::error_code frame_decoder::check_length(const char* word,
                                            std::size_t& frame_len) const noexcept {
  const auto len = static_cast<std::int32_t>(load_be32(word));
  // The frame must at least hold the header word.
  if (len < 4) return make_error_code(errc::frame_length_invalid);
  if (static_cast<std::size_t>(len) > max_frame_) return make_error_code(errc::frame_too_large);
  frame_len = static_cast<std::size_t>(len);
  return {};
}

std::error_code frame_decoder::stash(std::string_view chunk, std::size_t& used) {
  used = 0;
  if (len_have_ < 4) {
    const std::size_t n = std::min(chunk.size(), 4 - len_have_);
    std::copy_n(chunk.data(), n, len_word_ + len_have_);
    len_have_ += n;
    used += n;
    if (len_have_ < 4) return {};
    if (auto ec = check_length(len_word_, frame_len_)) return ec;
  }
  const std::size_t n = std::min(chunk.size() - used, frame_len_ - partial_.size());
  const std::size_t need = partial_.size() + n;
  if (need > partial_.capacity()) {
    // Grow geometrically (frames of slowly growing size must not reallocate every time), but
    // never past the configured maximum frame.
    partial_.reserve(
        std::min(max_frame_, std::max({need, 2 * partial_.capacity(), std::size_t{4096}})));
  }
  partial_.insert(partial_.end(), chunk.data() + used, chunk.data() + used + n);
  used += n;
  return {};
}

void frame_decoder::reset_stash() noexcept {
  len_have_ = 0;
  frame_len_ = 0;
  partial_.clear();
  if (partial_.capacity() > keep_capacity) std::vector<char>().swap(partial_);
}

}  // namespace rmq::wire
