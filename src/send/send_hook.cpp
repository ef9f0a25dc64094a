#include "rmq/send_hook.hpp"

#include "rmq/error.hpp"
#include "wire/validation.hpp"

namespace rmq {

std::error_code send_context::add_property(std::string_view name, std::string_view value) {
  if (sink_.target == nullptr) return make_error_code(errc::invalid_argument);
  if (auto ec = wire::validate_user_property(name, value)) return ec;
  return sink_.add(sink_.target, batch_index_, name, value);
}

}  // namespace rmq
