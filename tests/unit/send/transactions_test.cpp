// What a transactional producer writes, byte for byte against real Java clients' frames
// (tests/conformance/frames/transaction, fuzz/captures/transaction): the END_TRANSACTION of a half
// message from its send response, and the answer to a broker's check-back from the check request.
#include "send/transactions.hpp"

#include "unit/wire/captured_frames.hpp"
#include "wire/command.hpp"
#include "wire/headers.hpp"
#include "wire/properties.hpp"
#include "wire/sys_flag.hpp"

#include <doctest/doctest.h>

#include <ostream>  // doctest prints std::error_code through it
#include <string>

namespace rmq::send {
namespace {

/// One captured frame, decoded (its bytes and the decoder's strings stay alive with it):
/// responses from tests/conformance/frames, requests from fuzz/captures.
struct captured {
  explicit captured(const std::string& name)
      : bytes(name.ends_with("_response") ? test::read_frame_hex(name)
                                          : test::read_capture_hex(name)) {
    bool got = false;
    const std::error_code ec = decoder.feed(bytes, [&](const wire::command_view& v) {
      view = v;
      got = true;
    });
    REQUIRE_FALSE(ec);
    REQUIRE(got);
  }
  captured(const captured&) = delete;
  captured& operator=(const captured&) = delete;
  std::string bytes;
  wire::frame_decoder decoder{wire::default_max_frame};
  wire::command_view view;
};

/// Our encoding of `request` with the captured frame's version and opaque.
std::string as_we_write(const end_transaction_request& request, const captured& java) {
  std::string out;
  write_end_transaction(out, java.view.fields.opaque, request,
                        {"tx_producer_group", java.view.fields.version});
  return out;
}

/// The captured frame as we write it (language CPP; no serializeTypeCurrentRPC).
std::string ours(const captured& java) {
  return test::as_we_write_it(java.bytes, "CPP");
}

/// The half message's result as the pipeline builds it from the captured send and response.
send_result half_result(const captured& request, const captured& response) {
  wire::send_message_request_header sent;
  REQUIRE_FALSE(sent.parse(request.view));
  wire::send_message_response_header answer;
  REQUIRE_FALSE(answer.parse(response.view));
  send_result result;
  result.status = send_status::send_ok;
  result.msg_id = *wire::find_property(*sent.properties, "UNIQ_KEY");
  result.offset_msg_id = answer.msg_id;
  result.queue = {std::string(sent.topic), std::string(*sent.broker_name), answer.queue_id};
  result.queue_offset = answer.queue_offset;
  if (answer.transaction_id) result.transaction_id = *answer.transaction_id;
  return result;
}

}  // namespace

TEST_CASE("END_TRANSACTION of a half message is the Java client's, for both server versions") {
  struct form {
    const char* version;
    const char* outcome;
    transaction_state state;
  };
  for (const form f : {form{"v4", "commit", transaction_state::commit},
                       form{"v4", "rollback", transaction_state::rollback},
                       form{"v4", "unknown", transaction_state::unknown},
                       form{"v5", "commit", transaction_state::commit},
                       form{"v5", "rollback", transaction_state::rollback},
                       form{"v5", "unknown", transaction_state::unknown}}) {
    CAPTURE(f.version);
    CAPTURE(f.outcome);
    const std::string dir = std::string("transaction/") + f.version + "/";
    const captured request(dir + "half_message_" + f.outcome + "_request");
    const captured response(dir + "half_message_" + f.outcome + "_response");
    const captured java(dir + "end_transaction_" + f.outcome + "_request");
    const auto end = end_request_for(half_result(request, response), f.state, "127.0.0.1:10911");
    REQUIRE(end.has_value());
    CHECK(as_we_write(*end, java) == ours(java));
  }
}

TEST_CASE("the half message's request carries sysFlag 4, TRAN_MSG and PGROUP") {
  for (const char* version : {"v4", "v5"}) {
    const captured request(std::string("transaction/") + version + "/half_message_commit_request");
    wire::send_message_request_header sent;
    REQUIRE_FALSE(sent.parse(request.view));
    CHECK(sent.sys_flag == wire::sys_flag::transaction_prepared);
    CHECK(wire::find_property(*sent.properties, "TRAN_MSG") == "true");
    CHECK(wire::find_property(*sent.properties, "PGROUP") == "tx_producer_group");
  }
}

TEST_CASE("a check-back decodes, and its answer is the Java client's, for both server versions") {
  for (const char* version : {"v4", "v5"}) {
    CAPTURE(version);
    const std::string dir = std::string("transaction/") + version + "/";
    const captured check(dir + "check_transaction_state_request");
    transaction_check asked;
    end_transaction_request answer;
    REQUIRE(decode_check(check.view, "127.0.0.1:10911", asked, answer));
    CHECK(asked.topic == (std::string(version) == "v4" ? "TxTopic4" : "TxTopic5"));
    CHECK(asked.msg_id == answer.msg_id);
    CHECK(asked.transaction_id == asked.msg_id);
    CHECK(asked.check_times == 1);
    CHECK(asked.broker_address == "127.0.0.1:10911");
    CHECK_FALSE(asked.body.empty());
    CHECK_FALSE(asked.offset_msg_id.empty());
    for (const auto& [name, value] : asked.properties) {
      CAPTURE(name);
      CHECK(name != "TRAN_MSG");  // system properties are not the user's
      CHECK(name != "REAL_TOPIC");
    }
    answer.state = transaction_state::commit;
    const captured java(dir + "end_transaction_from_check_request");
    CHECK(as_we_write(answer, java) == ours(java));
  }
}

TEST_CASE("a check-back whose header or body does not decode is refused") {
  const captured check("transaction/v5/check_transaction_state_request");
  transaction_check asked;
  end_transaction_request answer;
  wire::command_view cut = check.view;
  for (std::size_t size = 0; size < check.view.body.size(); size += 7) {
    cut.body = check.view.body.substr(0, size);
    CHECK_FALSE(decode_check(cut, "127.0.0.1:10911", asked, answer));
  }
}

TEST_CASE("the commit-log offset is the last 16 hex digits of an offsetMsgId") {
  CHECK(commit_log_offset_of("7F00000100002A9F00000000000000CA") == 202);
  CHECK(commit_log_offset_of("7F00000100002A9F000000000000066E") == 1646);
  CHECK_FALSE(commit_log_offset_of("").has_value());
  CHECK_FALSE(commit_log_offset_of("7F00000100002A9F00000000000000C").has_value());
  CHECK_FALSE(commit_log_offset_of("7F00000100002A9F00000000000000CG").has_value());
  CHECK(commit_or_rollback(transaction_state::commit) == 8);
  CHECK(commit_or_rollback(transaction_state::rollback) == 12);
  CHECK(commit_or_rollback(transaction_state::unknown) == 0);
  CHECK(to_string(transaction_state::unknown) == "UNKNOW");
}

}  // namespace rmq::send
