// Who may connect: the server's own uid, plus whatever `--allow-users`
// names. The kernel's account of a peer (SO_PEERCRED, SO_PEERGROUPS, read
// at connect) is the only one believed; the namespace then checks every
// request against those credentials as a filesystem would.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "namespace.hpp"

namespace userfs::server {

class PeerPolicy {
 public:
  // Parses a comma-separated list: a user name or numeric uid admits that
  // uid; `@name` or `@gid` admits every peer that has that group as its
  // primary or a supplementary group at connect; `*` admits everyone.
  // Names are looked up once, now. Returns false with `why` set on an
  // unknown name or an empty item.
  bool add(const std::string& spec, std::string& why);

  // The server's own uid is always admitted; root only if named, like
  // any other uid.
  bool admits(const Cred& peer, uid_t server_uid) const;

  // Whether anyone besides the server's own uid may connect.
  bool admits_others() const { return anyone_ || !uids_.empty() || !gids_.empty(); }

  // Makes the listening socket connectable by other users (0666) when the
  // policy admits any: the kernel needs write permission on a socket to
  // connect, and the uid check here is what keeps strangers out. The
  // socket's directory must be reachable too; that is the operator's
  // choice of path. Returns 0 or -errno.
  int open_socket_to_others(int listener) const;

 private:
  bool anyone_ = false;
  std::vector<uid_t> uids_;
  std::vector<gid_t> gids_;
};

}  // namespace userfs::server
