#include "wire/json_header.hpp"

#include "rmq/error.hpp"
#include "wire/json_scan.hpp"

#include <array>
#include <cassert>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>

namespace rmq::wire {
namespace {

[[nodiscard]] int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[nodiscard]] bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

/// A byte that can continue a JSON number after its integer digits.
[[nodiscard]] bool continues_number(char c) noexcept {
  return is_digit(c) || c == '.' || c == 'e' || c == 'E';
}

/// Kind of a scalar read by read_scalar.
enum class scalar_kind { string, number, literal_true, literal_false, null };

struct scalar {
  scalar_kind kind = scalar_kind::null;
  std::string_view text;  // unescaped string, or the literal text of a number/true/false
};

// A single-pass cursor over the header text. Every failure is invalid_json_header; the reader
// never reads past `end_`.
class reader {
 public:
  reader(std::string_view text, std::string& strings) noexcept
      : p_(text.data()), end_(text.data() + text.size()), strings_(strings) {}

  [[nodiscard]] bool parse(command_view& out, std::vector<ext_field>& fields) noexcept {
    skip_ws();
    if (!consume('{')) return false;
    skip_ws();
    if (consume('}')) return finish();
    for (;;) {
      std::string_view key;
      skip_ws();
      if (!read_string(key)) return false;
      skip_ws();
      if (!consume(':')) return false;
      skip_ws();
      if (!member(key, out, fields)) return false;
      skip_ws();
      if (consume(',')) continue;
      if (consume('}')) return finish();
      return false;
    }
  }

 private:
  [[nodiscard]] bool finish() noexcept {
    skip_ws();
    return p_ == end_;  // trailing garbage is an error
  }

  [[nodiscard]] bool member(std::string_view key, command_view& out,
                            std::vector<ext_field>& fields) noexcept {
    switch (key.size()) {  // one length test instead of up to seven comparisons
      case 4:
        if (key == "code") return read_int_field(out.fields.code);
        if (key == "flag") return read_int_field(out.fields.flag);
        return skip_value(1);
      case 6:
        if (key == "opaque") return read_int_field(out.fields.opaque);
        if (key == "remark") return read_remark(out.remark);
        return skip_value(1);
      case 7:
        if (key == "version") return read_int_field(out.fields.version);
        return skip_value(1);
      case 8:
        if (key == "language") return read_language(out.fields.language);
        return skip_value(1);
      case 9:
        if (key == "extFields") return read_ext_fields(fields, out.has_ext_fields);
        return skip_value(1);
      default:
        return skip_value(1);
    }
  }

  [[nodiscard]] bool read_remark(std::optional<std::string_view>& remark) noexcept {
    scalar s;
    if (!read_scalar(s)) return false;
    if (s.kind == scalar_kind::null) {
      remark.reset();
      return true;
    }
    if (s.kind != scalar_kind::string) return false;
    remark = s.text;
    return true;
  }

  [[nodiscard]] bool read_int_field(std::int32_t& value) noexcept {
    // The usual form first: an optional minus and one to ten digits (no leading zero) that end
    // where a number ends. Anything else - null, a fraction, an exponent, more digits, bad
    // text - takes the general path below, which accepts or rejects it as it always has.
    const char* p = p_;
    const bool negative = p != end_ && *p == '-';
    if (negative) ++p;
    const char* const digits = p;
    std::int64_t v = 0;
    while (p != end_ && is_digit(*p) && p - digits <= 10) v = v * 10 + (*p++ - '0');
    const auto n = p - digits;
    if (n >= 1 && n <= 10 && (n == 1 || *digits != '0') && (p == end_ || !continues_number(*p))) {
      if (negative) v = -v;
      if (v < std::numeric_limits<std::int32_t>::min() ||
          v > std::numeric_limits<std::int32_t>::max())
        return false;
      value = static_cast<std::int32_t>(v);
      p_ = p;
      return true;
    }
    scalar s;
    if (!read_scalar(s)) return false;
    if (s.kind == scalar_kind::null) {
      value = 0;
      return true;
    }
    return s.kind == scalar_kind::number && parse_int32(s.text, value);
  }

  [[nodiscard]] static bool parse_int32(std::string_view text, std::int32_t& value) noexcept {
    // Only plain integers: fractions and exponents are not valid for int fields.
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc{} && ptr == text.data() + text.size();
  }

  [[nodiscard]] bool read_language(language_code& language) noexcept {
    scalar s;
    if (!read_scalar(s)) return false;
    switch (s.kind) {
      case scalar_kind::null:
        language = language_code::java;
        return true;
      case scalar_kind::string:
        language = language_from_string(s.text).value_or(language_code::other);
        return true;
      case scalar_kind::number: {
        std::int32_t v = 0;
        if (!parse_int32(s.text, v) || v < 0 || v > 255) return false;
        language = static_cast<language_code>(v);
        return true;
      }
      default:
        return false;
    }
  }

  [[nodiscard]] bool read_ext_fields(std::vector<ext_field>& fields, bool& present) noexcept {
    if (p_ != end_ && *p_ == 'n') {
      scalar s;
      if (!read_scalar(s)) return false;
      fields.clear();
      present = false;
      return true;
    }
    if (!consume('{')) return false;
    fields.clear();  // a repeated extFields key replaces the earlier one
    present = true;
    skip_ws();
    if (consume('}')) return true;
    for (;;) {
      std::string_view name;
      scalar value;
      skip_ws();
      if (!read_string(name)) return false;
      skip_ws();
      if (!consume(':')) return false;
      skip_ws();
      if (!read_scalar(value)) return false;
      if (value.kind != scalar_kind::null) {
        if (fields.size() >= max_ext_fields) return false;
        // push_back may allocate until the vector has seen its largest header; it never
        // throws here in practice, but a failure must not escape a noexcept decoder.
        try {
          fields.push_back({name, value.text});
        } catch (...) {
          return false;
        }
      }
      skip_ws();
      if (consume(',')) continue;
      return consume('}');
    }
  }

  // Reads a string, number, true, false or null. Objects and arrays fail.
  [[nodiscard]] bool read_scalar(scalar& out) noexcept {
    if (p_ == end_) return false;
    switch (*p_) {
      case '"':
        out.kind = scalar_kind::string;
        return read_string(out.text);
      case 't':
        out.kind = scalar_kind::literal_true;
        return read_literal("true", out.text);
      case 'f':
        out.kind = scalar_kind::literal_false;
        return read_literal("false", out.text);
      case 'n':
        out.kind = scalar_kind::null;
        return read_literal("null", out.text);
      default:
        out.kind = scalar_kind::number;
        return read_number(out.text);
    }
  }

  [[nodiscard]] bool read_literal(std::string_view word, std::string_view& text) noexcept {
    if (static_cast<std::size_t>(end_ - p_) < word.size()) return false;
    if (std::string_view(p_, word.size()) != word) return false;
    text = std::string_view(p_, word.size());
    p_ += word.size();
    return true;
  }

  // RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  [[nodiscard]] bool read_number(std::string_view& text) noexcept {
    const char* start = p_;
    if (p_ != end_ && *p_ == '-') ++p_;
    if (p_ == end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ != end_ && is_digit(*p_)) ++p_;
    } else {
      return false;
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !is_digit(*p_)) return false;
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !is_digit(*p_)) return false;
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    text = std::string_view(start, static_cast<std::size_t>(p_ - start));
    return true;
  }

  // Reads a quoted string. Without escapes the result is a view into the header; otherwise the
  // unescaped text is appended to strings_, whose capacity was reserved for the whole header.
  [[nodiscard]] bool read_string(std::string_view& out) noexcept {
    if (!consume('"')) return false;
    const char* start = p_;
    // A string ends at its first quote, backslash or control byte: skip words with none.
    p_ = json_scan::skip_plain(p_, end_);
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out = std::string_view(start, static_cast<std::size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c == '\\') return read_escaped_string(start, out);
      if (c < 0x20) return false;  // raw control characters are not allowed in JSON strings
      ++p_;
    }
    return false;  // unterminated
  }

  [[nodiscard]] bool read_escaped_string(const char* start, std::string_view& out) noexcept {
    const std::size_t begin = strings_.size();
    append(start, static_cast<std::size_t>(p_ - start));
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        out = std::string_view(strings_.data() + begin, strings_.size() - begin);
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        // Copy a run of plain bytes at once.
        const char* run = p_;
        p_ = json_scan::skip_plain(p_, end_);
        while (p_ != end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20)
          ++p_;
        append(run, static_cast<std::size_t>(p_ - run));
        continue;
      }
      ++p_;
      if (p_ == end_) return false;
      const char e = *p_++;
      switch (e) {
        case '"':
          append_char('"');
          break;
        case '\\':
          append_char('\\');
          break;
        case '/':
          append_char('/');
          break;
        case 'b':
          append_char('\b');
          break;
        case 'f':
          append_char('\f');
          break;
        case 'n':
          append_char('\n');
          break;
        case 'r':
          append_char('\r');
          break;
        case 't':
          append_char('\t');
          break;
        case 'u':
          if (!read_unicode_escape()) return false;
          break;
        default:
          return false;
      }
    }
    return false;
  }

  // After "\u": four hex digits, and for a high surrogate a following "\uDC00".."\uDFFF".
  // Lone surrogates are rejected (they have no UTF-8 form).
  [[nodiscard]] bool read_unicode_escape() noexcept {
    std::uint32_t cp = 0;
    if (!read_hex4(cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
      p_ += 2;
      std::uint32_t low = 0;
      if (!read_hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(cp);
    return true;
  }

  [[nodiscard]] bool read_hex4(std::uint32_t& cp) noexcept {
    if (end_ - p_ < 4) return false;
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      const int v = hex_value(p_[i]);
      if (v < 0) return false;
      cp = (cp << 4) | static_cast<std::uint32_t>(v);
    }
    p_ += 4;
    return true;
  }

  void append_utf8(std::uint32_t cp) noexcept {
    if (cp < 0x80) {
      append_char(static_cast<char>(cp));
    } else if (cp < 0x800) {
      append_char(static_cast<char>(0xC0 | (cp >> 6)));
      append_char(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      append_char(static_cast<char>(0xE0 | (cp >> 12)));
      append_char(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      append_char(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      append_char(static_cast<char>(0xF0 | (cp >> 18)));
      append_char(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      append_char(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      append_char(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // strings_ has capacity for the whole header and unescaping only shrinks text, so these
  // appends never reallocate (views handed out earlier stay valid).
  void append(const char* data, std::size_t n) noexcept {
    assert(strings_.size() + n <= strings_.capacity());
    strings_.append(data, n);
  }
  void append_char(char c) noexcept {
    assert(strings_.size() < strings_.capacity());
    strings_.push_back(c);
  }

  // Skips any value; `depth` is the nesting depth of the container holding it.
  [[nodiscard]] bool skip_value(int depth) noexcept {
    if (p_ == end_) return false;
    if (*p_ == '{' || *p_ == '[') {
      if (depth + 1 > json_max_depth) return false;
      const char close = *p_ == '{' ? '}' : ']';
      const bool object = *p_ == '{';
      ++p_;
      skip_ws();
      if (consume(close)) return true;
      for (;;) {
        skip_ws();
        if (object) {
          std::string_view key;
          if (!read_string(key)) return false;
          skip_ws();
          if (!consume(':')) return false;
          skip_ws();
        }
        if (!skip_value(depth + 1)) return false;
        skip_ws();
        if (consume(',')) continue;
        return consume(close);
      }
    }
    scalar s;
    return read_scalar(s);
  }

  void skip_ws() noexcept {
    // Every whitespace byte is <= ' ', so one compare settles the usual case (none at all).
    while (p_ != end_ && static_cast<unsigned char>(*p_) <= ' ' &&
           (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
      ++p_;
  }

  [[nodiscard]] bool consume(char c) noexcept {
    if (p_ != end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  const char* p_;
  const char* end_;
  std::string& strings_;
};

}  // namespace

std::error_code decode_json_header(std::string_view header, decode_scratch& scratch,
                                   command_view& out) noexcept {
  auto& strings = header_decoder_access::strings(scratch);
  auto& fields = header_decoder_access::fields(scratch);
  strings.clear();
  fields.clear();
  try {
    strings.reserve(header.size());  // grows only when a larger header arrives
  } catch (...) {
    return make_error_code(errc::invalid_json_header);
  }
  out.type = serialize_type::json;
  out.fields = command_fields{};
  out.fields.language = language_code::java;  // the Java default when the key is absent
  out.remark.reset();
  out.ext_fields = {};
  out.has_ext_fields = false;
  reader r(header, strings);
  if (!r.parse(out, fields)) {
    fields.clear();
    out.remark.reset();
    return make_error_code(errc::invalid_json_header);
  }
  out.ext_fields = std::span<const ext_field>(fields.data(), fields.size());
  return {};
}

namespace {

char* write_unicode_escape(char* out, std::uint32_t cp) noexcept {
  static constexpr char hex[] = "0123456789ABCDEF";
  const char buf[6] = {
      '\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15], hex[cp & 15]};
  std::memcpy(out, buf, sizeof buf);
  return out + sizeof buf;
}

// Writes the escape candidate at `p` (escaped, or raw when it is only the lead byte of ordinary
// UTF-8 text) and moves `p` past what it consumed.
char* write_candidate(char* out, const char*& p, const char* end) noexcept {
  const auto c = static_cast<unsigned char>(*p);
  char short_form = 0;
  switch (c) {
    case '"':
      short_form = '"';
      break;
    case '\\':
      short_form = '\\';
      break;
    case '\b':
      short_form = 'b';
      break;
    case '\t':
      short_form = 't';
      break;
    case '\n':
      short_form = 'n';
      break;
    case '\f':
      short_form = 'f';
      break;
    case '\r':
      short_form = 'r';
      break;
    default:
      break;
  }
  if (short_form != 0) {
    out[0] = '\\';
    out[1] = short_form;
    ++p;
    return out + 2;
  }
  if (c < 0x20 || c == 0x7F) {
    ++p;
    return write_unicode_escape(out, c);
  }
  const auto next = [&](std::ptrdiff_t i) { return static_cast<unsigned char>(p[i]); };
  if (c == 0xC2 && end - p >= 2 && next(1) >= 0x80 && next(1) <= 0x9F) {
    // U+0080..U+009F (C1 controls), which fastjson escapes too.
    const std::uint32_t cp = next(1);
    p += 2;
    return write_unicode_escape(out, cp);
  }
  if (c == 0xE2 && end - p >= 3 && next(1) == 0x80 && (next(2) == 0xA8 || next(2) == 0xA9)) {
    // U+2028 / U+2029 line and paragraph separators.
    const std::uint32_t cp = next(2) == 0xA8 ? 0x2028 : 0x2029;
    p += 3;
    return write_unicode_escape(out, cp);
  }
  *out = *p++;
  return out + 1;
}

}  // namespace

char* write_json_string(char* out, std::string_view text) noexcept {
  const char* p = text.data();
  const char* const end = p + text.size();
  *out++ = '"';
  // Every input byte becomes at most six output bytes, so while a block of input remains the
  // room left holds far more than a block: each block is stored whole and the cursor advances
  // over its plain prefix only.
  while (p != end) {
    if (static_cast<std::size_t>(end - p) >= json_scan::block) {
      const std::uint32_t candidates = json_scan::escape_candidates(p);
      json_scan::copy_block(out, p);
      if (candidates == 0) {
        p += json_scan::block;
        out += json_scan::block;
        continue;
      }
      const auto plain = static_cast<std::size_t>(__builtin_ctz(candidates));
      p += plain;
      out += plain;
    } else if (!json_scan::escape_candidate[static_cast<unsigned char>(*p)]) {
      *out++ = *p++;
      continue;
    }
    out = write_candidate(out, p, end);
  }
  *out++ = '"';
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  const std::size_t old = out.size();
  out.resize(old + json_string_max_size(text.size()));
  char* const end = write_json_string(out.data() + old, text);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

}  // namespace rmq::wire
