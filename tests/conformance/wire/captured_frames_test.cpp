// Conformance of the frame codec with frames captured from real Java 4.9.8 / 5.3.3 clients,
// brokers and NameServers (tests/conformance/frames, and the requests kept in fuzz/captures),
// and with the worked example of PROTOCOL.md section 16.
#include "wire/codes.hpp"
#include "wire/command.hpp"
#include "wire/headers.hpp"
#include "wire/stored_message.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>  // doctest prints std::error_code through it
#include <sstream>
#include <string>
#include <vector>

namespace rmq::wire {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string unhex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  int high = -1;
  for (char c : hex) {
    const int v = nibble(c);
    if (v < 0) continue;  // whitespace, newlines
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<char>(high * 16 + v));
      high = -1;
    }
  }
  REQUIRE(high < 0);
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

struct captured {
  fs::path path;
  std::string bytes;
  nlohmann::json ref;
};

std::vector<captured> load_all() {
  std::vector<captured> all;
  for (const char* root : {RMQ_TEST_FRAMES_DIR, RMQ_TEST_CAPTURES_DIR}) {
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (!e.is_regular_file() || e.path().extension() != ".hex") continue;
      captured c;
      c.path = e.path();
      c.bytes = unhex(read_file(e.path()));
      auto ref_path = e.path();
      ref_path.replace_extension(".json");
      c.ref = nlohmann::json::parse(read_file(ref_path));
      all.push_back(std::move(c));
    }
  }
  return all;
}

// The single frame of a capture, decoded and copied.
remoting_command decode_one(const std::string& bytes, serialize_type& type) {
  frame_decoder d;
  std::vector<remoting_command> got;
  REQUIRE(!d.feed(bytes, [&](const command_view& v) {
    type = v.type;
    got.push_back(remoting_command::from_view(v));
  }));
  REQUIRE(got.size() == 1);
  return got.front();
}

std::string_view header_of(const std::string& frame) {
  const auto* b = reinterpret_cast<const unsigned char*>(frame.data());
  const std::size_t len = (std::size_t{b[5]} << 16) | (std::size_t{b[6]} << 8) | b[7];
  return std::string_view(frame).substr(8, len);
}

TEST_CASE("every captured frame decodes to its reference fields") {
  const auto all = load_all();
  REQUIRE(all.size() >= 40);
  for (const auto& c : all) {
    INFO(c.path.string());
    const auto& ref = c.ref;
    CHECK(c.bytes.size() == ref.at("frame_len").get<std::size_t>());
    serialize_type type{};
    const auto cmd = decode_one(c.bytes, type);
    CHECK(static_cast<int>(type) == ref.at("serialize_type").get<int>());
    const auto& h = ref.at("header");
    CHECK(cmd.fields.code == h.at("code").get<int>());
    CHECK(cmd.fields.language == language_from_string(h.at("language").get<std::string>()));
    CHECK(cmd.fields.version == h.at("version").get<int>());
    CHECK(cmd.fields.opaque == h.at("opaque").get<int>());
    CHECK(cmd.fields.flag == h.at("flag").get<int>());
    if (h.contains("remark") && !h.at("remark").is_null()) {
      REQUIRE(cmd.remark);
      CHECK(*cmd.remark == h.at("remark").get<std::string>());
    } else {
      CHECK(!cmd.remark);
    }
    const auto ext = h.value("extFields", nlohmann::json::object());
    CHECK(cmd.ext_fields.size() == ext.size());
    for (const auto& [k, v] : ext.items()) {
      INFO("extFields." << k);
      CHECK(cmd.field(k) == std::optional<std::string_view>(v.get<std::string>()));
    }
    CHECK(cmd.body.size() == ref.at("body_len").get<std::size_t>());
    if (ref.contains("body_text")) CHECK(cmd.body == ref.at("body_text").get<std::string>());
    if (ref.contains("body_hex")) CHECK(to_hex(cmd.body) == ref.at("body_hex").get<std::string>());
  }
}

std::size_t count_of(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string_view::npos;
       pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

TEST_CASE("captured requests re-encode: binary byte for byte, JSON to the same tree") {
  std::size_t binary = 0, json = 0;
  for (const auto& c : load_all()) {
    INFO(c.path.string());
    serialize_type type{};
    const auto cmd = decode_one(c.bytes, type);
    const std::string again = cmd.encode(type);
    if (cmd.fields.flag & flag_response) {
      // Responses: the re-encoded frame decodes to the same command.
      serialize_type type2{};
      const auto back = decode_one(again, type2);
      CHECK(back.fields.code == cmd.fields.code);
      CHECK(back.ext_fields == cmd.ext_fields);
      CHECK(back.body == cmd.body);
      continue;
    }
    if (type == serialize_type::rocketmq) {
      ++binary;
      CHECK(to_hex(again) == to_hex(c.bytes));
      continue;
    }
    ++json;
    auto original = nlohmann::json::parse(header_of(c.bytes));
    original.erase("serializeTypeCurrentRPC");
    const std::string_view text = header_of(again);
    const auto produced = nlohmann::json::parse(text);
    CHECK(produced == original);
    if (produced.contains("extFields")) {
      for (const auto& [k, v] : produced.at("extFields").items()) CHECK(v.is_string());
    }
    // The property separators travel as \u0001 / \u0002, one escape per raw byte.
    std::size_t ones = 0, twos = 0;
    for (const auto& [k, v] : cmd.ext_fields) {
      ones += static_cast<std::size_t>(std::count(v.begin(), v.end(), '\x01'));
      twos += static_cast<std::size_t>(std::count(v.begin(), v.end(), '\x02'));
    }
    CHECK(count_of(text, "\\u0001") == ones);
    CHECK(count_of(text, "\\u0002") == twos);
    CHECK(text.find('\x01') == std::string_view::npos);
    CHECK(text.find('\x02') == std::string_view::npos);
    CHECK(again.substr(8 + text.size()) == cmd.body);
  }
  CHECK(binary >= 4);
  CHECK(json >= 10);
}

// Calls `check` with the view of the capture's single frame.
template <class Check>
void with_view(const captured& c, Check&& check) {
  frame_decoder d;
  int frames = 0;
  REQUIRE(!d.feed(c.bytes, [&](const command_view& v) {
    ++frames;
    check(v);
  }));
  REQUIRE(frames == 1);
}

TEST_CASE("captured bodies in the store format decode whole and re-encode byte for byte") {
  std::size_t checks = 0, pulls = 0;
  for (const auto& c : load_all()) {
    const auto& h = c.ref.at("header");
    const int code = h.at("code").get<int>();
    const bool response = (h.at("flag").get<int>() & flag_response) != 0;
    // CHECK_TRANSACTION_STATE requests and PULL_MESSAGE (11) responses that found messages.
    const bool check_back = code == request_code::check_transaction_state && !response;
    const bool pull = response && code == response_code::success && h.contains("remark") &&
                      h.at("remark") == "FOUND";
    if (!check_back && !pull) continue;
    INFO(c.path.string());
    (check_back ? checks : pulls) += 1;
    with_view(c, [&](const command_view& v) {
      std::string_view in = v.body;
      std::string again;
      std::size_t messages = 0;
      while (!in.empty()) {
        stored_message_view m;
        REQUIRE(!decode_stored_message(in, m));
        ++messages;
        CHECK(m.body_crc == stored_body_crc(m.body));
        encode_stored_message(again, fields_of(m));
        if (check_back) {
          check_transaction_state_request_header header;
          REQUIRE(!header.parse(v));
          CHECK(m.commit_log_offset == header.commit_log_offset);
          CHECK(m.queue_offset == header.tran_state_table_offset);
        }
      }
      CHECK(messages >= 1);
      CHECK(to_hex(again) == to_hex(v.body));
    });
  }
  CHECK(checks >= 2);
  CHECK(pulls >= 2);
}

TEST_CASE("typed headers parse from every captured frame of their code") {
  std::size_t parsed = 0;
  for (const auto& c : load_all()) {
    INFO(c.path.string());
    with_view(c, [&](const command_view& v) {
      if (v.is_response()) return;
      std::error_code ec;
      switch (v.fields.code) {
        case request_code::send_message_v2:
        case request_code::send_batch_message:
        case request_code::send_reply_message_v2: {
          send_message_request_header h;
          ec = h.parse(v);
          break;
        }
        case request_code::end_transaction: {
          end_transaction_request_header h;
          ec = h.parse(v);
          break;
        }
        case request_code::check_transaction_state: {
          check_transaction_state_request_header h;
          ec = h.parse(v);
          break;
        }
        case request_code::push_reply_message_to_client: {
          reply_message_request_header h;
          ec = h.parse(v);
          break;
        }
        case request_code::get_routeinfo_by_topic: {
          get_route_info_request_header h;
          ec = h.parse(v);
          break;
        }
        case request_code::unregister_client: {
          unregister_client_request_header h;
          ec = h.parse(v);
          break;
        }
        default:
          return;
      }
      CHECK(!ec);
      ++parsed;
    });
  }
  CHECK(parsed >= 40);
}

// PROTOCOL.md section 16: SEND_MESSAGE_V2 for TopicTest/TestGroup, body "hello".
std::string worked_example(serialize_type type) {
  send_message_request_header h;
  h.producer_group = "TestGroup";
  h.topic = "TopicTest";
  h.default_topic = "TBW102";
  h.default_topic_queue_nums = 4;
  h.queue_id = 0;
  h.sys_flag = 0;
  h.born_timestamp = 1700000000000;
  h.flag = 0;
  h.properties =
      "TAGS\x01TagA\x02WAIT\x01true\x02UNIQ_KEY\x01"
      "7F00000112340A0B0C0D0000ABCD0000\x02";
  h.reconsume_times = 0;
  h.unit_mode = false;
  h.batch = false;
  h.broker_name = "broker-a";
  command_fields f;
  f.code = 310;
  f.language = language_code::cpp;
  f.version = 401;
  f.opaque = 1;
  f.flag = 0;
  std::string out;
  frame_writer w(out, type, f);
  h.write(w, send_header_names::letters);
  w.finish("hello");
  return out;
}

TEST_CASE("PROTOCOL.md section 16, JSON header, byte for byte") {
  const std::string expected = unhex(
      "00000149000001407b22636f6465223a3331302c226578744669656c6473223a7b2261223a225465737447726f"
      "7570222c2262223a22546f70696354657374222c2263223a22544257313032222c2264223a2234222c2265223a"
      "2230222c2266223a2230222c2267223a2231373030303030303030303030222c2268223a2230222c2269223a22"
      "544147535c7530303031546167415c7530303032574149545c7530303031747275655c7530303032554e49515f"
      "4b45595c753030303137463030303030313132333430413042304330443030303041424344303030305c753030"
      "3032222c226a223a2230222c226b223a2266616c7365222c226d223a2266616c7365222c226e223a2262726f6b"
      "65722d61227d2c22666c6167223a302c226c616e6775616765223a22435050222c226f7061717565223a312c22"
      "76657273696f6e223a3430317d68656c6c6f");
  REQUIRE(expected.size() == 333);
  CHECK(to_hex(worked_example(serialize_type::json)) == to_hex(expected));
}

TEST_CASE("PROTOCOL.md section 16, binary header, byte for byte") {
  const std::string expected = unhex(
      "000000f3010000ea0136010191000000010000000000000000000000d5000161000000095465737447726f7570"
      "00016200000009546f70696354657374000163000000065442573130320001640000000134000165000000013000"
      "016600000001300001670000000d3137303030303030303030303000016800000001300001690000003e544147"
      "5301546167410257414954017472756502554e49515f4b45590137463030303030313132333430413042304330"
      "443030303041424344303030300200016a000000013000016b0000000566616c736500016d0000000566616c73"
      "6500016e0000000862726f6b65722d6168656c6c6f");
  REQUIRE(expected.size() == 247);
  CHECK(to_hex(worked_example(serialize_type::rocketmq)) == to_hex(expected));
}

}  // namespace
}  // namespace rmq::wire
