// A logger whose lines a test reads back: "LEVEL message" each, kept in memory (up to
// `capacity`, the oldest dropped), at a chosen level. Give it to the code under test
// (producer_config::logger, connection_options::logger) and read lines() after.
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rmq::test {

class log_capture {
 public:
  explicit log_capture(spdlog::level::level_enum level = spdlog::level::info,
                       std::size_t capacity = 4096)
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(capacity)),
        logger_(std::make_shared<spdlog::logger>("rmq-test", sink_)) {
    sink_->set_pattern("%l %v");
    logger_->set_level(level);
  }

  [[nodiscard]] const std::shared_ptr<spdlog::logger>& logger() const noexcept { return logger_; }

  /// Every line kept, oldest first, without its line end.
  [[nodiscard]] std::vector<std::string> lines() const {
    std::vector<std::string> out = sink_->last_formatted();
    for (std::string& line : out) {
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    }
    return out;
  }

  /// Every line kept, one per line (for a failing check's message).
  [[nodiscard]] std::string text() const {
    std::string out;
    for (const std::string& line : lines()) out += line + '\n';
    return out;
  }

  /// The lines that contain `text`.
  [[nodiscard]] std::vector<std::string> lines_with(std::string_view text) const {
    std::vector<std::string> out = lines();
    std::erase_if(out,
                  [&](const std::string& line) { return line.find(text) == std::string::npos; });
    return out;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace rmq::test
