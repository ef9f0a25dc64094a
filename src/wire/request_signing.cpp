// SHA1_Init and friends are deprecated in OpenSSL 3 in favour of EVP, whose contexts allocate on
// every init and copy (two allocations per HMAC, measured on 3.0). SHA_CTX is a plain struct
// that a MAC copies instead: signing stays allocation-free.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "wire/request_signing.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace rmq::wire {

thread_local request_signer* signing_scope::current_ = nullptr;

hmac_sha1::hmac_sha1(std::string_view key) noexcept {
  // RFC 2104: a key longer than the block is hashed first; a shorter one is zero-padded.
  constexpr std::size_t block = SHA_CBLOCK;
  std::array<unsigned char, block> padded{};
  if (key.size() > block) {
    SHA1(reinterpret_cast<const unsigned char*>(key.data()), key.size(), padded.data());
  } else if (!key.empty()) {
    std::memcpy(padded.data(), key.data(), key.size());
  }
  std::array<unsigned char, block> pad{};
  for (std::size_t i = 0; i < block; ++i) pad[i] = padded[i] ^ 0x36;
  SHA1_Init(&inner_key_);
  SHA1_Update(&inner_key_, pad.data(), pad.size());
  for (std::size_t i = 0; i < block; ++i) pad[i] = padded[i] ^ 0x5c;
  SHA1_Init(&outer_key_);
  SHA1_Update(&outer_key_, pad.data(), pad.size());
  work_ = inner_key_;
  OPENSSL_cleanse(padded.data(), padded.size());
  OPENSSL_cleanse(pad.data(), pad.size());
}

void hmac_sha1::begin() noexcept {
  work_ = inner_key_;
}

void hmac_sha1::update(std::string_view bytes) noexcept {
  if (!bytes.empty()) SHA1_Update(&work_, bytes.data(), bytes.size());
}

std::array<unsigned char, 20> hmac_sha1::finish() noexcept {
  std::array<unsigned char, 20> inner{};
  SHA1_Final(inner.data(), &work_);
  work_ = outer_key_;
  SHA1_Update(&work_, inner.data(), inner.size());
  std::array<unsigned char, 20> mac{};
  SHA1_Final(mac.data(), &work_);
  return mac;
}

signature_text to_base64(const std::array<unsigned char, 20>& mac) noexcept {
  std::array<unsigned char, 29> text{};  // EVP_EncodeBlock adds a terminating NUL
  EVP_EncodeBlock(text.data(), mac.data(), static_cast<int>(mac.size()));
  signature_text out{};
  std::memcpy(out.data(), text.data(), out.size());
  return out;
}

namespace {

// String.hashCode of an ASCII name, then HashMap.hash's spread of the high bits.
[[nodiscard]] std::uint32_t java_spread_hash(std::string_view name) noexcept {
  std::uint32_t h = 0;
  for (const char c : name) h = 31 * h + static_cast<unsigned char>(c);
  return h ^ (h >> 16);
}

// Sorts `indices` of `fields` by name, byte order (String.compareTo for ASCII: upper case
// before lower case). Insertion sort: a header has a few dozen fields at most.
void sort_by_name(std::span<const ext_field> fields, std::vector<std::uint32_t>& indices) {
  for (std::size_t i = 1; i < indices.size(); ++i) {
    const std::uint32_t moving = indices[i];
    std::size_t j = i;
    for (; j > 0 && fields[moving].name < fields[indices[j - 1]].name; --j) {
      indices[j] = indices[j - 1];
    }
    indices[j] = moving;
  }
}

template <class Fields>
void mac_fields(hmac_sha1& mac, const Fields& fields, std::span<const std::uint32_t> by_name,
                std::string_view body) {
  mac.begin();
  for (const std::uint32_t i : by_name) {
    if (fields[i].name != signature_field) mac.update(fields[i].value);
  }
  mac.update(body);
}

}  // namespace

void java_hash_map_order(std::span<const ext_field> fields, std::vector<std::uint32_t>& order) {
  // Capacity 16, doubled whenever the size passes three quarters of it (HashMap's defaults);
  // a resize keeps the order of the entries that share a bucket.
  std::size_t capacity = 16;
  while (fields.size() > capacity / 4 * 3) capacity *= 2;
  const auto bucket = [&](std::uint32_t i) {
    return java_spread_hash(fields[i].name) & static_cast<std::uint32_t>(capacity - 1);
  };
  order.clear();
  for (std::uint32_t i = 0; i < fields.size(); ++i) order.push_back(i);
  // Stable insertion sort by bucket (std::stable_sort may allocate).
  for (std::size_t i = 1; i < order.size(); ++i) {
    const std::uint32_t moving = order[i];
    const std::uint32_t moving_bucket = bucket(moving);
    std::size_t j = i;
    for (; j > 0 && moving_bucket < bucket(order[j - 1]); --j) order[j] = order[j - 1];
    order[j] = moving;
  }
}

request_signer::request_signer(const access_credentials& credentials)
    : access_key_(credentials.access_key),
      security_token_(credentials.security_token),
      mac_(credentials.secret_key) {}

void request_signer::begin() noexcept {
  names_.clear();
  values_.clear();
  entries_.clear();
}

void request_signer::add(std::string_view name, std::string_view value) {
  if (names_.size() + name.size() + 1 > std::numeric_limits<std::uint32_t>::max() ||
      values_.size() + value.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("signed header longer than 4 GiB");
  }
  entries_.push_back(
      {static_cast<std::uint32_t>(names_.size()), static_cast<std::uint32_t>(name.size()),
       static_cast<std::uint32_t>(values_.size()), static_cast<std::uint32_t>(value.size())});
  names_.append(name);
  names_.push_back('\0');  // names are ASCII: the separator keeps "ab","c" apart from "a","bc"
  values_.append(value);
}

std::span<const ext_field> request_signer::seal(std::string_view body) {
  // The two orders depend on the field names alone, and a producer writes a few shapes of
  // header over and over (sends, heartbeats): they are worked out when the shape changes.
  const bool new_shape = names_ != shape_;
  if (new_shape) {
    shape_ = names_;
    // Java adds AccessKey and SecurityToken to the map, signs, then adds Signature: a field of
    // the request with one of these names is replaced, as a HashMap put replaces it.
    kept_.clear();
    for (std::uint32_t i = 0; i < entries_.size(); ++i) {
      const std::string_view name = name_of(entries_[i]);
      if (name != access_key_field && name != security_token_field && name != signature_field) {
        kept_.push_back(i);
      }
    }
  }
  inserted_.clear();
  for (const std::uint32_t i : kept_)
    inserted_.push_back({name_of(entries_[i]), value_of(entries_[i])});
  inserted_.push_back({access_key_field, access_key_});
  if (!security_token_.empty()) inserted_.push_back({security_token_field, security_token_});

  if (new_shape) {
    by_name_.clear();
    for (std::uint32_t i = 0; i < inserted_.size(); ++i) by_name_.push_back(i);
    sort_by_name(inserted_, by_name_);
  }
  mac_fields(mac_, inserted_, by_name_, body);
  signature_ = to_base64(mac_.finish());
  inserted_.push_back({signature_field, std::string_view(signature_.data(), signature_.size())});

  if (new_shape) java_hash_map_order(inserted_, java_order_);
  sealed_.clear();
  for (const std::uint32_t i : java_order_) sealed_.push_back(inserted_[i]);
  return sealed_;
}

signature_text signature_of(std::string_view secret_key, std::span<const ext_field> fields,
                            std::string_view body) {
  hmac_sha1 mac(secret_key);
  std::vector<std::uint32_t> by_name;
  by_name.reserve(fields.size());
  for (std::uint32_t i = 0; i < fields.size(); ++i) by_name.push_back(i);
  sort_by_name(fields, by_name);
  mac_fields(mac, fields, by_name, body);
  return to_base64(mac.finish());
}

}  // namespace rmq::wire
