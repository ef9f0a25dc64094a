#include "wire/batch.hpp"

#include "rmq/error.hpp"
#include "wire/big_endian.hpp"
#include "wire/uniq_key.hpp"

namespace rmq::wire {
namespace {

// The 20 bytes before a record's body: TOTALSIZE, MAGICCODE, BODYCRC, FLAG, body length.
void put_record_head(char* head, std::size_t total, std::int32_t flag,
                     std::size_t body_size) noexcept {
  put_be32(head, static_cast<std::uint32_t>(total));
  put_be32(head + 4, 0);  // MAGICCODE
  put_be32(head + 8, 0);  // BODYCRC
  put_be32(head + 12, static_cast<std::uint32_t>(flag));
  put_be32(head + 16, static_cast<std::uint32_t>(body_size));
}

// Writes everything but TOTALSIZE and the properties length, which are patched afterwards.
// Returns the record's start offset.
std::size_t begin_record(std::string& out, std::int32_t flag, std::string_view body) {
  const std::size_t start = out.size();
  char head[20];
  put_record_head(head, 0, flag, body.size());
  out.append(head, sizeof head);
  out.append(body);
  out.append(2, '\0');  // properties length, patched
  return start;
}

void end_record(std::string& out, std::size_t start, std::size_t body_size,
                std::size_t properties_size) noexcept {
  put_be32(out.data() + start,
           static_cast<std::uint32_t>(batch_record_size(body_size, properties_size)));
  put_be16(out.data() + start + 20 + body_size, static_cast<std::uint16_t>(properties_size));
}

}  // namespace

void append_batch_record(std::string& out, std::int32_t flag, std::string_view body,
                         std::string_view properties) {
  const std::size_t start = begin_record(out, flag, body);
  out.append(properties);
  end_record(out, start, body.size(), properties.size());
}

std::size_t append_batch_message(std::string& out, const rmq::message& msg,
                                 const send_properties& per_send, trailing_separator trailing) {
  // Short properties (the usual case) are written on the stack first: the record is then
  // three appends (head, body, properties) with no patching. Longer ones take begin_record.
  constexpr std::size_t stack_properties = 512;
  char tail[2 + stack_properties];
  if (const auto props = write_properties(tail + 2, stack_properties, msg, per_send, trailing)) {
    const std::string_view body = msg.body();
    char head[20];
    put_record_head(head, batch_record_size(body.size(), *props), msg.flag(), body.size());
    put_be16(tail, static_cast<std::uint16_t>(*props));
    out.append(head, sizeof head);
    out.append(body);
    out.append(tail, 2 + *props);
    return *props;
  }
  const std::size_t start = begin_record(out, msg.flag(), msg.body());
  const std::size_t props = append_properties(out, msg, per_send, trailing);
  if (props > max_properties_size) {
    out.resize(start);
    return props;
  }
  end_record(out, start, msg.body().size(), props);
  return props;
}

std::error_code encode_batch(std::span<const rmq::message> messages, uniq_key_generator& ids,
                             std::string& out, std::string* msg_ids, trailing_separator trailing,
                             const batch_added_properties& added) {
  const std::size_t out_start = out.size();
  const std::size_t ids_start = msg_ids != nullptr ? msg_ids->size() : 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const rmq::message& msg = messages[i];
    uniq_key generated;
    if (msg.uniq_key().empty()) generated = ids.next();
    const std::string_view id = effective_uniq_key(msg, generated.view());

    send_properties per_send;
    per_send.uniq_key = id;
    if (i + 1 < added.bounds.size()) {
      per_send.added = added.pairs.subspan(added.bounds[i], added.bounds[i + 1] - added.bounds[i]);
    }
    if (append_batch_message(out, msg, per_send, trailing) > max_properties_size) {
      out.resize(out_start);
      if (msg_ids != nullptr) msg_ids->resize(ids_start);
      return make_error_code(errc::properties_too_long);
    }

    if (msg_ids != nullptr) {
      if (msg_ids->size() != ids_start) msg_ids->push_back(',');
      msg_ids->append(id);
    }
  }
  return {};
}

void append_batch_header_properties(std::string& out, bool wait_store_msg_ok,
                                    std::string_view uniq_key, std::string_view instance_id,
                                    trailing_separator trailing) {
  properties_writer writer(out, trailing);
  if (!uniq_key.empty()) writer.add(property_names::uniq_key, uniq_key);
  writer.add(property_names::wait_store_msg_ok, wait_store_msg_ok ? "true" : "false");
  if (!instance_id.empty()) writer.add(property_names::instance_id, instance_id);
  writer.finish();
}

std::error_code decode_batch(std::string_view body, std::vector<batch_record>& out,
                             const batch_decode_options& options) {
  const auto invalid = make_error_code(errc::invalid_batch_body);
  out.clear();
  if (body.empty()) return invalid;
  std::size_t pos = 0;
  while (pos < body.size()) {
    const std::size_t left = body.size() - pos;
    const char* p = body.data() + pos;
    if (left < batch_record_overhead) return invalid;
    const auto total = static_cast<std::int32_t>(load_be32(p));
    const auto flag = static_cast<std::int32_t>(load_be32(p + 12));
    const auto body_len = static_cast<std::int32_t>(load_be32(p + 16));
    // Fixed part before the properties length: 20 bytes + body.
    if (body_len < 0 || static_cast<std::size_t>(body_len) > left - batch_record_overhead) {
      return invalid;
    }
    const std::size_t props_at = 20 + static_cast<std::size_t>(body_len);
    const auto props_len = static_cast<std::int16_t>(load_be16(p + props_at));
    if (props_len < 0 || static_cast<std::size_t>(props_len) > left - props_at - 2) {
      return invalid;
    }
    const std::size_t size =
        batch_record_size(static_cast<std::size_t>(body_len), static_cast<std::size_t>(props_len));
    if (options.check_total_size && (total < 0 || static_cast<std::size_t>(total) != size)) {
      return invalid;
    }
    out.push_back({flag, body.substr(pos + 20, static_cast<std::size_t>(body_len)),
                   body.substr(pos + props_at + 2, static_cast<std::size_t>(props_len))});
    pos += size;
  }
  return {};
}

}  // namespace rmq::wire
