// The working directory in a mount (chdir, getcwd) and canonical paths
// (realpath).
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cstdlib>

#include "cwd.hpp"
#include "ops.hpp"
#include "ops_internal.hpp"
#include "real_libc.hpp"

namespace userfs::ops {

using namespace detail;

namespace {

// The canonical path of what t names, as the program sees it (mount prefix
// included), into out. Returns its length or -errno / kRedirected.
long canonical(route::Target& t, bool follow, char* out, size_t cap) {
  proto::CanonicalReq req{t.base, t.flags | (follow ? 0u : proto::kNoFollow), t.len};
  Scratch s;
  ReplyBuffer rep{s.bytes, sizeof s.bytes};
  int err = call(t, Request{proto::Op::canonical, &req, sizeof req, t.path, t.len}, rep);
  client::raw_close(rep.fd);
  if (err != 0) return err;
  if (rep.len == 0 || s.bytes[0] != '/') return -EIO;
  size_t plen;
  const char* prefix = mount_prefix(t, &plen);
  // The mount root is "/": the prefix alone names it.
  size_t rest = rep.len == 1 ? 0 : rep.len;
  if (plen + rest + 1 > cap) return -ERANGE;
  std::memcpy(out, prefix, plen);
  std::memcpy(out + plen, s.bytes, rest);
  out[plen + rest] = '\0';
  return static_cast<long>(plen + rest);
}

}  // namespace

namespace {

// Asks for the stand-in host directory of the mount directory t names: an
// O_PATH, close-on-exec fd. Returns 0, -errno or kRedirected.
int fetch_standin(route::Target& t, int* fd, uint64_t* ino) {
  if (t.route == route::Route::fail) return -t.err;
  proto::ChdirReq req{t.base, t.flags, t.len};
  proto::ChdirRep out{};
  int err = call_fixed(t, Request{proto::Op::chdir, &req, sizeof req, t.path, t.len}, out, fd, true);
  if (err == 0) *ino = out.ino;
  return err;
}

}  // namespace

int chdir(const char* fn, route::Target& t) {
  int fd = -1;
  uint64_t ino = 0;
  int err = fetch_standin(t, &fd, &ino);
  if (err == kRedirected) return -1;
  if (err == 0) {
    if (real::libc.fchdir(fd) == 0) {
      cwd::entered(ino, t.generation);
    } else {
      err = -errno;
    }
    client::raw_close(fd);
  }
  return static_cast<int>(finish(fn, &t, err, -err));
}

int standin(const char* fn, route::Target& t) {
  int fd = -1;
  uint64_t ino = 0;
  int err = fetch_standin(t, &fd, &ino);
  if (err == kRedirected) return -1;
  return static_cast<int>(finish(fn, &t, err == 0 ? fd : err, -err));
}

char* getcwd(const char* fn, uint64_t cwd_ino, uint32_t generation, char* buf, size_t size) {
  route::Target t;
  fdt::Info info{cwd_ino, fdt::Kind::dir, 0, 0, 0, false, generation};
  route::of_fd(info, t);
  if (buf != nullptr && size == 0) {
    finish(fn, &t, -1, EINVAL);
    return nullptr;
  }
  char path[PATH_MAX];
  long n = canonical(t, true, path, sizeof path);
  if (n == kRedirected) n = -EIO;  // the cwd itself is a directory in the mount
  if (n < 0) {
    finish(fn, &t, -1, static_cast<int>(-n));
    return nullptr;
  }
  size_t need = static_cast<size_t>(n) + 1;
  if (buf == nullptr) {
    buf = static_cast<char*>(std::malloc(size > need ? size : need));
    if (buf == nullptr) {
      finish(fn, &t, -1, ENOMEM);
      return nullptr;
    }
  } else if (size < need) {
    finish(fn, &t, -1, ERANGE);
    return nullptr;
  }
  std::memcpy(buf, path, need);
  finish(fn, &t, 0, 0);
  return buf;
}

char* realpath(const char* fn, route::Target& t, char* resolved) {
  if (t.route == route::Route::fail) {
    finish(fn, &t, -1, t.err);
    return nullptr;
  }
  char path[PATH_MAX];
  long n = canonical(t, true, path, sizeof path);
  if (n == kRedirected) return nullptr;
  if (n < 0) {
    finish(fn, &t, -1, static_cast<int>(n == -ERANGE ? ENAMETOOLONG : -n));
    return nullptr;
  }
  char* out = resolved != nullptr ? resolved : static_cast<char*>(std::malloc(static_cast<size_t>(n) + 1));
  if (out == nullptr) {
    finish(fn, &t, -1, ENOMEM);
    return nullptr;
  }
  std::memcpy(out, path, static_cast<size_t>(n) + 1);
  finish(fn, &t, 0, 0);
  return out;
}

}  // namespace userfs::ops
