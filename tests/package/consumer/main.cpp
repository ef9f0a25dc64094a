// Uses the installed public header and library: prints the message of errc::timed_out.
#include <iostream>
#include <rmq/error.hpp>
#include <string_view>

int main() {
  const std::error_code ec = rmq::make_error_code(rmq::errc::timed_out);
  if (std::string_view(ec.category().name()) != "rmq") return 1;
  std::cout << ec.message() << '\n';
  return 0;
}
