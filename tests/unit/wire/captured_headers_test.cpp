// The typed headers of transactions and request-reply against the frames captured from the
// Java 4.9.8 and 5.3.3 clients and brokers: each parses what the Java side sent, and writing the
// parsed fields gives the captured frame byte for byte (with our language name, and without the
// "serializeTypeCurrentRPC" key that Java adds and every decoder ignores).
#include "captured_frames.hpp"
#include "frame_rewrite.hpp"
#include "rmq/error.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"
#include "wire/headers.hpp"
#include "wire/properties.hpp"
#include "wire/sys_flag.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <ostream>  // doctest prints std::error_code through it
#include <string>
#include <utility>
#include <vector>

namespace rmq::wire {
namespace {

using namespace std::string_literals;
using rmq::test::capture_path;
using rmq::test::frame_path;
using rmq::test::read_capture_hex;
using rmq::test::read_frame_hex;
using rmq::test::read_text_file;
using rmq::test::with_view;
using rmq::test::write_like;

constexpr const char* versions[] = {"v4", "v5"};

nlohmann::json header_json(const std::string& json_path) {
  return nlohmann::json::parse(read_text_file(json_path)).at("header");
}
std::string ext(const nlohmann::json& header, const char* name) {
  return header.at("extFields").at(name).get<std::string>();
}
bool has(const nlohmann::json& header, const char* name) {
  return header.at("extFields").contains(name);
}

// The captured frame `bytes`, parsed into Header and written again, is the same frame.
template <class Header, class Write, class Check>
void check_captured(const std::string& bytes, Write&& write, Check&& check) {
  with_view(bytes, [&](const command_view& v) {
    Header h;
    REQUIRE(!h.parse(v));
    check(h, v);
    const std::string again = write_like(
        v, [&](frame_writer& w) { write(h, w); }, v.body);
    CHECK(again == rmq::test::as_we_write_it(bytes, "CPP"));
  });
}

const auto plain_write = [](const auto& h, frame_writer& w) { h.write(w); };

std::int64_t to_long(const std::string& text) {
  return std::stoll(text);
}

// The commit-log offset inside an offsetMsgId: its last 16 hex digits.
std::int64_t commit_log_offset_of(const std::string& offset_msg_id) {
  return static_cast<std::int64_t>(
      std::stoull(offset_msg_id.substr(offset_msg_id.size() - 16), nullptr, 16));
}

TEST_CASE("END_TRANSACTION: the captured requests parse and are written byte for byte") {
  for (const char* version : versions) {
    const std::string dir = "transaction/"s + version + "/";
    const bool v5 = std::string_view(version) == "v5";
    for (const auto& [outcome, commit_or_rollback] :
         {std::pair{"commit", 8}, std::pair{"rollback", 12}, std::pair{"unknown", 0},
          std::pair{"from_check", 8}}) {
      const std::string name = dir + "end_transaction_" + outcome + "_request";
      CAPTURE(name);
      const auto json = header_json(capture_path(name + ".json"));
      const bool from_check = std::string_view(outcome) == "from_check";
      check_captured<end_transaction_request_header>(
          read_capture_hex(name), plain_write,
          [&](const end_transaction_request_header& h, const command_view& v) {
            CHECK(v.fields.code == request_code::end_transaction);
            CHECK(v.is_oneway());
            CHECK(v.body.empty());
            CHECK(h.producer_group == "tx_producer_group");
            CHECK(h.commit_or_rollback == commit_or_rollback);
            CHECK(h.from_transaction_check == from_check);
            CHECK(h.commit_log_offset == to_long(ext(json, "commitLogOffset")));
            CHECK(h.tran_state_table_offset == to_long(ext(json, "tranStateTableOffset")));
            CHECK(h.msg_id == ext(json, "msgId"));
            CHECK(h.transaction_id.has_value() == has(json, "transactionId"));
            CHECK(h.topic.has_value() == v5);
            CHECK(h.broker_name.has_value() == has(json, "bname"));
            if (h.broker_name) CHECK(*h.broker_name == (v5 ? "broker-5a" : "broker-a"));
            if (from_check) {
              // Copied from the check-back, which carries them all.
              const auto check =
                  header_json(capture_path(dir + "check_transaction_state_request.json"));
              CHECK(h.commit_log_offset == to_long(ext(check, "commitLogOffset")));
              CHECK(h.tran_state_table_offset == to_long(ext(check, "tranStateTableOffset")));
              CHECK(h.msg_id == ext(check, "msgId"));
              CHECK(h.transaction_id == ext(check, "transactionId"));
              if (v5) CHECK(h.topic == ext(check, "topic"));
              return;
            }
            // From the half message's send and its response: commitLogOffset is inside the
            // offsetMsgId, tranStateTableOffset is the queueOffset, msgId the UNIQ_KEY.
            const std::string half = dir + "half_message_" + outcome;
            const auto sent = header_json(frame_path(half + "_response.json"));
            const auto send = header_json(capture_path(half + "_request.json"));
            CHECK(h.commit_log_offset == commit_log_offset_of(ext(sent, "msgId")));
            CHECK(h.tran_state_table_offset == to_long(ext(sent, "queueOffset")));
            CHECK(h.msg_id == find_property(ext(send, "i"), "UNIQ_KEY").value_or(""));
            if (v5) {
              CHECK(h.transaction_id == ext(sent, "transactionId"));
              CHECK(h.topic == ext(send, "b"));
            } else {
              CHECK(!h.transaction_id);  // the 4.9.8 send response has none
            }
          });
    }
  }
}

TEST_CASE("CHECK_TRANSACTION_STATE: the captured check-backs parse and are written byte for byte") {
  for (const char* version : versions) {
    const std::string name = "transaction/"s + version + "/check_transaction_state_request";
    CAPTURE(name);
    const bool v5 = std::string_view(version) == "v5";
    const auto json = header_json(capture_path(name + ".json"));
    check_captured<check_transaction_state_request_header>(
        read_capture_hex(name), plain_write,
        [&](const check_transaction_state_request_header& h, const command_view& v) {
          CHECK(v.fields.code == request_code::check_transaction_state);
          CHECK(v.is_oneway());
          CHECK(!v.body.empty());  // the stored message (stored_message_test.cpp)
          CHECK(h.commit_log_offset == to_long(ext(json, "commitLogOffset")));
          CHECK(h.tran_state_table_offset == to_long(ext(json, "tranStateTableOffset")));
          CHECK(h.msg_id == ext(json, "msgId"));
          CHECK(h.transaction_id == ext(json, "transactionId"));
          CHECK(h.offset_msg_id == ext(json, "offsetMsgId"));
          CHECK(commit_log_offset_of(std::string(*h.offset_msg_id)) == h.commit_log_offset);
          if (v5) {
            CHECK(h.topic == "RMQ_SYS_TRANS_HALF_TOPIC");
            CHECK(h.broker_name == "broker-5a");
          } else {
            CHECK(!h.topic);
            CHECK(!h.broker_name);
          }
        });
  }
}

TEST_CASE("PUSH_REPLY_MESSAGE_TO_CLIENT: the captured pushes parse and are written byte for byte") {
  for (const char* version : versions) {
    const std::string dir = "request_reply/"s + version + "/";
    const bool v5 = std::string_view(version) == "v5";
    const auto reply_send = header_json(capture_path(dir + "reply_send_request.json"));
    check_captured<reply_message_request_header>(
        read_capture_hex(dir + "push_reply_message_to_client_request"), plain_write,
        [&](const reply_message_request_header& h, const command_view& v) {
          CHECK(v.fields.code == request_code::push_reply_message_to_client);
          CHECK(v.fields.flag == 0);  // two-way: the client answers
          // The reply as the responder sent it (SEND_REPLY_MESSAGE_V2, letters a..n).
          CHECK(v.body == rmq::test::capture_body(dir + "reply_send_request"));
          CHECK(h.producer_group == ext(reply_send, "a"));
          CHECK(h.topic == ext(reply_send, "b"));
          CHECK(h.topic == (v5 ? "DefaultCluster5_REPLY_TOPIC" : "DefaultCluster_REPLY_TOPIC"));
          CHECK(h.default_topic == ext(reply_send, "c"));
          CHECK(std::to_string(h.default_topic_queue_nums) == ext(reply_send, "d"));
          CHECK(std::to_string(h.queue_id) == ext(reply_send, "e"));
          CHECK(std::to_string(h.sys_flag) == ext(reply_send, "f"));
          CHECK(std::to_string(h.born_timestamp) == ext(reply_send, "g"));
          CHECK(std::to_string(h.flag) == ext(reply_send, "h"));
          CHECK(h.reconsume_times == 0);
          CHECK(!h.unit_mode);
          CHECK(h.born_host.starts_with("127.0.0.1:"));
          CHECK(h.store_host == (v5 ? "127.0.0.1:10931" : "127.0.0.1:10911"));
          CHECK(h.store_timestamp >= h.born_timestamp);
          // The reply's properties, plus the broker's PUSH_REPLY_TIME (and 5.x MSG_REGION,
          // TRACE_ON).
          REQUIRE(h.properties);
          const std::string sent_properties = ext(reply_send, "i");
          std::vector<property_ref> sent;
          decode_properties(sent_properties, sent);
          for (const auto& p : sent) {
            CAPTURE(p.name);
            CHECK(find_property(*h.properties, p.name) == p.value);
          }
          CHECK(find_property(*h.properties, "MSG_TYPE") == "reply");
          CHECK(find_property(*h.properties, "PUSH_REPLY_TIME").has_value());
        });

    // The requester's answer: SUCCESS, same opaque, no fields.
    const auto push = header_json(capture_path(dir + "push_reply_message_to_client_request.json"));
    with_view(read_frame_hex(dir + "push_reply_message_to_client_response"),
              [&](const command_view& v) {
                CHECK(v.fields.code == response_code::success);
                CHECK(v.is_response());
                CHECK(v.fields.opaque == push.at("opaque").get<int>());
                CHECK(v.ext_fields.empty());
              });
  }
}

TEST_CASE("PUSH_REPLY_MESSAGE_TO_CLIENT: required fields as in Java, optional ones may be absent") {
  const std::vector<std::pair<const char*, const char*>> all = {
      {"queueId", "0"},
      {"flag", "0"},
      {"sysFlag", "0"},
      {"reconsumeTimes", "0"},
      {"storeTimestamp", "2"},
      {"unitMode", "false"},
      {"defaultTopic", "TBW102"},
      {"bornHost", "127.0.0.1:1"},
      {"defaultTopicQueueNums", "4"},
      {"producerGroup", "g"},
      {"topic", "C_REPLY_TOPIC"},
      {"bornTimestamp", "1"},
      {"storeHost", "127.0.0.1:2"},
      {"properties", "MSG_TYPE\x01reply\x02"}};
  const auto with = [](const std::vector<std::pair<const char*, const char*>>& fields,
                       const std::function<void(const command_view&)>& check) {
    command_fields f;
    f.code = request_code::push_reply_message_to_client;
    std::string out;
    frame_writer w(out, serialize_type::json, f);
    for (const auto& [k, v] : fields) w.field(k, v);
    w.finish();
    with_view(out, check);
  };
  const auto optional = [](std::string_view name) {
    return name == "properties" || name == "reconsumeTimes" || name == "unitMode";
  };
  for (std::size_t drop = 0; drop < all.size(); ++drop) {
    auto fields = all;
    fields.erase(fields.begin() + static_cast<std::ptrdiff_t>(drop));
    CAPTURE(all[drop].first);
    with(fields, [&](const command_view& v) {
      reply_message_request_header h;
      const auto ec = h.parse(v);
      if (optional(all[drop].first)) {
        CHECK(!ec);
      } else {
        CHECK(ec == rmq::errc::invalid_response);
      }
    });
  }
  for (const char* number : {"queueId", "storeTimestamp", "reconsumeTimes", "bornTimestamp"}) {
    auto fields = all;
    for (auto& [k, v] : fields) {
      if (std::string_view(k) == number) v = "12x";
    }
    CAPTURE(number);
    with(fields, [&](const command_view& v) {
      reply_message_request_header h;
      CHECK(h.parse(v) == rmq::errc::invalid_response);
    });
  }
  // Binary headers too, and an unset optional is not written.
  reply_message_request_header h;
  h.producer_group = "g";
  h.topic = "t";
  h.default_topic = "TBW102";
  h.default_topic_queue_nums = 4;
  h.queue_id = -1;
  h.sys_flag = sys_flag::compressed;
  h.born_timestamp = INT64_MAX;
  h.flag = INT32_MIN;
  h.unit_mode = true;
  h.born_host = "[::1]:5";
  h.store_host = "10.0.0.1:10911";
  h.store_timestamp = 3;
  for (const auto type : {serialize_type::json, serialize_type::rocketmq}) {
    command_fields f;
    f.code = request_code::push_reply_message_to_client;
    std::string out;
    frame_writer w(out, type, f);
    h.write(w);
    w.finish("body");
    with_view(out, [&](const command_view& v) {
      CHECK(v.ext_fields.size() == 12);
      reply_message_request_header back;
      REQUIRE(!back.parse(v));
      CHECK(back.producer_group == "g");
      CHECK(back.queue_id == -1);
      CHECK(back.born_timestamp == INT64_MAX);
      CHECK(back.flag == INT32_MIN);
      CHECK(back.unit_mode);
      CHECK(back.born_host == "[::1]:5");
      CHECK(back.store_timestamp == 3);
      CHECK(!back.properties);
      CHECK(!back.reconsume_times);
    });
  }
}

TEST_CASE(
    "SEND_REPLY_MESSAGE_V2 and the sends of transactions and request-reply: the a..n header") {
  for (const char* version : versions) {
    const bool v5 = std::string_view(version) == "v5";
    std::vector<std::string> names = {"request_reply/"s + version + "/reply_send_request",
                                      "request_reply/"s + version + "/request_send_request"};
    if (v5) names.push_back("request_reply/v5/reply_send_requester_gone_request");
    for (const char* outcome : {"commit", "rollback", "unknown"})
      names.push_back("transaction/"s + version + "/half_message_" + outcome + "_request");
    for (const auto& name : names) {
      CAPTURE(name);
      const auto json = header_json(capture_path(name + ".json"));
      const bool reply = name.find("reply_send") != std::string::npos;
      const bool half = name.find("half_message") != std::string::npos;
      check_captured<send_message_request_header>(
          read_capture_hex(name),
          [](const send_message_request_header& h, frame_writer& w) {
            h.write(w, send_header_names::letters);
          },
          [&](const send_message_request_header& h, const command_view& v) {
            CHECK(v.fields.code ==
                  (reply ? request_code::send_reply_message_v2 : request_code::send_message_v2));
            CHECK(h.producer_group == ext(json, "a"));
            CHECK(h.topic == ext(json, "b"));
            CHECK(h.default_topic == "TBW102");
            CHECK(h.default_topic_queue_nums == 4);
            CHECK(std::to_string(h.queue_id) == ext(json, "e"));
            CHECK(std::to_string(h.born_timestamp) == ext(json, "g"));
            CHECK(h.properties == ext(json, "i"));
            CHECK(h.reconsume_times == 0);
            CHECK(h.unit_mode == false);
            CHECK(h.batch == false);
            CHECK(h.broker_name == (v5 ? "broker-5a" : "broker-a"));
            REQUIRE(h.properties);
            const auto& props = *h.properties;
            if (reply) {
              CHECK(h.topic.ends_with("_REPLY_TOPIC"));
              CHECK(find_property(props, "MSG_TYPE") == "reply");
              CHECK(find_property(props, "CORRELATION_ID").has_value());
              CHECK(find_property(props, "REPLY_TO_CLIENT").has_value());
              CHECK(!find_property(props, "WAIT"));
            } else if (half) {
              CHECK(h.sys_flag == sys_flag::transaction_prepared);
              CHECK(find_property(props, "TRAN_MSG") == "true");
              CHECK(find_property(props, "PGROUP") == h.producer_group);
            } else {
              CHECK(h.sys_flag == 0);
              CHECK(find_property(props, "TTL") == "10000");
              CHECK(!find_property(props, "MSG_TYPE"));
            }
          });
    }
  }
}

}  // namespace
}  // namespace rmq::wire
