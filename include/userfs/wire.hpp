// Bounds-checked reading of message payloads. Every read either succeeds
// within the buffer or fails; nothing is read past the end, whatever the
// lengths a peer claims. Header-only and allocation-free so the shim can use
// it too.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "userfs/protocol.hpp"

namespace userfs::wire {

class Reader {
 public:
  Reader(const void* data, size_t size) : p_(static_cast<const unsigned char*>(data)), left_(size) {}

  // Copies a fixed struct out (payloads need not be aligned).
  template <class T>
  bool fixed(T& out) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (left_ < sizeof(T)) return false;
    std::memcpy(&out, p_, sizeof(T));
    p_ += sizeof(T);
    left_ -= sizeof(T);
    return true;
  }

  // A string of exactly `len` bytes; refuses embedded NULs.
  bool string(uint32_t len, std::string_view& out) {
    if (left_ < len) return false;
    const char* s = reinterpret_cast<const char*>(p_);
    if (std::memchr(s, '\0', len) != nullptr) return false;
    out = std::string_view(s, len);
    p_ += len;
    left_ -= len;
    return true;
  }

  // A path: a string shorter than PATH_MAX.
  bool path(uint32_t len, std::string_view& out) {
    return len < proto::kMaxPath && string(len, out);
  }

  // The next `len` bytes as they are (NULs allowed): file data.
  bool bytes(size_t len, std::string_view& out) {
    if (left_ < len) return false;
    out = std::string_view(reinterpret_cast<const char*>(p_), len);
    p_ += len;
    left_ -= len;
    return true;
  }

  bool skip(size_t n) {
    if (left_ < n) return false;
    p_ += n;
    left_ -= n;
    return true;
  }

  size_t left() const { return left_; }
  bool done() const { return left_ == 0; }

 private:
  const unsigned char* p_;
  size_t left_;
};

// Appends into a caller-owned buffer; fails (and stays failed) on overflow.
class Writer {
 public:
  Writer(void* data, size_t cap) : base_(static_cast<unsigned char*>(data)), cap_(cap) {}

  bool bytes(const void* src, size_t n) {
    if (failed_ || cap_ - used_ < n) {
      failed_ = true;
      return false;
    }
    std::memcpy(base_ + used_, src, n);
    used_ += n;
    return true;
  }
  template <class T>
  bool fixed(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return bytes(&v, sizeof(T));
  }
  bool zeros(size_t n) {
    if (failed_ || cap_ - used_ < n) {
      failed_ = true;
      return false;
    }
    std::memset(base_ + used_, 0, n);
    used_ += n;
    return true;
  }
  size_t size() const { return used_; }
  size_t room() const { return cap_ - used_; }
  bool ok() const { return !failed_; }

 private:
  unsigned char* base_;
  size_t cap_;
  size_t used_ = 0;
  bool failed_ = false;
};

// Checks a received request header against the datagram that carried it.
// Returns 0 or a negative errno describing what is wrong.
inline int check_request_header(const proto::RequestHeader& h, size_t datagram_size) {
  if (h.magic != proto::kMagic) return -EPROTO;
  if (h.flags != 0 || h.mount >= proto::kMaxMounts) return -EPROTO;
  if (datagram_size < sizeof(h) || h.length != datagram_size - sizeof(h)) return -EBADMSG;
  if (h.op == 0 || h.op >= proto::kOpCount) return -ENOSYS;
  return 0;
}

}  // namespace userfs::wire
