// Fault injection state of one server: which requests a fault hits and how.
#pragma once

#include "config.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

namespace rmq::sim {

/// The remark a real server gives with `code` when the fault spec names none.
[[nodiscard]] std::string default_error_remark(std::int32_t code, personality version,
                                               const std::string& host);

/// What to do with one request, decided before it is handled.
struct fault_decision {
  bool reset = false;   ///< reset the connection now; the request is not answered
  bool silent = false;  ///< handle nothing, answer nothing
  std::optional<std::int32_t> error_code;
  /// The spec's remark for error_code, if it has one; valid while the spec is unchanged.
  const std::string* error_remark = nullptr;
  std::chrono::microseconds latency{0};

  /// The remark to answer error_code with.
  [[nodiscard]] std::string remark(personality version, const std::string& host) const {
    return error_remark != nullptr ? *error_remark
                                   : default_error_remark(*error_code, version, host);
  }
};

/// Lives on the simulator's I/O thread; changed there only (the public API posts to it).
class fault_state {
 public:
  void set(fault_spec spec);
  [[nodiscard]] const fault_spec& spec() const noexcept { return spec_; }
  /// True when some request fault is set, so the hot path can skip decide() entirely.
  [[nodiscard]] bool request_faults() const noexcept { return request_faults_; }

  /// `in_default_scope`: whether `code` is in the server's default scope (used when the spec
  /// lists no codes). `connection_matches` counts matching requests of one connection.
  [[nodiscard]] fault_decision decide(std::int32_t code, bool in_default_scope,
                                      std::uint64_t& connection_matches);

 private:
  fault_spec spec_;
  bool request_faults_ = false;
  std::uint64_t matches_ = 0;
  std::minstd_rand rng_{20240611};
};

/// "\nSee <FAQ url> for further details." as appended by the real servers.
[[nodiscard]] std::string faq_suffix(personality version);

}  // namespace rmq::sim
