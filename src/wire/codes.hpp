// Request and response codes of the remoting protocol used by a producer (RequestCode.java,
// ResponseCode.java, RemotingSysResponseCode.java).
#pragma once

#include <cstdint>
#include <string_view>

namespace rmq::wire {

namespace request_code {
inline constexpr std::int32_t send_message = 10;  ///< v1 header (long names)
inline constexpr std::int32_t query_message = 12;
inline constexpr std::int32_t update_and_create_topic = 17;
inline constexpr std::int32_t search_offset_by_timestamp = 29;
inline constexpr std::int32_t get_max_offset = 30;
inline constexpr std::int32_t get_min_offset = 31;
inline constexpr std::int32_t get_earliest_msg_storetime = 32;
inline constexpr std::int32_t view_message_by_id = 33;
inline constexpr std::int32_t heart_beat = 34;
inline constexpr std::int32_t unregister_client = 35;
inline constexpr std::int32_t end_transaction = 37;
inline constexpr std::int32_t check_transaction_state = 39;
inline constexpr std::int32_t get_routeinfo_by_topic = 105;
inline constexpr std::int32_t send_message_v2 = 310;  ///< v2 header (single letters)
inline constexpr std::int32_t send_batch_message = 320;
inline constexpr std::int32_t send_reply_message = 324;
inline constexpr std::int32_t send_reply_message_v2 = 325;
inline constexpr std::int32_t push_reply_message_to_client = 326;
inline constexpr std::int32_t recall_message = 370;  ///< 5.x
}  // namespace request_code

namespace response_code {
inline constexpr std::int32_t success = 0;
inline constexpr std::int32_t system_error = 1;
inline constexpr std::int32_t system_busy = 2;
inline constexpr std::int32_t request_code_not_supported = 3;
inline constexpr std::int32_t transaction_failed = 4;
inline constexpr std::int32_t flush_disk_timeout = 10;
inline constexpr std::int32_t slave_not_available = 11;
inline constexpr std::int32_t flush_slave_timeout = 12;
inline constexpr std::int32_t message_illegal = 13;
inline constexpr std::int32_t service_not_available = 14;
inline constexpr std::int32_t version_not_supported = 15;
inline constexpr std::int32_t no_permission = 16;
inline constexpr std::int32_t topic_not_exist = 17;
inline constexpr std::int32_t topic_exist_already = 18;
inline constexpr std::int32_t invalid_parameter = 29;
inline constexpr std::int32_t transaction_should_commit = 200;
inline constexpr std::int32_t transaction_should_rollback = 201;
inline constexpr std::int32_t transaction_state_unknow = 202;
inline constexpr std::int32_t transaction_state_group_wrong = 203;
inline constexpr std::int32_t no_buyer_id = 204;
inline constexpr std::int32_t not_in_current_unit = 205;
inline constexpr std::int32_t flow_control = 215;
inline constexpr std::int32_t not_leader_for_queue = 501;
inline constexpr std::int32_t illegal_operation = 604;
inline constexpr std::int32_t go_away = 1500;  ///< 5.x: server shutting down, resend elsewhere
// Client-local pseudo codes (never on the wire).
inline constexpr std::int32_t rpc_unknown = -1000;
inline constexpr std::int32_t rpc_addr_is_null = -1002;
inline constexpr std::int32_t rpc_send_to_channel_failed = -1004;
inline constexpr std::int32_t rpc_time_out = -1006;
}  // namespace response_code

/// Send responses whose message IS stored although the code is not SUCCESS
/// (FLUSH_DISK_TIMEOUT, SLAVE_NOT_AVAILABLE, FLUSH_SLAVE_TIMEOUT).
[[nodiscard]] constexpr bool is_stored_status(std::int32_t code) noexcept {
  return code == response_code::flush_disk_timeout || code == response_code::slave_not_available ||
         code == response_code::flush_slave_timeout;
}

/// Codes the 5.x Java sync producer retries on (DefaultMQProducer retryResponseCodes).
[[nodiscard]] constexpr bool is_retriable_response_code_v5(std::int32_t code) noexcept {
  switch (code) {
    case response_code::topic_not_exist:
    case response_code::service_not_available:
    case response_code::system_error:
    case response_code::system_busy:
    case response_code::no_permission:
    case response_code::no_buyer_id:
    case response_code::not_in_current_unit:
    case response_code::go_away:
      return true;
    default:
      return false;
  }
}

/// Codes the 4.9.x Java sync producer retries on: the 5.x set without SYSTEM_BUSY and GO_AWAY.
[[nodiscard]] constexpr bool is_retriable_response_code_v4_9(std::int32_t code) noexcept {
  return code != response_code::system_busy && code != response_code::go_away &&
         is_retriable_response_code_v5(code);
}

/// True when a response refuses the request's credentials or their permissions (ACL), which
/// no retry can change. Both server forms: 4.9 (and 5.x up to 5.3.2, ACL 1.0) answer
/// SYSTEM_ERROR with an AclException's text ("...AclException: Check signature failed for
/// accessKey=..."); 5.3 with ACL 2.0 answers NO_PERMISSION with the authentication or
/// authorization failure's message ("check signature failed.", "User:ak is not found.",
/// "User:ak has no permission to access Topic:t from ip, ..."). NO_PERMISSION for a broker or
/// topic that is not writable ("...sending message is forbidden") is not a denial.
[[nodiscard]] bool is_access_denial(std::int32_t code, std::string_view remark) noexcept;

}  // namespace rmq::wire
