#include "plot.hpp"

#include "hgrm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace rmq::bench {

namespace {

constexpr double width = 860;
constexpr double height = 500;
constexpr double left = 90;
constexpr double right = 30;
constexpr double top = 50;
constexpr double bottom = 70;

std::string escape_xml(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string fmt(const char* format, double a, double b = 0, double c = 0, double d = 0) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, format, a, b, c, d);
  return buffer;
}

/// A round step giving about five ticks over [0, max].
double nice_step(double max) {
  const double raw = max / 5.0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (raw <= m * magnitude) return m * magnitude;
  }
  return 10 * magnitude;
}

/// "99.9%" for 3 nines.
std::string percentile_label(int nines) {
  if (nines == 0) return "0%";
  if (nines == 1) return "90%";
  std::string label = "99";
  if (nines > 2) {
    label.push_back('.');
    label.append(static_cast<std::size_t>(nines - 2), '9');
  }
  label.push_back('%');
  return label;
}

}  // namespace

std::string render_percentile_svg(const histogram& h, std::string_view title) {
  const auto points = percentile_distribution(h);
  const double max_ns = static_cast<double>(std::max<std::uint64_t>(h.max(), 1));
  const bool in_ms = max_ns >= 10e6;
  const double unit = in_ms ? 1e6 : 1e3;
  const char* unit_name = in_ms ? "ms" : "us";

  // Enough nines to show the tail the data has: 1/(1-p) up to the count, at least 99.99 %.
  const double count = static_cast<double>(std::max<std::uint64_t>(h.count(), 1));
  const int nines = std::clamp(static_cast<int>(std::ceil(std::log10(count))), 4, 7);
  const double x_max = nines;
  const double y_step = nice_step(max_ns / unit * 1.05);
  const double y_max = std::ceil(max_ns / unit * 1.05 / y_step) * y_step;
  const double plot_w = width - left - right;
  const double plot_h = height - top - bottom;
  auto px = [&](double log_x) { return left + plot_w * std::min(log_x, x_max) / x_max; };
  auto py = [&](double v) { return top + plot_h * (1.0 - std::min(v, y_max) / y_max); };

  std::string svg;
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg +=
      fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
          "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
          width, height, width, height);
  svg += "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += fmt("<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">", width / 2) +
         escape_xml(title) + "</text>\n";

  // Grid and ticks.
  for (int i = 0; i <= nines; ++i) {
    const double x = px(i);
    svg += fmt("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, top,
               x, top + plot_h);
    svg += fmt("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, top + plot_h + 18) +
           percentile_label(i) + "</text>\n";
  }
  for (double v = 0; v <= y_max + y_step / 2; v += y_step) {
    const double y = py(v);
    svg += fmt("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, y,
               left + plot_w, y);
    svg += fmt("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", left - 8, y + 4, v);
  }
  svg +=
      fmt("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
          "stroke=\"black\"/>\n",
          left, top, plot_w, plot_h);
  svg += fmt("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">percentile</text>\n",
             left + plot_w / 2, height - 20);
  svg += fmt("<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 20 %.1f)\">",
             top + plot_h / 2, top + plot_h / 2) +
         std::string("latency (") + unit_name + ")</text>\n";

  // The curve: one step per percentile point, as the distribution is a step function.
  std::string path;
  for (const percentile_point& p : points) {
    const double log_x = p.percentile >= 100.0 ? x_max : -std::log10(1.0 - p.percentile / 100.0);
    const double x = px(log_x);
    const double y = py(static_cast<double>(p.value) / unit);
    path += path.empty() ? fmt("M%.2f %.2f", x, y) : fmt(" L%.2f %.2f", x, y);
  }
  if (!path.empty()) {
    svg += "<path d=\"" + path + "\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n";
  }
  svg += fmt("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">", left + plot_w - 6,
             top + 16) +
         fmt("max %.3f ", max_ns / unit) + unit_name +
         fmt(", %.0f values</text>\n", static_cast<double>(h.count()));
  svg += "</svg>\n";
  return svg;
}

}  // namespace rmq::bench
