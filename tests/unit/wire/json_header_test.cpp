// JSON header reader: targeted cases, a differential test against nlohmann::json, and the
// fastjson-compatible string escaper.
#include "wire/json_header.hpp"

#include "rmq/error.hpp"
#include "support/test_scale.hpp"
#include "wire/command.hpp"
#include "wire/json_scan.hpp"
#include "wire_test_util.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <ostream>  // doctest prints std::error_code through it
#include <string>
#include <utility>
#include <vector>

namespace rmq::wire {
namespace {

using test::generator;

struct decoded {
  command_view view;
  std::map<std::string, std::string> ext;  // last entry wins, like command_view::field
};

std::error_code decode(std::string_view text, decode_scratch& scratch, decoded& out) {
  const auto ec = decode_json_header(text, scratch, out.view);
  out.ext.clear();
  if (!ec) {
    for (const auto& f : out.view.ext_fields) out.ext[std::string(f.name)] = std::string(f.value);
  }
  return ec;
}

TEST_CASE("JSON header: scalars of any kind as extFields values, unknown keys skipped") {
  decode_scratch scratch;
  decoded d;
  const std::string text =
      " \r\n\t{ \"version\" : 409 , \"unknown\":{\"a\":[1,{\"b\":null},\"x\"],"
      "\"c\":-1.5e+3}, \"extFields\":{\"n\":42,\"f\":-0.5E-2,\"t\":true,"
      "\"F\":false,\"z\":null,\"s\":\"a\\u00e9\\ud83d\\ude00\\/\\n\"},"
      "\"serializeTypeCurrentRPC\":\"JSON\",\"code\":310,\"flag\":2,"
      "\"language\":\"GO\",\"opaque\":-7,\"remark\":null} \n";
  REQUIRE(!decode(text, scratch, d));
  CHECK(d.view.type == serialize_type::json);
  CHECK(d.view.fields.code == 310);
  CHECK(d.view.fields.version == 409);
  CHECK(d.view.fields.opaque == -7);
  CHECK(d.view.fields.flag == 2);
  CHECK(d.view.fields.language == language_code::go);
  CHECK(!d.view.remark);
  CHECK(d.ext == std::map<std::string, std::string>{{"n", "42"},
                                                    {"f", "-0.5E-2"},
                                                    {"t", "true"},
                                                    {"F", "false"},
                                                    {"s", "a\xc3\xa9\xf0\x9f\x98\x80/\n"}});
}

TEST_CASE("JSON header: language as unknown name, number or null; empty object") {
  decode_scratch scratch;
  decoded d;
  REQUIRE(!decode(R"({"language":"COBOL"})", scratch, d));
  CHECK(d.view.fields.language == language_code::other);
  REQUIRE(!decode(R"({"language":12})", scratch, d));
  CHECK(d.view.fields.language == language_code::rust);
  REQUIRE(!decode(R"({"language":null,"extFields":null})", scratch, d));
  CHECK(d.view.fields.language == language_code::java);
  REQUIRE(!decode("{}", scratch, d));
  CHECK(d.view.fields.code == 0);
  CHECK(d.view.ext_fields.empty());
}

TEST_CASE("JSON header: integer fields take plain int32 numbers or null, nothing else") {
  decode_scratch scratch;
  decoded d;
  const auto code_of = [&](const std::string& number, std::int32_t& code) {
    const std::string text = "{\"code\":" + number + ",\"flag\":1}";
    const auto ec = decode(text, scratch, d);
    code = d.view.fields.code;
    return ec;
  };
  std::int32_t code = -1;
  for (const auto& [text, want] :
       std::vector<std::pair<std::string, std::int32_t>>{{"0", 0},
                                                         {"-0", 0},
                                                         {"7", 7},
                                                         {"2147483647", 2147483647},
                                                         {"-2147483648", -2147483647 - 1},
                                                         {"1234567890", 1234567890},
                                                         {"null", 0}}) {
    INFO(text);
    REQUIRE(!code_of(text, code));
    CHECK(code == want);
    CHECK(d.view.fields.flag == 1);
  }
  for (const std::string text :
       {"2147483648", "-2147483649", "99999999999", "12345678901", "01", "-01", "1.0", "1e2", "1E2",
        "-", "+1", "\"1\"", "true", "1.", "0x1", ""}) {
    INFO(text);
    CHECK(code_of(text, code) == make_error_code(rmq::errc::invalid_json_header));
  }
}

TEST_CASE("JSON header: strings without escapes are views into the header") {
  decode_scratch scratch;
  decoded d;
  const std::string text = R"({"remark":"plain","extFields":{"k":"v\u0001"}})";
  REQUIRE(!decode(text, scratch, d));
  REQUIRE(d.view.remark);
  CHECK(d.view.remark->data() >= text.data());
  CHECK(d.view.remark->data() < text.data() + text.size());
  CHECK(d.view.field("k") == std::string_view("v\x01", 2));
  CHECK((d.view.field("k")->data() < text.data() ||
         d.view.field("k")->data() >= text.data() + text.size()));
}

TEST_CASE("JSON header: escaped text longer than anything before keeps earlier views valid") {
  // Many escaped strings in one header: every view must still read back correctly at the end.
  std::string text = R"({"extFields":{)";
  for (int i = 0; i < 200; ++i) {
    if (i) text += ',';
    text += "\"k\\u00" + std::string(1, "0123456789abcdef"[i % 16]) + "1_" + std::to_string(i) +
            "\":\"\\ud83d\\ude00\\n" + std::to_string(i) + "\"";
  }
  text += "}}";
  decode_scratch scratch;
  decoded d;
  REQUIRE(!decode(text, scratch, d));
  REQUIRE(d.view.ext_fields.size() == 200);
  for (int i = 0; i < 200; ++i) {
    const auto& f = d.view.ext_fields[static_cast<std::size_t>(i)];
    CHECK(f.value == "\xf0\x9f\x98\x80\n" + std::to_string(i));
  }
}

// --- differential test against nlohmann::json ------------------------------------------------

class json_gen {
 public:
  explicit json_gen(generator& g) : g_(g) {}

  std::string ws() {
    static constexpr const char* spaces[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    return spaces[g_.below(7)];
  }

  // A JSON string literal for `text`, each character written raw or escaped at random.
  std::string quote(const std::string& text) {
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size();) {
      const auto c = static_cast<unsigned char>(text[i]);
      std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      std::uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
      for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (text[i + k] & 0x3F);
      const bool must = c < 0x20 || c == '"' || c == '\\';
      if (!must && g_.chance(70)) {
        out.append(text, i, len);
      } else if (cp < 0x80 && g_.chance(50) &&
                 std::string_view("\"\\/\b\f\n\r\t").find(static_cast<char>(cp)) !=
                     std::string_view::npos) {
        static constexpr std::string_view from = "\"\\/\b\f\n\r\t", to = "\"\\/bfnrt";
        out += '\\';
        out += to[from.find(static_cast<char>(cp))];
      } else if (cp >= 0x10000) {
        const std::uint32_t v = cp - 0x10000;
        out += u_escape(0xD800 + (v >> 10));
        out += u_escape(0xDC00 + (v & 0x3FF));
      } else {
        out += u_escape(cp);
      }
      i += len;
    }
    return out + "\"";
  }

  std::string u_escape(std::uint32_t cp) {
    const char* hex = g_.chance(50) ? "0123456789abcdef" : "0123456789ABCDEF";
    std::string s = "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) s += hex[(cp >> shift) & 15];
    return s;
  }

  std::string number() {
    std::string s;
    if (g_.chance(30)) s += '-';
    switch (g_.below(5)) {
      case 0:
        s += "0";
        break;
      case 1:
        s += std::to_string(g_.below(10));
        break;
      case 2:
        s += std::to_string(g_.next() >> g_.below(64));
        break;
      case 3:
        s += std::to_string(1 + g_.below(2147483647));
        break;
      default:
        s += std::to_string(2147483600 + g_.below(100));
        break;
    }
    // Appended piece by piece: g++ 12 warns falsely (-Wrestrict) on `"." + std::string`.
    if (g_.chance(15)) {
      s += '.';
      s += std::to_string(g_.below(1000));
    }
    if (g_.chance(10)) {
      s += g_.chance(50) ? 'e' : 'E';
      if (g_.chance(50)) s += '-';
      s += std::to_string(g_.below(30));
    }
    return s;
  }

  std::string scalar() {
    switch (g_.below(6)) {
      case 0:
        return number();
      case 1:
        return "true";
      case 2:
        return "false";
      case 3:
        return "null";
      default:
        return quote(g_.text(20));
    }
  }

  std::string value(int depth) {
    if (depth < 5 && g_.chance(25)) {
      const bool object = g_.chance(50);
      std::string s = object ? "{" : "[";
      const std::size_t n = g_.below(4);
      for (std::size_t i = 0; i < n; ++i) {
        if (i) s += ",";
        s += ws();
        if (object) s += quote(g_.text(6)) + ws() + ":" + ws();
        s += value(depth + 1) + ws();
      }
      return s + (object ? "}" : "]");
    }
    return scalar();
  }

  std::string int_member() {
    switch (g_.below(10)) {
      case 0:
        return "null";
      case 1:
        return scalar();
      default:
        return std::to_string(static_cast<std::int32_t>(g_.next()));
    }
  }

  std::string header() {
    std::vector<std::string> members;
    auto key = [&](const std::string& k) { return quote(k) + ws() + ":" + ws(); };
    for (const char* name : {"code", "version", "opaque", "flag"}) {
      if (g_.chance(85)) members.push_back(key(name) + int_member());
    }
    if (g_.chance(85)) {
      static constexpr const char* langs[] = {"JAVA", "CPP", "GO", "NODE_JS", "RUST", "X"};
      switch (g_.below(8)) {
        case 0:
          members.push_back(key("language") + std::to_string(g_.below(300)));
          break;
        case 1:
          members.push_back(key("language") + scalar());
          break;
        default:
          members.push_back(key("language") + quote(langs[g_.below(6)]));
          break;
      }
    }
    if (g_.chance(50))
      members.push_back(key("remark") + (g_.chance(85) ? quote(g_.text(30)) : scalar()));
    if (g_.chance(80)) {
      std::string ext = "{";
      const std::size_t n = g_.below(8);
      for (std::size_t i = 0; i < n; ++i) {
        if (i) ext += ",";
        ext += ws() + key(g_.text(5) + std::to_string(i)) +
               (g_.chance(3)    ? value(3)
                : g_.chance(70) ? quote(g_.text(20))
                                : scalar()) +
               ws();
      }
      members.push_back(key("extFields") + (g_.chance(5) ? "null" : ext + "}"));
    }
    if (g_.chance(50)) members.push_back(key("serializeTypeCurrentRPC") + quote("JSON"));
    for (std::size_t i = g_.below(3); i > 0; --i) {
      std::string name = "x";  // not "x" + text: g++ 12 warns falsely (-Wrestrict) on that
      name += g_.text(4);
      members.push_back(key(name) + value(1));
    }
    for (std::size_t i = members.size(); i > 1; --i)
      std::swap(members[i - 1], members[g_.below(i)]);
    std::string s = ws() + "{";
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i != 0) s += ',';
      s += ws();
      s += members[i];
      s += ws();
    }
    return s + "}" + ws();
  }

  void mutate(std::string& s) {
    static constexpr std::string_view alphabet = "{}[]\":,\\u0aeE.-+9 \x01\x1ftnf";
    const std::size_t at = g_.below(s.size() + 1);
    switch (g_.below(4)) {
      case 0:
        if (at < s.size()) s.erase(at, 1);
        break;
      case 1:
        s.insert(at, 1, alphabet[g_.below(alphabet.size())]);
        break;
      case 2:
        if (at < s.size()) s[at] = alphabet[g_.below(alphabet.size())];
        break;
      default:
        s.resize(at);
        break;
    }
  }

 private:
  generator& g_;
};

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80         ? 1
                      : (c >> 5) == 6  ? 2
                      : (c >> 4) == 14 ? 3
                      : (c >> 3) == 30 ? 4
                                       : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

// What the reader must produce for a document nlohmann accepted, per the documented rules.
struct expectation {
  bool ok = true;
  command_fields fields;
  std::optional<std::string> remark;
  std::map<std::string, nlohmann::json> ext;
};

expectation rejected_shape() {
  expectation e;
  e.ok = false;
  return e;
}

bool int32_of(const nlohmann::json& v, std::int32_t& out) {
  if (v.is_null()) {
    out = 0;
    return true;
  }
  if (v.is_number_integer() || v.is_number_unsigned()) {
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u > 2147483647u) return false;
      out = static_cast<std::int32_t>(u);
      return true;
    }
    const auto i = v.get<std::int64_t>();
    if (i < INT32_MIN || i > INT32_MAX) return false;
    out = static_cast<std::int32_t>(i);
    return true;
  }
  return false;
}

expectation expect(const nlohmann::json& j) {
  expectation e;
  e.fields.language = language_code::java;
  if (!j.is_object()) return rejected_shape();
  for (const auto& [key, v] : j.items()) {
    if (key == "code" || key == "version" || key == "opaque" || key == "flag") {
      auto& target = key == "code"      ? e.fields.code
                     : key == "version" ? e.fields.version
                     : key == "opaque"  ? e.fields.opaque
                                        : e.fields.flag;
      if (!int32_of(v, target)) return rejected_shape();
    } else if (key == "language") {
      std::int32_t n = 0;
      if (v.is_string()) {
        e.fields.language =
            language_from_string(v.get<std::string>()).value_or(language_code::other);
      } else if (v.is_null()) {
        e.fields.language = language_code::java;
      } else if (int32_of(v, n) && n >= 0 && n <= 255) {
        e.fields.language = static_cast<language_code>(n);
      } else {
        return rejected_shape();
      }
    } else if (key == "remark") {
      if (v.is_string())
        e.remark = v.get<std::string>();
      else if (!v.is_null())
        return rejected_shape();
    } else if (key == "extFields") {
      if (v.is_null()) continue;
      if (!v.is_object()) return rejected_shape();
      for (const auto& [k, x] : v.items()) {
        if (x.is_structured()) return rejected_shape();
        if (!x.is_null()) e.ext[k] = x;
      }
    }
  }
  return e;
}

bool same_scalar(const nlohmann::json& want, const std::string& text) {
  if (want.is_string()) return want.get<std::string>() == text;
  if (want.is_boolean()) return text == (want.get<bool>() ? "true" : "false");
  if (want.is_number_unsigned()) {
    std::uint64_t v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    return r.ec == std::errc{} && v == want.get<std::uint64_t>();
  }
  if (want.is_number_integer()) {
    std::int64_t v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    return r.ec == std::errc{} && v == want.get<std::int64_t>();
  }
  if (want.is_number_float()) return std::strtod(text.c_str(), nullptr) == want.get<double>();
  return false;
}

TEST_CASE("JSON header: differential test against nlohmann::json") {
  generator g(test::seed + 10);
  INFO("seed " << test::seed + 10);
  json_gen gen(g);
  decode_scratch scratch;
  const std::size_t rounds = rmq::test::scaled(20000, 500);
  std::size_t accepted = 0, rejected = 0, compared = 0;
  for (std::size_t i = 0; i < rounds; ++i) {
    std::string text = gen.header();
    const bool mutated = g.chance(50);
    if (mutated) {
      for (std::size_t m = 1 + g.below(3); m > 0; --m) gen.mutate(text);
    }
    if (!valid_utf8(text)) continue;  // the reader passes raw bytes through; nlohmann checks them
    INFO("case " << i << ": " << text);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::out_of_range&) {
      // A number beyond double range (e.g. 1E99999): nlohmann refuses it, the reader keeps its
      // text like any other scalar, as a Java parser would read a BigDecimal. Not comparable.
      continue;
    } catch (const nlohmann::json::parse_error&) {
      j = nlohmann::json(nlohmann::json::value_t::discarded);
    }
    decoded d;
    const auto ec = decode(text, scratch, d);
    ++compared;
    if (j.is_discarded()) {
      CHECK(ec == rmq::errc::invalid_json_header);
      ++rejected;
      continue;
    }
    const expectation e = expect(j);
    if (!e.ok) {
      CHECK(ec == rmq::errc::invalid_json_header);
      ++rejected;
      continue;
    }
    REQUIRE(!ec);
    ++accepted;
    CHECK(d.view.fields.code == e.fields.code);
    CHECK(d.view.fields.version == e.fields.version);
    CHECK(d.view.fields.opaque == e.fields.opaque);
    CHECK(d.view.fields.flag == e.fields.flag);
    CHECK(d.view.fields.language == e.fields.language);
    CHECK(d.view.remark.has_value() == e.remark.has_value());
    if (e.remark && d.view.remark) CHECK(*d.view.remark == *e.remark);
    REQUIRE(d.ext.size() == e.ext.size());
    for (const auto& [k, want] : e.ext) {
      INFO("ext key " << k);
      REQUIRE(d.ext.count(k) == 1);
      CHECK(same_scalar(want, d.ext[k]));
    }
  }
  // The corpus must exercise both outcomes substantially.
  CHECK(compared > rounds / 2);
  CHECK(accepted > compared / 10);
  CHECK(rejected > compared / 10);
}

// --- escaper ---------------------------------------------------------------------------------

std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST_CASE("string escaping follows fastjson") {
  CHECK(json_quoted("a\x01"
                    "b\x02") == R"("a\u0001b\u0002")");
  CHECK(json_quoted("\"\\/") == R"("\"\\/")");
  CHECK(json_quoted("\b\t\n\f\r") == R"("\b\t\n\f\r")");
  CHECK(json_quoted(std::string_view("\0\x0b\x1f\x7f", 4)) == R"("\u0000\u000B\u001F\u007F")");
  CHECK(json_quoted("\xc2\x85\xc2\xa0\xe2\x80\xa8\xe2\x80\xa9\xc3\xa9") ==
        "\"\\u0085\xc2\xa0\\u2028\\u2029\xc3\xa9\"");
  CHECK(json_quoted("") == "\"\"");
}

// The escaper's definition, one byte at a time.
std::string reference_quoted(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "\"";
  const auto unicode = [&](unsigned cp) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += hex[(cp >> shift) & 15];
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const auto at = [&](std::size_t k) {
      return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
    };
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\r':
        out += "\\r";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7F) {
      unicode(c);
    } else if (c == 0xC2 && at(1) >= 0x80 && at(1) <= 0x9F) {
      unicode(at(1));
      ++i;
    } else if (c == 0xE2 && at(1) == 0x80 && (at(2) == 0xA8 || at(2) == 0xA9)) {
      unicode(at(2) == 0xA8 ? 0x2028 : 0x2029);
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

TEST_CASE("string escaping: every kind of byte at every offset of the first blocks") {
  // The escaper handles sixteen bytes at a time and the tail byte by byte: put each escape (and
  // each lead byte that only looks like one, cut short or not) at every offset of strings of
  // several lengths, and compare with the byte-by-byte definition.
  const std::vector<std::string> specials = {
      "\"",           "\\",       "\n",           std::string(1, '\0'),
      "\x01",         "\x1f",     "\x7f",         "\xc2\x85",
      "\xc2\xa0",     "\xc2",     "\xe2\x80\xa8", "\xe2\x80\xa9",
      "\xe2\x80\xaa", "\xe2\x80", "\xe2",         "\xc3\xa9"};
  for (std::size_t length : {0u, 7u, 15u, 16u, 17u, 31u, 40u}) {
    for (std::size_t at = 0; at <= 40; ++at) {
      for (std::size_t k = 0; k < specials.size(); ++k) {
        std::string s(at, 'a');
        s += specials[k];
        s += std::string(length, 'z');
        INFO("at " << at << ", length " << length << ", special #" << k);
        REQUIRE(json_quoted(s) == reference_quoted(s));
      }
    }
  }
  // Dense: escapes back to back across block edges.
  std::string dense;
  for (int i = 0; i < 100; ++i) dense += specials[static_cast<std::size_t>(i) % specials.size()];
  CHECK(json_quoted(dense) == reference_quoted(dense));
}

TEST_CASE("the block masks mark exactly the escape candidates and the string specials") {
  // The encoder's SIMD mask and its byte-at-a-time tail must agree on every byte value.
  for (unsigned c = 0; c < 256; ++c) {
    for (unsigned at = 0; at < json_scan::block; ++at) {
      char buf[json_scan::block];
      std::memset(buf, 'a', sizeof buf);
      buf[at] = static_cast<char>(c);
      INFO("byte " << c << " at " << at);
      const std::uint32_t bit = 1u << at;
      CHECK(json_scan::escape_candidates(buf) == (json_scan::escape_candidate[c] ? bit : 0u));
      const bool special = c == '"' || c == '\\' || c < 0x20;
      CHECK(json_scan::string_specials(buf) == (special ? bit : 0u));
    }
  }
}

TEST_CASE("escaped strings read back identically, by us and by nlohmann") {
  generator g(test::seed + 11);
  decode_scratch scratch;
  decoded d;
  for (std::size_t i = 0; i < rmq::test::scaled(3000, 100); ++i) {
    const std::string s = g.text(60);
    const std::string header = "{\"remark\":" + json_quoted(s) + "}";
    INFO(header);
    REQUIRE(!decode(header, scratch, d));
    CHECK(d.view.remark == std::optional<std::string_view>(s));
    CHECK(nlohmann::json::parse(header)["remark"].get<std::string>() == s);
    // Only printable ASCII and UTF-8 text remain raw.
    for (char c : header) CHECK(static_cast<unsigned char>(c) >= 0x20);
  }
}

TEST_CASE("JSON header: a quote, backslash or control byte is found at any offset in a block") {
  // The decoder skips strings sixteen bytes at a time: put each kind of special byte at every
  // position of the first three blocks of a string and check what comes out.
  decode_scratch scratch;
  decoded d;
  std::string header;  // alive while the views into it are checked
  const auto remark = [&](const std::string& raw) {
    header = "{\"remark\":\"" + raw + "\"}";
    return decode(header, scratch, d);
  };
  for (std::size_t at = 0; at < 48; ++at) {
    const std::string before(at, 'a');
    const std::string after(17, 'z');
    INFO("offset " << at);
    // A closing quote ends the string there.
    REQUIRE(!remark(before));
    CHECK(d.view.remark == std::optional<std::string_view>(before));
    // An escape is unescaped, wherever it is.
    REQUIRE(!remark(before + "\\n" + after));
    CHECK(d.view.remark == std::optional<std::string_view>(before + "\n" + after));
    REQUIRE(!remark(before + "\\u00e9" + after));
    CHECK(d.view.remark == std::optional<std::string_view>(before + "\xC3\xA9" + after));
    // A raw control byte is an error, wherever it is; DEL and UTF-8 are plain text.
    CHECK(remark(before + "\x01" + after) == make_error_code(rmq::errc::invalid_json_header));
    REQUIRE(!remark(before + "\x7F\xC3\xA9" + after));
    CHECK(d.view.remark == std::optional<std::string_view>(before + "\x7F\xC3\xA9" + after));
    // An unterminated string is an error, however long.
    header = "{\"remark\":\"" + before + after;
    CHECK(decode(header, scratch, d));
  }
}

}  // namespace
}  // namespace rmq::wire
