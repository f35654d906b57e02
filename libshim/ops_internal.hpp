// What the ops_*.cpp files share: sending a request about a Target (with
// redirects), the errno-setting tail, and attribute conversions.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "client.hpp"
#include "fd_table.hpp"
#include "route.hpp"
#include "session.hpp"
#include "trace.hpp"
#include "userfs/protocol.hpp"

namespace userfs::ops::detail {

using client::ReplyBuffer;
using client::Request;

// Returned by the call helpers after a redirect re-routed the target;
// positive, so never mistaken for an errno.
inline constexpr int kRedirected = 1;

// Reply space for any fixed-size reply, or a redirect.
struct Scratch {
  alignas(8) unsigned char bytes[sizeof(proto::RedirectRep) + proto::kMaxPath + 8];
};

// Sends req (which names t's path(s)) and waits for the reply in rep.
// Returns 0 or -errno; on a redirect re-routes the target the server names
// (`second` for which == 1) and returns kRedirected.
int call(route::Target& t, const Request& req, ReplyBuffer& rep, route::Target* second = nullptr);

// A request whose successful reply is exactly one T (plus, optionally, an
// fd handed to *fd).
template <class T>
int call_fixed(route::Target& t, const Request& req, T& out, int* fd = nullptr, bool fd_cloexec = false) {
  Scratch s;
  ReplyBuffer rep{s.bytes, sizeof s.bytes};
  rep.fd_cloexec = fd_cloexec;
  int err = call(t, req, rep);
  if (err != 0) return err;
  if (rep.len != sizeof(T) || (fd != nullptr && rep.fd < 0)) {
    client::raw_close(rep.fd);
    return -EIO;
  }
  std::memcpy(&out, s.bytes, sizeof(T));
  if (fd != nullptr) {
    *fd = rep.fd;
  } else {
    client::raw_close(rep.fd);
  }
  return 0;
}

// A request whose successful reply is empty.
int call_empty(route::Target& t, const Request& req, route::Target* second = nullptr);

// Traces the call and turns (result, err) into libc's convention:
// result >= 0 is returned; otherwise errno = err and -1.
long finish(const char* fn, const route::Target* t, long result, int err, const char* extra = nullptr);
long finish_fd(const char* fn, int fd, long result, int err);

// Stat lookups by path (following or not) and by inode.
int lookup(route::Target& t, bool follow, proto::Attr& attr);
int getattr(uint64_t ino, uint32_t generation, proto::Attr& attr);
// Attributes of an open mount fd (also once unlinked).
int attr_of_fd(int fd, const fdt::Info& info, proto::Attr& attr);

void to_stat(const proto::Attr& a, struct stat* st);
void to_statx(const proto::Attr& a, struct statx* x);

// The call's other arguments for the trace ("0101, 0644"), formatted only
// when tracing is on. Returns buf.
const char* trace_args(char* buf, size_t cap, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// The umask, for modes of created objects.
mode_t current_umask();

// The prefix of the mount a target was routed through.
const char* mount_prefix(const route::Target& t, size_t* len);

}  // namespace userfs::ops::detail
