// Recall (producer::async_recall): one RECALL_MESSAGE to the master of the broker a timer
// message's handle names, as an operation on a loop (send/loop_operation.hpp).
#pragma once

#include "rmq/detail/completion.hpp"
#include "rmq/recall.hpp"
#include "send/loop_operation.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

namespace rmq::send {

class loop_sender;

class recall_run final : public loop_operation {
 public:
  recall_run(std::shared_ptr<detail::cancel_hub> hub,
             detail::outcome_completion<recall_result>* completion, std::string topic,
             std::string handle, bool cancellable)
      : loop_operation(std::move(hub), cancellable),
        completion_(completion),
        topic_(std::move(topic)),
        handle_(std::move(handle)) {}

  void fail(std::error_code ec) override {
    completion_->complete(ec, recall_result{}, true);
    release();
  }
  /// Loop thread, from its coroutine, registered in `operations` under `key` (as
  /// message_operation::finish).
  void finish(std::error_code ec, recall_result&& result, operation_registry& operations,
              std::uint64_t key);

  [[nodiscard]] const std::string& topic() const noexcept { return topic_; }
  [[nodiscard]] const std::string& handle() const noexcept { return handle_; }

 private:
  void run_on(loop_sender& target) override;

  detail::outcome_completion<recall_result>* completion_;
  std::string topic_;
  std::string handle_;
};

/// Loop thread: runs `run` on `sender`'s loop, registered in `operations`.
void start_recall(loop_sender& sender, operation_registry& operations, recall_run& run);

}  // namespace rmq::send
