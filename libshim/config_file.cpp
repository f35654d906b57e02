#include "config_file.hpp"

#include <cstring>

namespace userfs::config_file {

namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// A word of [p, end): sets *w and *n, advances p past it and the blanks after.
void word(const char*& p, const char* end, const char** w, size_t* n) {
  *w = p;
  while (p < end && !blank(*p)) p++;
  *n = static_cast<size_t>(p - *w);
  while (p < end && blank(*p)) p++;
}

bool is(const char* w, size_t n, const char* keyword) { return n == std::strlen(keyword) && std::memcmp(w, keyword, n) == 0; }

// Adds one prefix as path::parse_mounts would: normalised, no trailing slash.
const char* add_mount(const char* value, size_t n, path::MountTable& mounts) {
  if (mounts.count >= path::kMaxMounts) return "names too many mounts";
  if (n >= path::kPathMax) return "names a mount path that is too long";
  char raw[path::kPathMax];
  std::memcpy(raw, value, n);
  raw[n] = '\0';
  path::Mount& m = mounts.mounts[mounts.count];
  if (!path::normalize(raw, m.prefix, sizeof m.prefix)) return "names a mount path that is too long";
  m.len = std::strlen(m.prefix);
  while (m.len > 1 && m.prefix[m.len - 1] == '/') m.prefix[--m.len] = '\0';
  if (m.len <= 1) return "mounts on /";
  path::add_mount(mounts);
  return nullptr;
}

const char* parse_lines(const char* text, size_t len, path::MountTable& mounts, char* socket, size_t socket_cap) {
  if (std::memchr(text, '\0', len) != nullptr) return "contains a NUL byte";
  bool have_socket = false;
  const char* p = text;
  const char* end = text + len;
  while (p < end) {
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (eol == nullptr) eol = end;
    while (p < eol && blank(*p)) p++;
    if (p < eol && *p != '#') {
      const char *key, *value, *extra;
      size_t key_len, value_len, extra_len;
      word(p, eol, &key, &key_len);
      word(p, eol, &value, &value_len);
      word(p, eol, &extra, &extra_len);
      if (value_len == 0 || extra_len != 0) return "has a line that is not `mount PATH` or `socket PATH`";
      if (value[0] != '/' || std::memchr(value, ',', value_len) != nullptr) return "names a path that is not absolute or has a comma";
      if (is(key, key_len, "mount")) {
        if (const char* why = add_mount(value, value_len, mounts)) return why;
      } else if (is(key, key_len, "socket")) {
        if (have_socket) return "has more than one socket line";
        if (value_len >= socket_cap) return "names a socket path that is too long";
        std::memcpy(socket, value, value_len);
        socket[value_len] = '\0';
        have_socket = true;
      } else {
        return "has an unknown directive";
      }
    }
    p = eol + 1;
  }
  if (!have_socket) {
    if (std::strlen(kSystemSocket) >= socket_cap) return "names a socket path that is too long";
    std::strcpy(socket, kSystemSocket);
  }
  return nullptr;
}

}  // namespace

const char* parse(const char* text, size_t len, path::MountTable& mounts, char* socket, size_t socket_cap) {
  mounts.count = 0;
  mounts.multi_component = false;
  const char* why = parse_lines(text, len, mounts, socket, socket_cap);
  if (why != nullptr) mounts.count = 0;
  return why;
}

}  // namespace userfs::config_file
