#include "hgrm.hpp"
#include "plot.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using rmq::bench::histogram;

namespace {

histogram sample_histogram() {
  histogram h;
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> dist(std::log(100e3), 0.5);
  for (int i = 0; i < 100000; ++i) h.record(static_cast<std::uint64_t>(dist(rng)));
  return h;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// Every element closed in order, attributes quoted, one root: enough to call it well-formed
/// for the SVG we write (no comments, CDATA or entities beyond the five predefined ones).
bool well_formed_xml(const std::string& xml, std::string& why) {
  std::vector<std::string> open;
  std::size_t pos = 0;
  int roots = 0;
  while ((pos = xml.find('<', pos)) != std::string::npos) {
    const std::size_t end = xml.find('>', pos);
    if (end == std::string::npos) return why = "unterminated tag", false;
    const std::string tag = xml.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    if (tag.starts_with("?")) continue;
    if (tag.starts_with("/")) {
      if (open.empty() || open.back() != tag.substr(1)) return why = "mismatched </" + tag, false;
      open.pop_back();
      continue;
    }
    const std::string name = tag.substr(0, tag.find_first_of(" /"));
    if (std::count(tag.begin(), tag.end(), '"') % 2 != 0) return why = "quotes in " + name, false;
    if (open.empty()) ++roots;
    if (!tag.ends_with("/")) open.push_back(name);
  }
  if (!open.empty()) return why = "unclosed <" + open.back(), false;
  if (roots != 1) return why = "not one root", false;
  for (std::size_t amp = xml.find('&'); amp != std::string::npos; amp = xml.find('&', amp + 1)) {
    const std::string entity = xml.substr(amp, xml.find(';', amp) - amp + 1);
    if (entity != "&lt;" && entity != "&gt;" && entity != "&amp;" && entity != "&quot;" &&
        entity != "&apos;") {
      return why = "bad entity " + entity, false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE(".hgrm output has HdrHistogram's shape") {
  const histogram h = sample_histogram();
  std::ostringstream out;
  rmq::bench::write_hgrm(out, h);
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() > 20);
  CHECK(lines[0] == "       Value     Percentile TotalCount 1/(1-Percentile)");
  CHECK(lines[1].empty());
  // Data lines: value, percentile, count, 1/(1-p); the 100 % line has no last column.
  double last_value = -1;
  double last_percentile = -1;
  std::size_t i = 2;
  for (; i < lines.size() && !lines[i].starts_with("#"); ++i) {
    std::istringstream fields(lines[i]);
    double value = 0, percentile = 0, inverse = 0;
    unsigned long long count = 0;
    const bool parsed = static_cast<bool>(fields >> value >> percentile >> count);
    REQUIRE(parsed);
    CHECK(value >= last_value);
    CHECK(percentile > last_percentile);
    if (percentile < 1.0) {
      const bool has_inverse = static_cast<bool>(fields >> inverse);
      REQUIRE(has_inverse);
      CHECK(inverse == doctest::Approx(1.0 / (1.0 - percentile)).epsilon(0.01));
    } else {
      CHECK(count == h.count());
    }
    last_value = value;
    last_percentile = percentile;
  }
  CHECK(last_percentile == 1.0);
  REQUIRE(lines.size() == i + 3);
  CHECK(lines[i].starts_with("#[Mean    = "));
  CHECK(lines[i + 1].starts_with("#[Max     = "));
  CHECK(lines[i + 1].find("Total count    =       100000]") != std::string::npos);
  CHECK(lines[i + 2].starts_with("#[Buckets = "));
  // Values are milliseconds: the median of ~100 us reads about 0.100.
  const auto points = rmq::bench::percentile_distribution(h);
  CHECK(points.front().percentile == 0.0);
  CHECK(points.back().percentile == 100.0);
}

TEST_CASE("percentile levels follow HdrHistogram's iteration") {
  histogram h;
  for (std::uint64_t v = 1; v <= 1000000; ++v) h.record(v);
  const auto points = rmq::bench::percentile_distribution(h);
  REQUIRE(points.size() > 10);
  // 0, 10, 20, 30, 40, 50, then 55, 60, ... (5 ticks per halving of the rest).
  CHECK(points[1].percentile == doctest::Approx(10.0));
  CHECK(points[5].percentile == doctest::Approx(50.0));
  CHECK(points[6].percentile == doctest::Approx(55.0));
}

TEST_CASE("an empty histogram writes only the header and footer") {
  std::ostringstream out;
  rmq::bench::write_hgrm(out, histogram{});
  CHECK(lines_of(out.str()).size() == 5);
}

TEST_CASE("the SVG plot is well-formed and labels the percentile axis") {
  const std::string svg =
      rmq::bench::render_percentile_svg(sample_histogram(), "latency <async> & more");
  std::string why;
  CHECK_MESSAGE(well_formed_xml(svg, why), why);
  CHECK(svg.starts_with("<?xml"));
  CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  CHECK(svg.find(">percentile</text>") != std::string::npos);
  for (const char* tick : {">0%<", ">90%<", ">99%<", ">99.9%<", ">99.99%<"}) {
    CHECK_MESSAGE(svg.find(tick) != std::string::npos, tick);
  }
  CHECK(svg.find("<path d=\"M") != std::string::npos);
  CHECK(svg.find("&lt;async&gt; &amp; more") != std::string::npos);

  std::string empty_why;
  CHECK_MESSAGE(well_formed_xml(rmq::bench::render_percentile_svg(histogram{}, "empty"), empty_why),
                empty_why);
}
