// Typed headers and code classifiers.
#include "wire/headers.hpp"

#include "rmq/error.hpp"
#include "wire/codes.hpp"
#include "wire/command.hpp"

#include <doctest/doctest.h>

#include <ostream>  // doctest prints std::error_code through it
#include <string>

namespace rmq::wire {
namespace {

constexpr serialize_type both[] = {serialize_type::json, serialize_type::rocketmq};

// Encodes with `write`, decodes, and hands the view to `check`.
template <class Write, class Check>
void round_trip(serialize_type type, std::int32_t code, Write&& write, Check&& check) {
  std::string out;
  command_fields f;
  f.code = code;
  frame_writer w(out, type, f);
  write(w);
  w.finish();
  frame_decoder d;
  int frames = 0;
  REQUIRE(!d.feed(out, [&](const command_view& v) {
    ++frames;
    check(v);
  }));
  CHECK(frames == 1);
}

// A command whose extFields are exactly the given pairs, decoded.
template <class Check>
void with_fields(std::int32_t code, std::initializer_list<std::pair<const char*, const char*>> kv,
                 Check&& check) {
  round_trip(
      serialize_type::json, code,
      [&](frame_writer& w) {
        for (const auto& [k, v] : kv) w.field(k, v);
      },
      check);
}

send_message_request_header sample_send() {
  send_message_request_header h;
  h.producer_group = "TestGroup";
  h.topic = "TopicTest";
  h.default_topic_queue_nums = 8;
  h.queue_id = 3;
  h.sys_flag = 0x301;
  h.born_timestamp = 1700000000123;
  h.flag = -5;
  h.properties = "TAGS\x01TagA\x02";
  h.reconsume_times = 2;
  h.unit_mode = true;
  h.max_reconsume_times = 16;
  h.batch = false;
  h.broker_name = "broker-a";
  return h;
}

bool same(const send_message_request_header& a, const send_message_request_header& b) {
  return a.producer_group == b.producer_group && a.topic == b.topic &&
         a.default_topic == b.default_topic &&
         a.default_topic_queue_nums == b.default_topic_queue_nums && a.queue_id == b.queue_id &&
         a.sys_flag == b.sys_flag && a.born_timestamp == b.born_timestamp && a.flag == b.flag &&
         a.properties == b.properties && a.reconsume_times == b.reconsume_times &&
         a.unit_mode == b.unit_mode && a.max_reconsume_times == b.max_reconsume_times &&
         a.batch == b.batch && a.broker_name == b.broker_name;
}

TEST_CASE("send request header round-trips in v1 and v2, JSON and binary") {
  const auto h = sample_send();
  send_message_request_header minimal;
  minimal.producer_group = "g";
  minimal.topic = "t";
  for (auto type : both) {
    constexpr auto letters = send_header_names::letters;
    constexpr auto long_names = send_header_names::long_names;
    for (auto [code, names] :
         {std::pair{request_code::send_message_v2, letters},
          std::pair{request_code::send_batch_message, letters},
          std::pair{request_code::send_message, long_names}, std::pair{std::int32_t{999}, letters},
          std::pair{std::int32_t{999}, long_names}}) {
      const bool v2 = names == letters;
      for (const auto* sample :
           std::initializer_list<const send_message_request_header*>{&h, &minimal}) {
        INFO("type " << int(type) << " code " << code << " v2 " << v2);
        round_trip(
            type, code, [&](frame_writer& w) { sample->write(w, names); },
            [&](const command_view& v) {
              CHECK(v.field(v2 ? "a" : "producerGroup") == sample->producer_group);
              CHECK(v.field(v2 ? "n" : "bname") == sample->broker_name);
              send_message_request_header back;
              REQUIRE(!back.parse(v));
              CHECK(same(back, *sample));
            });
      }
    }
  }
}

TEST_CASE("send request header v2 writes the letters in order, v1 the long names") {
  const auto h = sample_send();
  round_trip(
      serialize_type::json, request_code::send_message_v2,
      [&](frame_writer& w) { h.write(w, send_header_names::letters); },
      [&](const command_view& v) {
        std::string names;
        for (const auto& f : v.ext_fields) names += f.name;
        CHECK(names == "abcdefghijklmn");
        CHECK(v.field("g") == "1700000000123");
        CHECK(v.field("k") == "true");
        CHECK(v.field("h") == "-5");
      });
  round_trip(
      serialize_type::json, request_code::send_message,
      [&](frame_writer& w) { h.write(w, send_header_names::long_names); },
      [&](const command_view& v) {
        CHECK(v.field("defaultTopicQueueNums") == "8");
        CHECK(v.field("maxReconsumeTimes") == "16");
        CHECK(v.field("bname") == "broker-a");
        CHECK(!v.field("a"));
      });
}

TEST_CASE("send request header: missing or malformed fields are errors, never exceptions") {
  const auto bad = make_error_code(rmq::errc::invalid_response);
  send_message_request_header h;
  with_fields(310,
              {{"a", "g"},
               {"b", "t"},
               {"c", "TBW102"},
               {"d", "4"},
               {"e", "0"},
               {"f", "0"},
               {"g", "1"}},  // h missing
              [&](const command_view& v) { CHECK(h.parse(v) == bad); });
  for (const char* number : {"", "x", "1x", "99999999999", " 1", "1.0", "--1", "+"}) {
    INFO(number);
    with_fields(310,
                {{"a", "g"},
                 {"b", "t"},
                 {"c", "TBW102"},
                 {"d", "4"},
                 {"e", number},
                 {"f", "0"},
                 {"g", "1"},
                 {"h", "0"}},
                [&](const command_view& v) { CHECK(h.parse(v) == bad); });
  }
  // Java-style integers: a leading '+' is fine; optional numbers are checked too.
  with_fields(310,
              {{"a", "g"},
               {"b", "t"},
               {"c", "TBW102"},
               {"d", "+4"},
               {"e", "-1"},
               {"f", "0"},
               {"g", "9223372036854775807"},
               {"h", "0"},
               {"k", "TRUE"},
               {"m", "yes"}},
              [&](const command_view& v) {
                REQUIRE(!h.parse(v));
                CHECK(h.default_topic_queue_nums == 4);
                CHECK(h.queue_id == -1);
                CHECK(h.born_timestamp == INT64_MAX);
                CHECK(h.unit_mode == true);
                CHECK(h.batch == false);
              });
  with_fields(310,
              {{"a", "g"},
               {"b", "t"},
               {"c", "TBW102"},
               {"d", "4"},
               {"e", "0"},
               {"f", "0"},
               {"g", "1"},
               {"h", "0"},
               {"j", "zero"}},
              [&](const command_view& v) { CHECK(h.parse(v) == bad); });
}

TEST_CASE("send request header: repeated keys take the last value, foreign keys are ignored") {
  send_message_request_header h;
  // v2 code: long names and keys beyond 'n' are not fields of this form.
  with_fields(310,
              {{"a", "first"},
               {"b", "t"},
               {"c", "TBW102"},
               {"d", "4"},
               {"e", "1"},
               {"f", "0"},
               {"g", "1"},
               {"h", "0"},
               {"producerGroup", "long"},
               {"o", "7"},
               {"ab", "x"},
               {"e", "2"},
               {"a", "last"}},
              [&](const command_view& v) {
                REQUIRE(!h.parse(v));
                CHECK(h.producer_group == "last");
                CHECK(h.queue_id == 2);
              });
  // v1 code: letters are ignored, so a header of letters only misses its required fields.
  with_fields(10,
              {{"a", "g"},
               {"b", "t"},
               {"c", "TBW102"},
               {"d", "4"},
               {"e", "0"},
               {"f", "0"},
               {"g", "1"},
               {"h", "0"}},
              [&](const command_view& v) {
                CHECK(h.parse(v) == make_error_code(rmq::errc::invalid_response));
              });
  with_fields(10,
              {{"producerGroup", "g"},
               {"topic", "t"},
               {"defaultTopic", "TBW102"},
               {"defaultTopicQueueNums", "4"},
               {"queueId", "5"},
               {"sysFlag", "0"},
               {"bornTimestamp", "1"},
               {"flag", "0"},
               {"bname", "broker-a"},
               {"queueId", "6"}},
              [&](const command_view& v) {
                REQUIRE(!h.parse(v));
                CHECK(h.queue_id == 6);
                CHECK(h.broker_name == "broker-a");
              });
}

TEST_CASE("send response header") {
  send_message_response_header h;
  h.msg_id = "7F00000100002A9F0000000029AD4B05";
  h.queue_id = 2;
  h.queue_offset = 586730;
  h.transaction_id = "C0000202413C5FFD2B277D383E300000";
  h.msg_region = "DefaultRegion";
  h.trace_on = false;
  h.recall_handle = "handle";
  for (auto type : both) {
    round_trip(
        type, response_code::success, [&](frame_writer& w) { h.write(w); },
        [&](const command_view& v) {
          send_message_response_header back;
          REQUIRE(!back.parse(v));
          CHECK(back.msg_id == h.msg_id);
          CHECK(back.queue_id == 2);
          CHECK(back.queue_offset == 586730);
          CHECK(back.transaction_id == h.transaction_id);
          CHECK(!back.batch_uniq_id);
          CHECK(back.msg_region == h.msg_region);
          CHECK(back.trace_on == false);
          CHECK(back.recall_handle == h.recall_handle);
        });
  }
  send_message_response_header r;
  with_fields(0, {{"msgId", "x"}, {"queueId", "1"}},
              [&](const command_view& v) { CHECK(r.parse(v) == rmq::errc::invalid_response); });
  with_fields(0, {{"msgId", "x"}, {"queueId", "1"}, {"queueOffset", "1e3"}},
              [&](const command_view& v) { CHECK(r.parse(v) == rmq::errc::invalid_response); });
  with_fields(0, {{"msgId", "x"}, {"queueId", "1"}, {"queueOffset", "7"}, {"TRACE_ON", "TRUE"}},
              [&](const command_view& v) {
                REQUIRE(!r.parse(v));
                CHECK(r.trace_on == true);
                CHECK(!r.msg_region);
              });
}

TEST_CASE("route, end-transaction, unregister and check-transaction headers") {
  for (auto type : both) {
    get_route_info_request_header route;
    route.topic = "TopicTest";
    route.accept_standard_json_only = true;
    round_trip(
        type, request_code::get_routeinfo_by_topic, [&](frame_writer& w) { route.write(w); },
        [&](const command_view& v) {
          get_route_info_request_header back;
          REQUIRE(!back.parse(v));
          CHECK(back.topic == "TopicTest");
          CHECK(back.accept_standard_json_only == true);
        });

    end_transaction_request_header end;
    end.producer_group = "pg";
    end.tran_state_table_offset = 42;
    end.commit_log_offset = 1234567890123;
    end.commit_or_rollback = 8;
    end.from_transaction_check = true;
    end.msg_id = "UNIQ";
    end.transaction_id = "TX";
    end.broker_name = "broker-a";
    round_trip(
        type, request_code::end_transaction, [&](frame_writer& w) { end.write(w); },
        [&](const command_view& v) {
          end_transaction_request_header back;
          REQUIRE(!back.parse(v));
          CHECK(back.producer_group == "pg");
          CHECK(back.tran_state_table_offset == 42);
          CHECK(back.commit_log_offset == 1234567890123);
          CHECK(back.commit_or_rollback == 8);
          CHECK(back.from_transaction_check);
          CHECK(back.msg_id == "UNIQ");
          CHECK(back.transaction_id == "TX");
          CHECK(!back.topic);
          CHECK(back.broker_name == "broker-a");
        });

    unregister_client_request_header un;
    un.client_id = "127.0.0.1@1#2";
    un.producer_group = "pg";
    round_trip(
        type, request_code::unregister_client, [&](frame_writer& w) { un.write(w); },
        [&](const command_view& v) {
          unregister_client_request_header back;
          REQUIRE(!back.parse(v));
          CHECK(back.client_id == un.client_id);
          CHECK(back.producer_group == "pg");
          CHECK(!back.consumer_group);
        });

    check_transaction_state_request_header check;
    check.tran_state_table_offset = 7;
    check.commit_log_offset = 8;
    check.msg_id = "m";
    check.offset_msg_id = "o";
    round_trip(
        type, request_code::check_transaction_state, [&](frame_writer& w) { check.write(w); },
        [&](const command_view& v) {
          check_transaction_state_request_header back;
          REQUIRE(!back.parse(v));
          CHECK(back.tran_state_table_offset == 7);
          CHECK(back.commit_log_offset == 8);
          CHECK(back.msg_id == "m");
          CHECK(!back.transaction_id);
          CHECK(back.offset_msg_id == "o");
        });
  }
  get_route_info_request_header route;
  end_transaction_request_header end;
  unregister_client_request_header un;
  check_transaction_state_request_header check;
  with_fields(105, {}, [&](const command_view& v) {
    CHECK(route.parse(v) == rmq::errc::invalid_response);
    CHECK(end.parse(v) == rmq::errc::invalid_response);
    CHECK(un.parse(v) == rmq::errc::invalid_response);
    CHECK(check.parse(v) == rmq::errc::invalid_response);
  });
  with_fields(39, {{"tranStateTableOffset", "1"}, {"commitLogOffset", "x"}},
              [&](const command_view& v) { CHECK(check.parse(v) == rmq::errc::invalid_response); });
}

TEST_CASE("response code classifiers") {
  for (std::int32_t code = -1100; code < 2000; ++code) {
    INFO(code);
    CHECK(is_stored_status(code) == (code == 10 || code == 11 || code == 12));
    const bool v4 =
        code == 17 || code == 14 || code == 1 || code == 16 || code == 204 || code == 205;
    CHECK(is_retriable_response_code_v4_9(code) == v4);
    CHECK(is_retriable_response_code_v5(code) == (v4 || code == 2 || code == 1500));
  }
}

TEST_CASE("parse_decimal and parse_java_bool") {
  std::int32_t i = 0;
  std::int64_t l = 0;
  CHECK(parse_decimal("2147483647", i));
  CHECK(i == 2147483647);
  CHECK(!parse_decimal("2147483648", i));
  CHECK(parse_decimal("-2147483648", i));
  CHECK(parse_decimal("-9223372036854775808", l));
  CHECK(l == INT64_MIN);
  CHECK(!parse_decimal("+-1", l));
  CHECK(!parse_decimal("", l));
  CHECK(parse_java_bool("True"));
  CHECK(!parse_java_bool("1"));
  CHECK(!parse_java_bool("truE "));
}

}  // namespace
}  // namespace rmq::wire
