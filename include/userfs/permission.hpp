// The permission rule: who may read, write or search an object, from its
// mode and owners and the caller's credentials. One rule for the server's
// path layer and for the client's walks of the shared lookup table, so
// both give the same answer for the same caller.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "userfs/protocol.hpp"

namespace userfs::perm {

// The credentials a check is for: the uid and gid the server read from
// SO_PEERCRED (effective ids) and the supplementary groups.
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  const uint32_t* groups = nullptr;
  size_t ngroups = 0;
};

inline bool in_groups(const Caller& c, uint32_t gid) {
  if (c.gid == gid) return true;
  for (size_t i = 0; i < c.ngroups; i++)
    if (c.groups[i] == gid) return true;
  return false;
}

// mask: R_OK|W_OK|X_OK. uid 0 may read and write anything, and search or
// execute anything with an x bit (directories always).
inline bool permits(const proto::Attr& n, const Caller& c, int mask) {
  const bool dir = (n.mode & 0170000) == 0040000;
  if (c.uid == 0) {
    if ((mask & X_OK) == 0) return true;
    return dir || (n.mode & 0111) != 0;
  }
  uint32_t bits;
  if (c.uid == n.uid)
    bits = (n.mode >> 6) & 7;
  else if (in_groups(c, n.gid))
    bits = (n.mode >> 3) & 7;
  else
    bits = n.mode & 7;
  return (bits & static_cast<uint32_t>(mask)) == static_cast<uint32_t>(mask);
}

}  // namespace userfs::perm
