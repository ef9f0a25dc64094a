#include "chaos_schedule.hpp"

#include "chaos_random.hpp"

#include <sstream>

namespace rmq::test::chaos {

namespace {

struct broker_model {
  std::string name;
  bool up = true;
  bool refusing = false;  // its listener is closed by a `refuse` fault
};

const char* const stored_not_ok[] = {"FLUSH_DISK_TIMEOUT", "FLUSH_SLAVE_TIMEOUT",
                                     "SLAVE_NOT_AVAILABLE"};

/// "latency=MIN-MAX" within 0–5 s: mostly short, sometimes long enough to outlast a deadline.
std::string latency_setting(seeded_random& rng) {
  const std::uint64_t max = rng.chance(0.5) ? rng.between(0, 300) : rng.between(300, 5000);
  const std::uint64_t min = rng.between(0, max);
  return "latency=" + std::to_string(min) + "-" + std::to_string(max);
}

/// The request faults of one `fault <target> ...` command (no `refuse`).
std::string request_faults(seeded_random& rng) {
  std::string settings;
  switch (rng.below(7)) {
    case 0:
      settings = "error=SYSTEM_BUSY nth=" + std::to_string(rng.between(1, 4));
      break;
    case 1:
      settings = std::string("error=") + stored_not_ok[rng.below(3)] +
                 " nth=" + std::to_string(rng.between(1, 3));
      break;
    case 2:
      settings = latency_setting(rng);
      break;
    case 3:
      settings = "silent nth=" + std::to_string(rng.between(1, 5));
      break;
    case 4:
      settings = "reset-after=" + std::to_string(rng.between(1, 40));
      break;
    case 5:
      settings = "split-writes";
      break;
    default:
      settings = "error=SERVICE_NOT_AVAILABLE nth=" + std::to_string(rng.between(1, 4));
      break;
  }
  if (rng.chance(0.25)) {  // a second fault on top: byte-wise writes, or latency
    const bool has_latency = settings.find("latency=") != std::string::npos;
    const bool has_split = settings.find("split-writes") != std::string::npos;
    if (!has_split && (has_latency || rng.chance(0.5))) {
      settings += " split-writes";
    } else if (!has_latency) {
      settings += " " + latency_setting(rng);
    }
  }
  return settings;
}

}  // namespace

std::vector<fault_event> make_schedule(std::uint64_t seed, std::chrono::milliseconds duration,
                                       const std::vector<std::string>& brokers) {
  seeded_random rng(seed ^ 0x5c4e'd01e'0000'0001ull);
  std::vector<broker_model> model;
  for (const auto& name : brokers) model.push_back({name});
  bool namesrv_up = true;

  std::vector<fault_event> events;
  const auto add = [&](std::chrono::milliseconds at, std::string command) {
    events.push_back({at, std::move(command)});
  };

  std::chrono::milliseconds at{static_cast<std::int64_t>(rng.between(50, 400))};
  while (at < duration) {
    broker_model& broker = model[rng.below(model.size())];
    const std::uint64_t pick = rng.below(100);
    if (pick < 40) {
      // Request faults on one broker, or on every broker at once.
      const std::string target = rng.chance(0.15) ? "*" : broker.name;
      add(at, "fault " + target + " " + request_faults(rng));
      if (target == "*") {
        for (auto& b : model) b.refusing = false;
      } else {
        broker.refusing = false;
      }
    } else if (pick < 47) {
      // Refused connections; resets make the producer reconnect into the closed listener.
      if (broker.up) {
        add(at,
            "fault " + broker.name + " refuse reset-after=" + std::to_string(rng.between(1, 8)));
        broker.refusing = true;
      }
    } else if (pick < 55) {
      add(at, "fault " + broker.name);  // healthy again
      broker.refusing = false;
    } else if (pick < 65) {
      if (broker.up) {
        if (broker.refusing) add(at, "fault " + broker.name);
        broker.refusing = false;
        add(at, "stop " + broker.name);
        broker.up = false;
      } else {
        add(at, "start " + broker.name);
        broker.up = true;
      }
    } else if (pick < 72) {
      if (broker.up) {
        add(at, "restart " + broker.name);
        broker.refusing = false;  // the new listener is open whatever the faults say
      }
    } else if (pick < 80) {
      add(at, namesrv_up ? "namesrv down" : "namesrv up");
      namesrv_up = !namesrv_up;
    } else if (pick < 88) {
      add(at, rng.chance(0.5) ? "fault namesrv silent"
                              : "fault namesrv silent nth=" + std::to_string(rng.between(2, 4)));
    } else if (pick < 92) {
      add(at, "fault namesrv " + latency_setting(rng));
    } else if (pick < 96) {
      add(at, "fault namesrv");
    } else {
      add(at, "clear");
      for (auto& b : model) b.refusing = false;
    }
    at += std::chrono::milliseconds(rng.between(100, 700));
  }

  // Everything back to healthy.
  if (!namesrv_up) add(duration, "namesrv up");
  for (const auto& b : model) {
    if (!b.up) add(duration, "start " + b.name);
  }
  add(duration, "clear");
  return events;
}

std::string describe(const std::vector<fault_event>& schedule) {
  std::ostringstream out;
  for (const auto& e : schedule) out << "  +" << e.at.count() << "ms " << e.command << "\n";
  return out.str();
}

}  // namespace rmq::test::chaos
