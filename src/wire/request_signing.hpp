// ACL request signing, as the Java client's AclClientRPCHook does it (4.9 and 5.x brokers verify
// the same way): extFields gain `AccessKey` (and `SecurityToken`), then `Signature` =
// Base64(HMAC-SHA1(secret, the values of every other extField in key order, then the body)).
//
// The frame writer (wire/command.hpp) signs every request it writes inside a signing_scope;
// the connection core opens one around each request it encodes, so every request code of every
// feature is signed in one place and none can forget it. Responses are never signed.
#pragma once

#include "rmq/credentials.hpp"
#include "wire/command.hpp"

#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rmq::wire {

inline constexpr std::string_view access_key_field = "AccessKey";
inline constexpr std::string_view security_token_field = "SecurityToken";
inline constexpr std::string_view signature_field = "Signature";

/// Base64 of a 20-byte HMAC-SHA1: 28 characters.
using signature_text = std::array<char, 28>;

/// HMAC-SHA1 keyed once. The key's inner and outer states are computed at construction and
/// copied per MAC: plain structs, so a MAC allocates nothing (OpenSSL 3.0's EVP_MAC and EVP_MD
/// allocate on every init or copy).
class hmac_sha1 {
 public:
  explicit hmac_sha1(std::string_view key) noexcept;
  void begin() noexcept;
  void update(std::string_view bytes) noexcept;
  [[nodiscard]] std::array<unsigned char, 20> finish() noexcept;

 private:
  SHA_CTX inner_key_;
  SHA_CTX outer_key_;
  SHA_CTX work_;
};

/// Base64 (standard alphabet, padded) of a MAC.
[[nodiscard]] signature_text to_base64(const std::array<unsigned char, 20>& mac) noexcept;

/// Signs requests with one account's credentials. The frame writer hands it each field as
/// written (copied: the writer's arguments may be temporaries) and the body; it answers the
/// fields to write, in the order the Java client writes them. Scratch storage is reused, so a
/// steady stream of requests allocates nothing. One thread at a time (a loop's).
class request_signer {
 public:
  explicit request_signer(const access_credentials& credentials);

  /// Forgets the fields of the previous request.
  void begin() noexcept;
  /// One extFields entry of the request being written.
  void add(std::string_view name, std::string_view value);
  /// Adds AccessKey, SecurityToken (when set) and Signature over what was added and `body`.
  /// Answers every field in the order Java's HashMap iterates them (its extFields type), so
  /// that a signed frame is byte for byte what the Java client writes. Valid until begin().
  [[nodiscard]] std::span<const ext_field> seal(std::string_view body);

  [[nodiscard]] const std::string& access_key() const noexcept { return access_key_; }

 private:
  struct entry {
    std::uint32_t name_offset;  // into names_
    std::uint32_t name_size;
    std::uint32_t value_offset;  // into values_
    std::uint32_t value_size;
  };
  [[nodiscard]] std::string_view name_of(const entry& e) const noexcept {
    return {names_.data() + e.name_offset, e.name_size};
  }
  [[nodiscard]] std::string_view value_of(const entry& e) const noexcept {
    return {values_.data() + e.value_offset, e.value_size};
  }

  std::string access_key_;
  std::string security_token_;
  hmac_sha1 mac_;
  // The request being written: its field names (each ended by a NUL: the header's shape) and
  // values, copied as they come.
  std::string names_;
  std::string values_;
  std::vector<entry> entries_;
  // The last shape's orders: what to keep of entries_, the signing order (indices into
  // inserted_ without Signature) and Java's (with it).
  std::string shape_;
  std::vector<std::uint32_t> kept_;
  std::vector<std::uint32_t> by_name_;
  std::vector<std::uint32_t> java_order_;
  std::vector<ext_field> inserted_;  // kept fields, AccessKey, SecurityToken, Signature
  std::vector<ext_field> sealed_;
  signature_text signature_{};
};

/// The Signature of a decoded request under `secret_key`: what a server computes to check it
/// (every field but Signature, in key order, then the body).
[[nodiscard]] signature_text signature_of(std::string_view secret_key,
                                          std::span<const ext_field> fields, std::string_view body);

/// Order in which a java.util.HashMap<String, String> holding `fields` (inserted in this order)
/// iterates them: by bucket of the spread String.hashCode at the map's capacity then, in
/// insertion order within a bucket. Writes indices into `order`. Names are taken as Latin-1:
/// every header field name is ASCII.
void java_hash_map_order(std::span<const ext_field> fields, std::vector<std::uint32_t>& order);

/// While alive, frame writers on this thread sign the requests they write with `signer`
/// (nullptr: they do not sign). Scopes nest; each restores the one before it.
class signing_scope {
 public:
  explicit signing_scope(request_signer* signer) noexcept : previous_(current_) {
    current_ = signer;
  }
  ~signing_scope() { current_ = previous_; }
  signing_scope(const signing_scope&) = delete;
  signing_scope& operator=(const signing_scope&) = delete;

  /// The signer of the innermost scope on this thread, or nullptr.
  [[nodiscard]] static request_signer* current() noexcept { return current_; }

 private:
  static thread_local request_signer* current_;
  request_signer* previous_;
};

}  // namespace rmq::wire
