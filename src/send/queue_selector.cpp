#include "send/queue_selector.hpp"

namespace rmq::send {
namespace {

template <class Accept>
std::size_t scan(std::span<const publish_queue> queues, std::uint32_t& round_robin,
                 Accept&& accept) {
  for (std::size_t i = 0; i < queues.size(); ++i) {
    const std::size_t index = (++round_robin & 0x7FFFFFFFu) % queues.size();
    if (accept(queues[index])) return index;
  }
  return no_queue;
}

}  // namespace

std::size_t select_queue(const selection_input& in, std::uint32_t& round_robin) {
  if (in.queues.empty()) return no_queue;
  const auto not_last = [&](const publish_queue& q) {
    return !in.last_broker || q.broker != *in.last_broker;
  };
  std::size_t index = no_queue;
  if (in.faults != nullptr) {
    const fault_tolerance& faults = *in.faults;
    index = scan(in.queues, round_robin, [&](const publish_queue& q) {
      return not_last(q) && faults.available(q.broker, in.now);
    });
    if (index == no_queue) {
      index = scan(in.queues, round_robin, [&](const publish_queue& q) {
        return not_last(q) && faults.reachable(q.broker);
      });
    }
  } else {
    index = scan(in.queues, round_robin, not_last);
  }
  if (index == no_queue) index = (++round_robin & 0x7FFFFFFFu) % in.queues.size();
  return index;
}

}  // namespace rmq::send
