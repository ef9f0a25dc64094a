// Frame codec: random round trips through every chunking, malformed input, decoder state.
#include "rmq/error.hpp"
#include "support/test_scale.hpp"
#include "wire/command.hpp"
#include "wire_test_util.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <ostream>  // doctest prints std::error_code through it
#include <string>
#include <vector>

namespace rmq::wire {
namespace {

using test::generator;

struct stream_case {
  std::vector<remoting_command> commands;
  std::string bytes;
};

stream_case make_stream(generator& g, std::size_t count, std::size_t max_body) {
  stream_case s;
  for (std::size_t i = 0; i < count; ++i) {
    const auto type = g.chance(50) ? serialize_type::json : serialize_type::rocketmq;
    s.commands.push_back(g.command(type, max_body));
    s.commands.back().encode(type, s.bytes);
  }
  return s;
}

// Feeds `bytes` split at the given chunk sizes (cycled) and returns the decoded commands.
std::vector<remoting_command> decode_chunked(const std::string& bytes,
                                             const std::function<std::size_t()>& next_size,
                                             std::error_code& ec) {
  frame_decoder d;
  std::vector<remoting_command> out;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const std::size_t n = std::min(bytes.size() - pos, std::max<std::size_t>(1, next_size()));
    // A private copy per chunk: views must only be used inside the callback.
    const std::string chunk = bytes.substr(pos, n);
    ec = d.feed(chunk,
                [&](const command_view& v) { out.push_back(remoting_command::from_view(v)); });
    if (ec) return out;
    pos += n;
  }
  CHECK(d.buffered() == 0);
  return out;
}

void check_same(const std::vector<remoting_command>& got,
                const std::vector<remoting_command>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("frame " << i);
    CHECK(test::same_command(got[i], want[i]));
  }
}

TEST_CASE("random frames round-trip through every chunking") {
  generator g(test::seed);
  INFO("seed " << test::seed);
  const std::size_t rounds = rmq::test::scaled(20, 2);
  for (std::size_t round = 0; round < rounds; ++round) {
    const auto s = make_stream(g, 1 + g.below(12), 64 * 1024);
    std::error_code ec;

    {
      auto got = decode_chunked(
          s.bytes, [&] { return s.bytes.size(); }, ec);
      REQUIRE(!ec);
      check_same(got, s.commands);
    }
    {
      auto got = decode_chunked(
          s.bytes, [] { return std::size_t{1}; }, ec);
      REQUIRE(!ec);
      check_same(got, s.commands);
    }
    {
      auto got = decode_chunked(
          s.bytes, [&] { return 1 + g.below(g.chance(50) ? 16 : 9000); }, ec);
      REQUIRE(!ec);
      check_same(got, s.commands);
    }
  }
}

TEST_CASE("every split point of a two-frame stream") {
  std::string bytes;
  std::vector<remoting_command> want(2);
  want[0].fields.code = 310;
  want[0].set_field("i", "TAGS\x01TagA\x02\xe2\x80\xa8\"q\"");
  want[0].remark = "r\n";
  want[0].body = "hello";
  want[0].encode(serialize_type::json, bytes);
  want[1].fields.code = 0;
  want[1].fields.flag = flag_response;
  want[1].set_field("msgId", "7F00000100002A9F0000000029AD4B05");
  want[1].remark = "ok";
  want[1].body = "world";
  want[1].encode(serialize_type::rocketmq, bytes);
  // Every pair of cut points (the second on a stride) yields three chunks, some empty.
  for (std::size_t split = 0; split <= bytes.size(); ++split) {
    for (std::size_t split2 = split; split2 <= bytes.size(); split2 += 5) {
      INFO("splits " << split << ", " << split2);
      frame_decoder d;
      std::vector<remoting_command> got;
      auto cb = [&](const command_view& v) { got.push_back(remoting_command::from_view(v)); };
      REQUIRE(!d.feed(std::string_view(bytes).substr(0, split), cb));
      REQUIRE(!d.feed(std::string_view(bytes).substr(split, split2 - split), cb));
      REQUIRE(!d.feed(std::string_view(bytes).substr(split2), cb));
      CHECK(d.buffered() == 0);
      check_same(got, want);
    }
  }
}

TEST_CASE("frames inside one chunk are decoded in place; split frames are assembled") {
  generator g(test::seed + 2);
  std::string bytes;
  std::vector<remoting_command> want;
  for (int i = 0; i < 5; ++i) {
    want.push_back(g.command(i % 2 ? serialize_type::json : serialize_type::rocketmq, 10));
    want.back().body = "body-" + std::to_string(i);
    want.back().encode(i % 2 ? serialize_type::json : serialize_type::rocketmq, bytes);
  }
  const char* lo = bytes.data();
  const char* hi = bytes.data() + bytes.size();
  frame_decoder d;
  std::size_t frames = 0;
  REQUIRE(!d.feed(bytes, [&](const command_view& v) {
    CHECK(v.body.data() >= lo);
    CHECK(v.body.data() + v.body.size() <= hi);
    ++frames;
  }));
  CHECK(frames == 5);

  // Split the last frame: the first four stay in place, the fifth is not a view into either chunk.
  const std::size_t cut = bytes.size() - 3;
  std::string a = bytes.substr(0, cut), b = bytes.substr(cut);
  frame_decoder d2;
  std::vector<bool> in_chunk;
  auto cb = [&](const command_view& v) {
    const bool in_a = v.body.data() >= a.data() && v.body.data() < a.data() + a.size();
    const bool in_b = v.body.data() >= b.data() && v.body.data() < b.data() + b.size();
    in_chunk.push_back(in_a || in_b);
  };
  REQUIRE(!d2.feed(a, cb));
  CHECK(d2.buffered() > 0);
  REQUIRE(!d2.feed(b, cb));
  CHECK(in_chunk == std::vector<bool>{true, true, true, true, false});
}

TEST_CASE("empty chunks and zero-length bodies") {
  remoting_command c;
  c.fields.code = 34;
  std::string bytes = c.encode(serialize_type::json);
  frame_decoder d;
  int n = 0;
  REQUIRE(!d.feed({}, [&](const command_view&) { ++n; }));
  REQUIRE(!d.feed(bytes, [&](const command_view& v) {
    ++n;
    CHECK(v.body.empty());
    CHECK(v.ext_fields.empty());
    CHECK(!v.remark);
  }));
  CHECK(n == 1);
}

// --- malformed input ------------------------------------------------------------------------

struct bad_case {
  const char* name;
  std::string bytes;
  rmq::errc expected;
};

std::string bin_fixed(std::int32_t remark_len, const std::string& rest = {}) {
  // code 10, language CPP, version 401, opaque 7, flag 0, then remark length.
  return test::be16(10) + std::string(1, '\x01') + test::be16(401) + test::be32(7) + test::be32(0) +
         test::be32(static_cast<std::uint32_t>(remark_len)) + rest;
}

std::string bin_ext(const std::string& region, std::int32_t declared) {
  return bin_fixed(0, test::be32(static_cast<std::uint32_t>(declared)) + region);
}

std::string entry(const std::string& k, const std::string& v) {
  return test::be16(static_cast<std::uint16_t>(k.size())) + k +
         test::be32(static_cast<std::uint32_t>(v.size())) + v;
}

std::vector<bad_case> bad_cases() {
  using rmq::errc;
  const std::string ok_entry = entry("ab", "xyz");
  std::string deep = R"({"x":)" + std::string(40, '[') + std::string(40, ']') + "}";
  return {
      {"negative length", test::be32(0x80000000u) + "abcd", errc::frame_length_invalid},
      {"length -1", test::be32(0xFFFFFFFFu), errc::frame_length_invalid},
      {"length 0", test::be32(0), errc::frame_length_invalid},
      {"length 3", test::be32(3) + "abc", errc::frame_length_invalid},
      {"length above max", test::be32(16u * 1024 * 1024 + 1), errc::frame_too_large},
      {"header longer than frame", test::be32(6) + test::be32(3) + "{}",
       errc::header_length_invalid},
      {"type 2", test::raw_frame(2, "{}"), errc::unknown_serialize_type},
      {"type 0xff", test::raw_frame(0xFF, "{}"), errc::unknown_serialize_type},
      // JSON
      {"json empty", test::raw_frame(0, ""), errc::invalid_json_header},
      {"json open", test::raw_frame(0, "{"), errc::invalid_json_header},
      {"json trailing garbage", test::raw_frame(0, "{}x"), errc::invalid_json_header},
      {"json two objects", test::raw_frame(0, "{}{}"), errc::invalid_json_header},
      {"json array", test::raw_frame(0, "[]"), errc::invalid_json_header},
      {"json trailing comma", test::raw_frame(0, R"({"code":1,})"), errc::invalid_json_header},
      {"json missing colon", test::raw_frame(0, R"({"code" 1})"), errc::invalid_json_header},
      {"json code string", test::raw_frame(0, R"({"code":"1"})"), errc::invalid_json_header},
      {"json code fraction", test::raw_frame(0, R"({"code":1.5})"), errc::invalid_json_header},
      {"json code overflow", test::raw_frame(0, R"({"code":2147483648})"),
       errc::invalid_json_header},
      {"json leading zero", test::raw_frame(0, R"({"code":01})"), errc::invalid_json_header},
      {"json bare minus", test::raw_frame(0, R"({"code":-})"), errc::invalid_json_header},
      {"json bad exponent", test::raw_frame(0, R"({"x":1e})"), errc::invalid_json_header},
      {"json bad fraction", test::raw_frame(0, R"({"x":1.})"), errc::invalid_json_header},
      {"json bad literal", test::raw_frame(0, R"({"x":tru})"), errc::invalid_json_header},
      {"json raw control char", test::raw_frame(0, "{\"remark\":\"a\x01\"}"),
       errc::invalid_json_header},
      {"json bad escape", test::raw_frame(0, R"({"remark":"\q"})"), errc::invalid_json_header},
      {"json short \\u", test::raw_frame(0, R"({"remark":"\u12"})"), errc::invalid_json_header},
      {"json non-hex \\u", test::raw_frame(0, R"({"remark":"\u12G4"})"), errc::invalid_json_header},
      {"json lone high surrogate", test::raw_frame(0, R"({"remark":"\uD800"})"),
       errc::invalid_json_header},
      {"json lone low surrogate", test::raw_frame(0, R"({"remark":"\uDC00"})"),
       errc::invalid_json_header},
      {"json high + non-low", test::raw_frame(0, R"({"remark":"\uD800\u0041"})"),
       errc::invalid_json_header},
      {"json unterminated string", test::raw_frame(0, R"({"remark":"abc)"),
       errc::invalid_json_header},
      {"json unterminated escaped", test::raw_frame(0, R"({"remark":"a\n)"),
       errc::invalid_json_header},
      {"json remark number", test::raw_frame(0, R"({"remark":5})"), errc::invalid_json_header},
      {"json language bool", test::raw_frame(0, R"({"language":true})"), errc::invalid_json_header},
      {"json language 256", test::raw_frame(0, R"({"language":256})"), errc::invalid_json_header},
      {"json ext object value", test::raw_frame(0, R"({"extFields":{"a":{}}})"),
       errc::invalid_json_header},
      {"json ext array value", test::raw_frame(0, R"({"extFields":{"a":[1]}})"),
       errc::invalid_json_header},
      {"json ext not object", test::raw_frame(0, R"({"extFields":[]})"), errc::invalid_json_header},
      {"json too deep", test::raw_frame(0, deep), errc::invalid_json_header},
      {"json unbalanced skip", test::raw_frame(0, R"({"x":[1,2})"), errc::invalid_json_header},
      // binary
      {"bin shorter than fixed part", test::raw_frame(1, bin_fixed(0).substr(0, 20)),
       errc::truncated_binary_header},
      {"bin no ext length", test::raw_frame(1, bin_fixed(0)), errc::truncated_binary_header},
      {"bin negative remark", test::raw_frame(1, bin_fixed(-1, test::be32(0))),
       errc::overlong_binary_field},
      {"bin remark beyond header", test::raw_frame(1, bin_fixed(1000, test::be32(0))),
       errc::overlong_binary_field},
      {"bin remark past end", test::raw_frame(1, bin_fixed(10, "abc" + test::be32(0))),
       errc::truncated_binary_header},
      {"bin remark eats ext length", test::raw_frame(1, bin_fixed(4, test::be32(0))),
       errc::truncated_binary_header},
      {"bin negative ext length", test::raw_frame(1, bin_ext(ok_entry, -5)),
       errc::overlong_binary_field},
      {"bin ext beyond header", test::raw_frame(1, bin_ext(ok_entry, 100000)),
       errc::overlong_binary_field},
      {"bin ext past end",
       test::raw_frame(1, bin_ext(ok_entry, static_cast<std::int32_t>(ok_entry.size() + 5))),
       errc::truncated_binary_header},
      {"bin stray byte",
       test::raw_frame(1, bin_ext(ok_entry + "x", static_cast<std::int32_t>(ok_entry.size() + 1))),
       errc::truncated_binary_header},
      {"bin negative key length", test::raw_frame(1, bin_ext(test::be16(0xFFFF) + "abcdef", 8)),
       errc::overlong_binary_field},
      {"bin key beyond region", test::raw_frame(1, bin_ext(test::be16(200) + "abcdef", 8)),
       errc::overlong_binary_field},
      {"bin key past entry", test::raw_frame(1, bin_ext(test::be16(3) + "ab", 4)),
       errc::truncated_binary_header},
      {"bin cut after key",
       test::raw_frame(1, bin_ext(test::be16(2) + "ab" + std::string(2, '\0'), 6)),
       errc::truncated_binary_header},
      {"bin negative value length",
       test::raw_frame(1, bin_ext(test::be16(1) + "a" + test::be32(0x80000000u) + "b", 8)),
       errc::overlong_binary_field},
      {"bin value beyond region",
       test::raw_frame(1, bin_ext(test::be16(1) + "a" + test::be32(50) + "b", 8)),
       errc::overlong_binary_field},
      {"bin value past entry",
       test::raw_frame(1, bin_ext(test::be16(1) + "a" + test::be32(3) + "b", 8)),
       errc::truncated_binary_header},
  };
}

TEST_CASE("malformed frames fail with the specific error, whole or byte by byte") {
  for (const auto& c : bad_cases()) {
    INFO(c.name);
    const auto expected = make_error_code(c.expected);
    frame_decoder whole;
    int frames = 0;
    CHECK(whole.feed(c.bytes, [&](const command_view&) { ++frames; }) == expected);
    CHECK(whole.error() == expected);

    frame_decoder bytewise;
    std::error_code ec;
    for (char b : c.bytes) {
      ec = bytewise.feed(std::string_view(&b, 1), [&](const command_view&) { ++frames; });
      if (ec) break;
    }
    CHECK(ec == expected);
    CHECK(frames == 0);
  }
}

TEST_CASE("headers with more than max_ext_fields entries are refused") {
  for (auto type : {serialize_type::json, serialize_type::rocketmq}) {
    INFO("type " << int(type));
    for (std::size_t n : {max_ext_fields, max_ext_fields + 1}) {
      std::string bytes;
      command_fields f;
      frame_writer w(bytes, type, f);
      for (std::size_t i = 0; i < n; ++i) w.field("k", "");
      w.finish();
      frame_decoder d;
      std::size_t fields = 0;
      const auto ec = d.feed(bytes, [&](const command_view& v) { fields = v.ext_fields.size(); });
      if (n == max_ext_fields) {
        CHECK(!ec);
        CHECK(fields == n);
      } else {
        CHECK(ec == (type == serialize_type::json ? rmq::errc::invalid_json_header
                                                  : rmq::errc::overlong_binary_field));
      }
    }
  }
}

TEST_CASE("corrupted streams are decoded or refused, never read out of bounds") {
  generator g(test::seed + 3);
  const std::size_t rounds = rmq::test::scaled(3000, 100);
  std::size_t refused = 0;
  for (std::size_t round = 0; round < rounds; ++round) {
    auto s = make_stream(g, 1 + g.below(3), 300);
    // Flip, overwrite or drop a few bytes, preferring the length and header words.
    for (std::size_t k = 1 + g.below(4); k > 0 && !s.bytes.empty(); --k) {
      const std::size_t at = g.chance(50) ? g.below(std::min<std::size_t>(s.bytes.size(), 40))
                                          : g.below(s.bytes.size());
      switch (g.below(3)) {
        case 0:
          s.bytes[at] = static_cast<char>(s.bytes[at] ^ (1 << g.below(8)));
          break;
        case 1:
          s.bytes[at] = static_cast<char>(g.next());
          break;
        default:
          s.bytes.erase(at, 1);
          break;
      }
    }
    // Each chunk in an exactly sized buffer so ASan sees any read past its end.
    frame_decoder d(64 * 1024);
    std::size_t pos = 0;
    std::error_code ec;
    while (pos < s.bytes.size() && !ec) {
      const std::size_t n = std::min(s.bytes.size() - pos, 1 + g.below(200));
      const std::unique_ptr<char[]> chunk(new char[n]);
      std::memcpy(chunk.get(), s.bytes.data() + pos, n);
      ec = d.feed(std::string_view(chunk.get(), n), [&](const command_view& v) {
        (void)remoting_command::from_view(v);  // touches every view
      });
      pos += n;
    }
    if (ec) {
      ++refused;
      CHECK(ec.category() == rmq::category());
      CHECK(d.error() == ec);
    }
    CHECK(d.buffered() <= 4 + d.max_frame());
  }
  CHECK(refused > rounds / 4);  // the corruption does reach the validation paths
}

TEST_CASE(
    "a malformed frame after good ones: good frames delivered, then the decoder stays failed") {
  remoting_command c;
  c.fields.code = 105;
  c.set_field("topic", "TopicTest");
  std::string bytes = c.encode(serialize_type::json) + c.encode(serialize_type::rocketmq) +
                      test::raw_frame(7, "{}");
  frame_decoder d;
  int frames = 0;
  CHECK(d.feed(bytes, [&](const command_view&) { ++frames; }) == rmq::errc::unknown_serialize_type);
  CHECK(frames == 2);
  // A perfectly good frame afterwards is refused: the stream cannot be resynchronised.
  CHECK(d.feed(c.encode(serialize_type::json), [&](const command_view&) { ++frames; }) ==
        rmq::errc::unknown_serialize_type);
  CHECK(frames == 2);
}

TEST_CASE("length is validated as soon as its four bytes arrive, before any body") {
  frame_decoder d(1024);
  CHECK(d.max_frame() == 1024);
  CHECK(!d.feed(test::be32(1025).substr(0, 3), [](const command_view&) {}));
  CHECK(d.buffered() == 3);
  CHECK(d.feed(test::be32(1025).substr(3), [](const command_view&) {}) ==
        rmq::errc::frame_too_large);

  // Exactly max_frame is accepted and buffered up to max_frame + the length word.
  frame_decoder ok(1024);
  remoting_command c;
  c.fields.code = 1;
  std::string frame = c.encode(serialize_type::rocketmq);
  c.body.assign(1024 - (frame.size() - 4), 'b');
  frame = c.encode(serialize_type::rocketmq);
  REQUIRE(frame.size() == 1028);
  int frames = 0;
  CHECK(!ok.feed(std::string_view(frame).substr(0, 1000), [&](const command_view&) { ++frames; }));
  CHECK(ok.buffered() == 1000);
  CHECK(!ok.feed(std::string_view(frame).substr(1000), [&](const command_view&) { ++frames; }));
  CHECK(frames == 1);
}

TEST_CASE("decode_frame on its own") {
  decode_scratch scratch;
  command_view v;
  CHECK(decode_frame("", scratch, v) == rmq::errc::frame_length_invalid);
  CHECK(decode_frame(std::string_view("\x00\x00\x00\x05{}", 6), scratch, v) ==
        rmq::errc::header_length_invalid);
  const std::string frame = test::raw_frame(0, R"({"code":17,"flag":1,"remark":null})", "xyz");
  REQUIRE(!decode_frame(std::string_view(frame).substr(4), scratch, v));
  CHECK(v.fields.code == 17);
  CHECK(v.is_response());
  CHECK(!v.is_oneway());
  CHECK(!v.remark);
  CHECK(v.body == "xyz");
  CHECK(v.fields.language == language_code::java);  // absent language: Java's default
}

TEST_CASE("binary: empty remark is null, empty extFields values survive") {
  remoting_command c;
  c.fields.code = 10;
  c.remark = "";
  c.set_field("empty", "");
  c.set_field("k", "v");
  const std::string bytes = c.encode(serialize_type::rocketmq);
  frame_decoder d;
  REQUIRE(!d.feed(bytes, [&](const command_view& v) {
    CHECK(!v.remark);
    REQUIRE(v.field("empty"));
    CHECK(v.field("empty")->empty());
    CHECK(v.field("k") == "v");
    CHECK(!v.field("missing"));
  }));
  // JSON keeps the empty remark.
  REQUIRE(!d.feed(c.encode(serialize_type::json), [&](const command_view& v) {
    CHECK(v.remark == std::optional<std::string_view>(""));
  }));
}

TEST_CASE("binary code and version are shorts; unknown language bytes are kept") {
  const std::string header = test::be16(0xFFFE) + std::string(1, '\x63') + test::be16(0x8000) +
                             test::be32(0xFFFFFFFFu) + test::be32(3) + test::be32(0) +
                             test::be32(0);
  const std::string frame = test::raw_frame(1, header);
  frame_decoder d;
  REQUIRE(!d.feed(frame, [&](const command_view& v) {
    CHECK(v.type == serialize_type::rocketmq);
    CHECK(v.fields.code == -2);
    CHECK(static_cast<int>(v.fields.language) == 0x63);
    CHECK(v.fields.version == -32768);
    CHECK(v.fields.opaque == -1);
    CHECK(v.is_oneway());
    CHECK(v.is_response());
  }));
}

TEST_CASE("language names") {
  for (int i = 0; i <= 13; ++i) {
    const auto l = static_cast<language_code>(i);
    CHECK(language_from_string(to_string(l)) == l);
  }
  CHECK(to_string(language_code::nodejs) == "NODE_JS");
  CHECK(to_string(static_cast<language_code>(99)).empty());
  CHECK(!language_from_string("cpp"));
}

TEST_CASE("frame_writer appends after existing bytes and JSON omits extFields when empty") {
  std::string out = "prefix";
  command_fields f;
  f.code = 34;
  f.opaque = 9;
  f.version = 401;
  frame_writer w(out, serialize_type::json, f);
  w.finish("B");
  const std::string header = R"({"code":34,"flag":0,"language":"CPP","opaque":9,"version":401})";
  CHECK(out == "prefix" + test::raw_frame(0, header, "B"));
}

}  // namespace
}  // namespace rmq::wire
