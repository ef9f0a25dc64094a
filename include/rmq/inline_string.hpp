/// \file
/// A string that keeps up to `Inline` bytes inside the object and spills to the heap only
/// beyond that. Message ids (32 or 56 hex digits) fit inline, so a send result costs no
/// allocation; a batch's comma-joined id list may spill.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

namespace rmq {

/// A string of up to `Inline` bytes stored in the object itself; longer text goes to the heap.
/// Used for the ids of a send_result; converts to std::string_view.
template <std::size_t Inline>
class basic_inline_string {
 public:
  /// Empty.
  basic_inline_string() noexcept = default;
  /// A copy of `text`.
  basic_inline_string(std::string_view text) { assign(text); }  // NOLINT: implicit by design
  /// A copy of the NUL-terminated `text`.
  basic_inline_string(const char* text) : basic_inline_string(std::string_view(text)) {}
  /// A copy of `other`.
  basic_inline_string(const basic_inline_string& other) { assign(other.view()); }
  /// Takes `other` over; `other` is left empty.
  basic_inline_string(basic_inline_string&& other) noexcept { *this = std::move(other); }
  /// Copies `other`.
  basic_inline_string& operator=(const basic_inline_string& other) {
    if (this != &other) assign(other.view());
    return *this;
  }
  /// Takes `other` over; `other` is left empty.
  basic_inline_string& operator=(basic_inline_string&& other) noexcept {
    if (this == &other) return *this;
    if (other.heap_) {
      heap_ = std::move(other.heap_);
      size_ = other.size_;
    } else {
      heap_.reset();
      // The whole buffer, a fixed-size copy the compiler inlines (a result is moved several
      // times on its way to the caller); the bytes past size_ are never read.
      std::memcpy(inline_, other.inline_, Inline);
      size_ = other.size_;
    }
    other.size_ = 0;
    return *this;
  }

  /// Replaces the content with a copy of `text`.
  void assign(std::string_view text) {
    if (text.size() <= Inline) {
      heap_.reset();
      if (!text.empty()) std::memcpy(inline_, text.data(), text.size());
    } else {
      heap_ = std::make_unique<char[]>(text.size());
      std::memcpy(heap_.get(), text.data(), text.size());
    }
    size_ = text.size();
  }
  /// Makes the string empty and frees any heap storage.
  void clear() noexcept {
    heap_.reset();
    size_ = 0;
  }

  /// The content; valid until the string is changed or destroyed.
  [[nodiscard]] std::string_view view() const noexcept {
    return {heap_ ? heap_.get() : inline_, size_};
  }
  /// The content, as view().
  operator std::string_view() const noexcept { return view(); }  // NOLINT: implicit by design
  /// A std::string copy of the content.
  [[nodiscard]] std::string str() const { return std::string(view()); }
  /// Length in bytes.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// Whether the length is 0.
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// Compares the content with `b`.
  friend bool operator==(const basic_inline_string& a, std::string_view b) noexcept {
    return a.view() == b;
  }
  /// Writes the content to `os`.
  friend std::ostream& operator<<(std::ostream& os, const basic_inline_string& s) {
    return os << s.view();
  }

 private:
  std::unique_ptr<char[]> heap_;
  std::size_t size_ = 0;
  char inline_[Inline];
};

/// Enough for an IPv6 message id (56 hex digits).
using inline_string = basic_inline_string<64>;

}  // namespace rmq
