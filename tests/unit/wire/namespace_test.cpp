// Namespaces: the rules of Java's NamespaceUtil.
#include "wire/namespace.hpp"

#include "rmq/error.hpp"

#include <doctest/doctest.h>

#include <ostream>  // doctest prints std::error_code through it
#include <string>
#include <vector>

namespace rmq::wire {
namespace {

constexpr std::string_view ns = "ns1";

struct wrapping {
  std::string_view name;
  std::string_view wrapped;
};

// NamespaceUtil.wrapNamespace("ns1", name), case by case.
constexpr wrapping cases[] = {
    {"NsTopic", "ns1%NsTopic"},
    {"ns_producer_group", "ns1%ns_producer_group"},
    // System topics and groups stay as they are.
    {"TBW102", "TBW102"},
    {"SCHEDULE_TOPIC_XXXX", "SCHEDULE_TOPIC_XXXX"},
    {"BenchmarkTest", "BenchmarkTest"},
    {"RMQ_SYS_TRACE_TOPIC", "RMQ_SYS_TRACE_TOPIC"},
    {"RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_HALF_TOPIC"},
    {"OFFSET_MOVED_EVENT", "OFFSET_MOVED_EVENT"},
    {"rmq_sys_anything", "rmq_sys_anything"},
    {"CID_RMQ_SYS_group", "CID_RMQ_SYS_group"},
    // Retry and dead-letter prefixes stay in front.
    {"%RETRY%group", "%RETRY%ns1%group"},
    {"%DLQ%group", "%DLQ%ns1%group"},
    // Already in the namespace: not wrapped twice.
    {"ns1%NsTopic", "ns1%NsTopic"},
    {"%RETRY%ns1%group", "%RETRY%ns1%group"},
    {"%DLQ%ns1%group", "%DLQ%ns1%group"},
    // Another namespace, or one that only starts like ours, is just a name.
    {"ns10%NsTopic", "ns1%ns10%NsTopic"},
    {"other%NsTopic", "ns1%other%NsTopic"},
    {"ns1", "ns1%ns1"},
    {"", ""},
};

TEST_CASE("namespace: names are wrapped as NamespaceUtil.wrapNamespace does") {
  for (const auto& [name, wrapped] : cases) {
    CAPTURE(name);
    CHECK(wrap_namespace(ns, name) == wrapped);
    CHECK(wrapped_size(ns, name) == wrapped.size());
    CHECK(wrap_namespace("", name) == name);  // no namespace: nothing changes
    CHECK(wrapped_size("", name) == name.size());
  }
}

TEST_CASE("namespace: without_namespace gives back the user's name, prefixes kept") {
  for (const auto& [name, wrapped] : cases) {
    CAPTURE(name);
    if (!carries_namespace(name, ns)) CHECK(without_namespace(wrapped, ns) == name);
    CHECK(without_namespace(wrapped, "") == wrapped);
  }
  CHECK(without_namespace("ns1%NsTopic", ns) == "NsTopic");
  CHECK(without_namespace("%RETRY%ns1%group", ns) == "%RETRY%group");
  CHECK(without_namespace("%DLQ%ns1%group", ns) == "%DLQ%group");
  CHECK(without_namespace("ns2%NsTopic", ns) == "ns2%NsTopic");  // another namespace's
  CHECK(without_namespace("TBW102", ns) == "TBW102");
}

TEST_CASE("namespace: system resources and names carrying the namespace") {
  CHECK(is_system_resource("TBW102"));
  CHECK(is_system_resource("rmq_sys_x"));
  CHECK(is_system_resource("CID_RMQ_SYS_x"));
  CHECK_FALSE(is_system_resource("TopicTest"));
  CHECK_FALSE(is_system_resource("tbw102"));
  CHECK(carries_namespace("ns1%T", ns));
  CHECK(carries_namespace("%RETRY%ns1%G", ns));
  CHECK_FALSE(carries_namespace("ns1T", ns));
  CHECK_FALSE(carries_namespace("ns1%T", ""));
}

TEST_CASE("namespace: the namespace itself is checked") {
  CHECK_FALSE(validate_namespace(""));  // no namespace
  CHECK_FALSE(validate_namespace("ns1"));
  CHECK_FALSE(validate_namespace("MQ_INST_1|a-b_C"));
  CHECK_FALSE(validate_namespace(std::string(125, 'n')));
  for (const std::string& bad : std::vector<std::string>{"ns%1", "ns 1", "ns.1", "ns/1",
                                                         "n\xc3\xa9", std::string(126, 'n')}) {
    CAPTURE(bad);
    CHECK(validate_namespace(bad) == errc::configuration_invalid);
  }
}

}  // namespace
}  // namespace rmq::wire
