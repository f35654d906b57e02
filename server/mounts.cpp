#include "mounts.hpp"

#include <cerrno>

namespace userfs::server {

namespace {

// A prefix as the shim compares it: absolute, no empty, "." or ".."
// component, no trailing '/', not the root.
bool valid_prefix(std::string_view p, std::string& error) {
  if (p.empty() || p[0] != '/') {
    error = "mount prefix must be an absolute path: '" + std::string(p) + "'";
    return false;
  }
  if (p == "/") {
    error = "cannot mount on /";
    return false;
  }
  if (p.size() >= proto::kMaxPath) {
    error = "mount prefix too long";
    return false;
  }
  for (size_t i = 1; i <= p.size();) {
    const size_t end = std::min(p.find('/', i), p.size());
    const std::string_view part = p.substr(i, end - i);
    if (part.empty() || part == "." || part == "..") {
      error = "mount prefix must be in normal form (no '//', '.', '..' or trailing '/'): '" + std::string(p) + "'";
      return false;
    }
    i = end + 1;
  }
  return true;
}

}  // namespace

bool parse_mount(std::string_view text, MountSpec& out, std::string& error) {
  out = MountSpec{};
  const size_t eq = text.find('=');
  std::string_view prefix = text.substr(0, eq);
  std::string_view spec = eq == std::string_view::npos ? std::string_view("mem") : text.substr(eq + 1);
  if (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (!valid_prefix(prefix, error)) return false;
  out.prefix = std::string(prefix);
  const size_t colon = spec.find(':');
  out.kind = std::string(spec.substr(0, colon));
  std::string_view rest = colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
  if (out.kind == "mem") {
    if (colon != std::string_view::npos) {
      error = "'mem' takes no argument: '" + std::string(text) + "'";
      return false;
    }
    return true;
  }
  if (out.kind != "dir" && out.kind != "tar" && out.kind != "so") {
    error = "unknown backend '" + out.kind + "' in '" + std::string(text) + "' (mem, dir:PATH, tar:FILE, so:LIB[:ARG])";
    return false;
  }
  if (out.kind == "so") {
    // The library path ends at the next ':' (its argument follows).
    const size_t arg = rest.find(':');
    if (arg != std::string_view::npos) {
      out.arg = std::string(rest.substr(arg + 1));
      rest = rest.substr(0, arg);
    }
  }
  if (rest.empty() || rest[0] != '/') {
    error = "'" + out.kind + ":' needs an absolute path: '" + std::string(text) + "'";
    return false;
  }
  out.path = std::string(rest);
  return true;
}

bool parse_mount_list(std::string_view list, std::vector<MountSpec>& out, std::string& error) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view entry = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (entry.empty()) continue;
    MountSpec m;
    if (!parse_mount(entry, m, error)) return false;
    out.push_back(std::move(m));
  }
  return true;
}

bool Mounts::add(Mount mount) {
  if (mounts_.size() >= proto::kMaxMounts) return false;
  for (const Mount& m : mounts_)
    if (m.spec.prefix == mount.spec.prefix) return false;
  mounts_.push_back(std::move(mount));
  return true;
}

uint32_t Mounts::index_of_prefix(std::string_view prefix) const {
  for (size_t i = 0; i < mounts_.size(); i++)
    if (mounts_[i].spec.prefix == prefix) return static_cast<uint32_t>(i);
  return 0;
}

int Mounts::sync_all() {
  int first_error = 0;
  for (Mount& m : mounts_) {
    const int rc = m.ns->sync(0);
    if (rc < 0 && first_error == 0) first_error = rc;
  }
  return first_error;
}

}  // namespace userfs::server
