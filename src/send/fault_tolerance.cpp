#include "send/fault_tolerance.hpp"

#include <algorithm>

namespace rmq::send {

using std::chrono::milliseconds;

fault_tables fault_tables::v5() {
  return {{milliseconds(50), milliseconds(100), milliseconds(550), milliseconds(1800),
           milliseconds(3000), milliseconds(5000), milliseconds(15000)},
          {milliseconds(0), milliseconds(0), milliseconds(2000), milliseconds(5000),
           milliseconds(6000), milliseconds(10000), milliseconds(30000)},
          milliseconds(10000)};
}

fault_tables fault_tables::v4_9() {
  return {{milliseconds(50), milliseconds(100), milliseconds(550), milliseconds(1000),
           milliseconds(2000), milliseconds(3000), milliseconds(15000)},
          {milliseconds(0), milliseconds(0), milliseconds(30000), milliseconds(60000),
           milliseconds(120000), milliseconds(180000), milliseconds(600000)},
          milliseconds(30000)};
}

bool fault_tables::valid() const noexcept {
  if (latency_max.empty() || latency_max.size() != not_available.size()) return false;
  if (!std::is_sorted(latency_max.begin(), latency_max.end())) return false;
  return std::none_of(not_available.begin(), not_available.end(),
                      [](milliseconds d) { return d.count() < 0; });
}

milliseconds fault_tolerance::not_available_for(milliseconds latency) const {
  for (std::size_t i = tables_.latency_max.size(); i-- > 0;) {
    if (latency >= tables_.latency_max[i]) return tables_.not_available[i];
  }
  return milliseconds(0);
}

fault_change fault_tolerance::update(broker_id broker, milliseconds latency, fault_report report,
                                     fault_clock::time_point now) {
  if (broker >= items_.size()) items_.resize(broker + 1);
  item& it = items_[broker];
  it.known = true;
  it.latency = latency;
  it.reachable = report.reachable;
  const milliseconds duration =
      not_available_for(report.isolating ? tables_.isolation_latency : latency);
  // The window is only ever extended: a fast answer does not cut short an isolation.
  if (duration.count() > 0 && now + duration > it.available_from)
    it.available_from = now + duration;
  // Both false for every send to a healthy broker: one compare on the send path.
  const bool isolated = now < it.available_from;
  if (isolated == it.isolated) [[likely]]
    return fault_change::none;
  it.isolated = isolated;
  return isolated ? fault_change::isolated : fault_change::back;
}

bool fault_tolerance::available(broker_id broker, fault_clock::time_point now) const noexcept {
  return broker >= items_.size() || !items_[broker].known || now >= items_[broker].available_from;
}

bool fault_tolerance::reachable(broker_id broker) const noexcept {
  return broker >= items_.size() || items_[broker].reachable;
}

}  // namespace rmq::send
