#include "faults.hpp"

#include <algorithm>

namespace rmq::sim {

void fault_state::set(fault_spec spec) {
  spec_ = std::move(spec);
  if (spec_.every_nth == 0) spec_.every_nth = 1;
  if (spec_.latency_min > spec_.latency_max) spec_.latency_max = spec_.latency_min;
  request_faults_ =
      spec_.has_latency() || spec_.error_code.has_value() || spec_.silent || spec_.reset_after > 0;
  matches_ = 0;
}

fault_decision fault_state::decide(std::int32_t code, bool in_default_scope,
                                   std::uint64_t& connection_matches) {
  fault_decision decision;
  const bool matches = spec_.codes.empty() ? in_default_scope
                                           : std::find(spec_.codes.begin(), spec_.codes.end(),
                                                       code) != spec_.codes.end();
  if (!matches) return decision;

  ++connection_matches;
  if (spec_.reset_after > 0 && connection_matches >= spec_.reset_after) {
    decision.reset = true;
    return decision;
  }
  ++matches_;
  const bool nth = matches_ % spec_.every_nth == 0;
  if (nth) {
    decision.silent = spec_.silent;
    decision.error_code = spec_.error_code;
    if (spec_.error_remark) decision.error_remark = &*spec_.error_remark;
  }
  if (spec_.has_latency()) {
    if (spec_.latency_max == spec_.latency_min) {
      decision.latency = spec_.latency_min;
    } else {
      std::uniform_int_distribution<std::int64_t> pick(spec_.latency_min.count(),
                                                       spec_.latency_max.count());
      decision.latency = std::chrono::microseconds(pick(rng_));
    }
  }
  return decision;
}

std::string faq_suffix(personality version) {
  return version == personality::v5
             ? "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details."
             : "\nSee http://rocketmq.apache.org/docs/faq/ for further details.";
}

std::string default_error_remark(std::int32_t code, personality version, const std::string& host) {
  switch (code) {
    case 1:  // a store result the processor does not know
      return "UNKNOWN_ERROR";
    case 2:  // NettyRemotingAbstract / BrokerFastFailure rejection
      return "[REJECTREQUEST]system busy, start flow control for a while";
    case 13:
      return "the message is illegal, maybe msg body or properties length not matched. msg body "
             "length limit 128k, msg properties length limit 32k.";
    case 14:
      return "service not available now. It may be caused by one of the following reasons: the "
             "broker's disk is full [0.00], messages are put to the slave, message store has been "
             "shut down, etc.";
    case 16:
      return "the broker[" + host + "] sending message is forbidden";
    case 17:
      return "topic not exist, apply first please!" + faq_suffix(version);
    case 1500:
      return "please go away";  // NettyRemotingAbstract, 5.3 (captured)
    default:
      return "rmq-sim injected response code " + std::to_string(code);
  }
}

}  // namespace rmq::sim
