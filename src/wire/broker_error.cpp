// The error category of a broker's response codes. It lives with the codes it names, not in
// common/, so that the layers below the wire layer need not know them.
#include "rmq/error.hpp"
#include "wire/codes.hpp"

namespace rmq {
namespace {

namespace response_code = wire::response_code;

class broker_error_category final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "rmq.broker"; }
  [[nodiscard]] std::string message(int code) const override {
    switch (code) {
      case response_code::system_error:
        return "SYSTEM_ERROR";
      case response_code::system_busy:
        return "SYSTEM_BUSY";
      case response_code::request_code_not_supported:
        return "REQUEST_CODE_NOT_SUPPORTED";
      case response_code::transaction_failed:
        return "TRANSACTION_FAILED";
      case response_code::flush_disk_timeout:
        return "FLUSH_DISK_TIMEOUT";
      case response_code::slave_not_available:
        return "SLAVE_NOT_AVAILABLE";
      case response_code::flush_slave_timeout:
        return "FLUSH_SLAVE_TIMEOUT";
      case response_code::message_illegal:
        return "MESSAGE_ILLEGAL";
      case response_code::service_not_available:
        return "SERVICE_NOT_AVAILABLE";
      case response_code::version_not_supported:
        return "VERSION_NOT_SUPPORTED";
      case response_code::no_permission:
        return "NO_PERMISSION";
      case response_code::topic_not_exist:
        return "TOPIC_NOT_EXIST";
      case response_code::topic_exist_already:
        return "TOPIC_EXIST_ALREADY";
      case response_code::invalid_parameter:
        return "INVALID_PARAMETER";
      case response_code::no_buyer_id:
        return "NO_BUYER_ID";
      case response_code::not_in_current_unit:
        return "NOT_IN_CURRENT_UNIT";
      case response_code::flow_control:
        return "FLOW_CONTROL";
      case response_code::not_leader_for_queue:
        return "NOT_LEADER_FOR_QUEUE";
      case response_code::illegal_operation:
        return "ILLEGAL_OPERATION";
      case response_code::go_away:
        return "GO_AWAY";
      default:
        return "broker response code " + std::to_string(code);
    }
  }
};

}  // namespace

const std::error_category& broker_category() noexcept {
  static const broker_error_category instance;
  return instance;
}

bool is_retriable_response_code(int code) noexcept {
  return wire::is_retriable_response_code_v5(code);
}

namespace wire {

bool is_access_denial(std::int32_t code, std::string_view remark) noexcept {
  const auto has = [&](std::string_view text) { return remark.find(text) != remark.npos; };
  if (code == response_code::system_error) return has("AclException");
  if (code != response_code::no_permission) return false;
  // rocketmq-auth's messages (DefaultAuthenticationHandler, UserAuthorizationHandler,
  // AclAuthorizationHandler and the strategies' catch-alls), 5.3.3.
  return remark.starts_with("User:") || has("check signature failed") ||
         has("username cannot be null") || has("has no permission to access") ||
         has("Authentication failed") || has("Authorization failed") ||
         has("authenticationMetadataProvider") || has("parse authorization context error");
}

}  // namespace wire
}  // namespace rmq
