// Credential changes: setuid and its family. The server takes a client's
// uid, gid and groups from the kernel when it connects, so after a change
// that succeeds the process's connection is dropped and the next call on a
// mount connects again as who the process now is.
#include <grp.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include "interpose.hpp"
#include "session.hpp"

using namespace userfs;

namespace {

// The real call's result, unchanged (errno included); the connection goes
// when the credentials did.
int after_change(int rc) {
  if (rc == 0) {
    const int saved = errno;
    session::drop_connection();
    errno = saved;
  }
  return rc;
}

}  // namespace

USERFS_EXPORT int setuid(uid_t uid) {
  real::ensure_resolved();
  return after_change(real::libc.setuid(uid));
}

USERFS_EXPORT int setgid(gid_t gid) {
  real::ensure_resolved();
  return after_change(real::libc.setgid(gid));
}

USERFS_EXPORT int seteuid(uid_t euid) {
  real::ensure_resolved();
  return after_change(real::libc.seteuid(euid));
}

USERFS_EXPORT int setegid(gid_t egid) {
  real::ensure_resolved();
  return after_change(real::libc.setegid(egid));
}

USERFS_EXPORT int setreuid(uid_t ruid, uid_t euid) {
  real::ensure_resolved();
  return after_change(real::libc.setreuid(ruid, euid));
}

USERFS_EXPORT int setregid(gid_t rgid, gid_t egid) {
  real::ensure_resolved();
  return after_change(real::libc.setregid(rgid, egid));
}

USERFS_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid) {
  real::ensure_resolved();
  return after_change(real::libc.setresuid(ruid, euid, suid));
}

USERFS_EXPORT int setresgid(gid_t rgid, gid_t egid, gid_t sgid) {
  real::ensure_resolved();
  return after_change(real::libc.setresgid(rgid, egid, sgid));
}

USERFS_EXPORT int setgroups(size_t size, const gid_t* list) {
  real::ensure_resolved();
  return after_change(real::libc.setgroups(size, list));
}

// libc's initgroups calls its own setgroups internally, past our export.
USERFS_EXPORT int initgroups(const char* user, gid_t group) {
  real::ensure_resolved();
  return after_change(real::libc.initgroups(user, group));
}

// setfsuid/setfsgid report no failure (they return the previous id), so
// the connection goes either way; the kernel reports a peer's effective
// ids, not its filesystem ids, but a program switching them is about to
// act as someone else.
USERFS_EXPORT int setfsuid(uid_t fsuid) {
  real::ensure_resolved();
  const int previous = real::libc.setfsuid(fsuid);
  after_change(0);
  return previous;
}

USERFS_EXPORT int setfsgid(gid_t fsgid) {
  real::ensure_resolved();
  const int previous = real::libc.setfsgid(fsgid);
  after_change(0);
  return previous;
}
