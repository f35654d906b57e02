#include "path_resolve.hpp"

#include <cstring>

namespace userfs::path {

void add_mount(MountTable& table) {
  const Mount& m = table.mounts[table.count];
  const char* second_slash = std::strchr(m.prefix + 1, '/');
  table.first_len[table.count] = static_cast<unsigned short>(second_slash ? second_slash - m.prefix - 1 : m.len - 1);
  table.multi_component = table.multi_component || second_slash != nullptr;
  table.count++;
}

int parse_mounts(const char* spec, MountTable& table) {
  table.count = 0;
  table.multi_component = false;
  if (spec == nullptr) return 0;
  const char* p = spec;
  while (*p != '\0' && table.count < kMaxMounts) {
    const char* end = std::strchr(p, ',');
    size_t n = end ? static_cast<size_t>(end - p) : std::strlen(p);
    const char* eq = static_cast<const char*>(std::memchr(p, '=', n));
    size_t plen = eq ? static_cast<size_t>(eq - p) : n;
    char raw[kPathMax];
    if (plen > 0 && plen < kPathMax && p[0] == '/') {
      std::memcpy(raw, p, plen);
      raw[plen] = '\0';
      Mount& m = table.mounts[table.count];
      if (normalize(raw, m.prefix, sizeof m.prefix)) {
        m.len = std::strlen(m.prefix);
        while (m.len > 1 && m.prefix[m.len - 1] == '/') m.prefix[--m.len] = '\0';
        if (m.len > 1) add_mount(table);
      }
    }
    if (end == nullptr) break;
    p = end + 1;
  }
  return table.count;
}

namespace {

// A "." or ".." component (not ".config"): the only text, besides "//",
// that folding changes.
// `path` is absolute, so every '.' has a byte before it. One vector scan
// per dot: most paths have none or one ("/tmp/x.c"), and a strstr costs
// more to set up than that.
bool has_dot_component(const char* path) {
  for (const char* p = std::strchr(path, '.'); p != nullptr; p = std::strchr(p + 1, '.')) {
    if (p[-1] != '/') continue;
    if (p[1] == '/' || p[1] == '\0') return true;
    if (p[1] == '.' && (p[2] == '/' || p[2] == '\0')) return true;
  }
  return false;
}

}  // namespace

bool may_reach_mount(const MountTable& table, const char* path) {
  if (table.count == 0) return false;
  if (path[1] == '/') return true;  // "//userfs": the first component is further on
  for (int i = 0; i < table.count; i++) {
    const char* first = table.mounts[i].prefix + 1;
    size_t n = table.first_len[i];
    // The second byte rejects most host paths without touching the prefix.
    if (path[1] == first[0] && std::strncmp(path + 1, first, n) == 0 && (path[n + 1] == '/' || path[n + 1] == '\0')) {
      return true;
    }
  }
  return has_dot_component(path);
}

bool needs_normalizing(const char* path) {
  // Vectorised scans: this runs on every pass-through path, and most have
  // no '.' at all.
  if (std::strchr(path, '.') == nullptr) return std::strstr(path, "//") != nullptr;
  for (const char* p = std::strstr(path, "/."); p != nullptr; p = std::strstr(p + 1, "/.")) {
    if (p[2] == '/' || p[2] == '\0') return true;
    if (p[2] == '.' && (p[3] == '/' || p[3] == '\0')) return true;
  }
  return std::strstr(path, "//") != nullptr;
}

bool normalize(const char* path, char* out, size_t cap) {
  if (cap < 2) return false;
  size_t len = 0;
  out[len++] = '/';
  bool trailing_slash = false;
  const char* p = path;
  while (*p != '\0') {
    while (*p == '/') p++;
    if (*p == '\0') break;
    const char* start = p;
    while (*p != '\0' && *p != '/') p++;
    size_t n = static_cast<size_t>(p - start);
    trailing_slash = (*p == '/');
    bool dot = n == 1 && start[0] == '.';
    bool dotdot = n == 2 && start[0] == '.' && start[1] == '.';
    bool last = *p == '\0' || p[std::strspn(p, "/")] == '\0';
    // A final "." or ".." stays: rmdir("d/.") is not rmdir("d").
    if ((dot || dotdot) && !last) {
      if (dotdot) {
        // Drop the last component; "/.." stays "/".
        while (len > 1 && out[len - 1] != '/') len--;
        if (len > 1) len--;
      }
      continue;
    }
    if (len > 1) {
      if (len + 1 >= cap) return false;
      out[len++] = '/';
    }
    if (len + n >= cap) return false;
    std::memmove(out + len, start, n);  // out may be path itself
    len += n;
  }
  if (trailing_slash && len > 1) {
    if (len + 1 >= cap) return false;
    out[len++] = '/';
  }
  out[len] = '\0';
  return true;
}

int match(const MountTable& table, const char* path, const char** rel) {
  for (int i = 0; i < table.count; i++) {
    const Mount& m = table.mounts[i];
    // The second byte rejects most host paths without a call.
    if (path[1] != m.prefix[1]) continue;
    if (std::strncmp(path, m.prefix, m.len) == 0 && (path[m.len] == '/' || path[m.len] == '\0')) {
      *rel = path + m.len;
      return i;
    }
  }
  return -1;
}

bool passes_through_mount(const MountTable& table, const char* path) {
  char prefix[kPathMax];
  char partial[kPathMax];
  const char* p = path;
  while (*p != '\0') {
    while (*p == '/') p++;
    while (*p != '\0' && *p != '/') p++;
    size_t n = static_cast<size_t>(p - path);
    if (n >= sizeof partial) return false;
    std::memcpy(partial, path, n);
    partial[n] = '\0';
    const char* rel = nullptr;
    if (normalize(partial, prefix, sizeof prefix)) {
      // A trailing slash from "." or ".." is not part of the name.
      size_t len = std::strlen(prefix);
      if (len > 1 && prefix[len - 1] == '/') prefix[len - 1] = '\0';
      if (match(table, prefix, &rel) >= 0) return true;
    }
  }
  return false;
}

}  // namespace userfs::path
