#include "peer_policy.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace userfs::server {
namespace {

// "1000" -> 1000; anything but a plain decimal number fits no id.
bool parse_id(const std::string& text, unsigned long& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  out = std::strtoul(text.c_str(), nullptr, 10);
  return errno == 0 && out < 0xffffffffUL;
}

}  // namespace

bool PeerPolicy::add(const std::string& spec, std::string& why) {
  size_t start = 0;
  for (;;) {
    const size_t comma = spec.find(',', start);
    const std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    unsigned long id = 0;
    if (item.empty() || item == "@") {
      why = "empty entry in '" + spec + "'";
      return false;
    }
    if (item == "*") {
      anyone_ = true;
    } else if (item[0] == '@') {
      const std::string name = item.substr(1);
      if (parse_id(name, id)) {
        gids_.push_back(static_cast<gid_t>(id));
      } else if (const struct group* g = getgrnam(name.c_str())) {
        gids_.push_back(g->gr_gid);
      } else {
        why = "no group '" + name + "'";
        return false;
      }
    } else if (parse_id(item, id)) {
      uids_.push_back(static_cast<uid_t>(id));
    } else if (const passwd* p = getpwnam(item.c_str())) {
      uids_.push_back(p->pw_uid);
    } else {
      why = "no user '" + item + "'";
      return false;
    }
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

bool PeerPolicy::admits(const Cred& peer, uid_t server_uid) const {
  if (peer.uid == server_uid || anyone_) return true;
  if (std::find(uids_.begin(), uids_.end(), peer.uid) != uids_.end()) return true;
  for (gid_t g : gids_) {
    if (peer.gid == g) return true;
    if (std::find(peer.groups.begin(), peer.groups.end(), g) != peer.groups.end()) return true;
  }
  return false;
}

int PeerPolicy::open_socket_to_others(int listener) const {
  if (!admits_others()) return 0;
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) < 0) return -errno;
  if (addr.sun_family != AF_UNIX || addr.sun_path[0] == '\0') return 0;  // abstract: no file to open up
  addr.sun_path[sizeof addr.sun_path - 1] = '\0';
  if (::chmod(addr.sun_path, 0666) < 0) return -errno;
  return 0;
}

}  // namespace userfs::server
