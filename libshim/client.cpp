#include "client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "userfs/wire.hpp"

namespace userfs::client {

void raw_close(int fd) {
  if (fd >= 0) ::syscall(SYS_close, fd);
}

namespace {

// The shim's socket lives at a high fd number so it never takes the low
// numbers a program expects from open(), and is close-on-exec.
int move_high(int fd) {
  struct rlimit rl {};
  int floor = 512;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    long limit = static_cast<long>(rl.rlim_cur < 1024 ? rl.rlim_cur : 1024);
    floor = static_cast<int>(limit - 64 > 3 ? limit - 64 : 3);
  }
  int high = static_cast<int>(::syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, floor));
  if (high < 0) return fd;  // keep the low one rather than fail
  raw_close(fd);
  return high;
}

long now_ms() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

long now_ns() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

// How long a caller keeps trying to receive its reply, yielding the CPU
// between tries, before it sleeps in poll. A server on another CPU answers in a few microseconds,
// while waking a sleeping process across CPUs costs tens of them on a
// virtual machine; the yield hands the CPU to the server when both share
// one.
constexpr long kSpinNs = 50 * 1000;

// Waits until fd is readable; EINTR restarts the wait with what is left, as
// the server carries on with the request regardless.
int wait_readable(int fd, int timeout_ms) {
  long deadline = now_ms() + timeout_ms;
  for (;;) {
    struct pollfd p {fd, POLLIN, 0};
    long left = deadline - now_ms();
    if (left < 0) left = 0;
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r > 0) return 0;
    if (r == 0) return -ETIMEDOUT;
    if (errno != EINTR) return -errno;
  }
}

}  // namespace

int Connection::connect(const char* path, const Timeouts& t, const MountNames& mounts) {
  close();
  reply_ms_ = t.reply_ms;
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  size_t n = std::strlen(path);
  if (n >= sizeof addr.sun_path) return -ENAMETOOLONG;
  std::memcpy(addr.sun_path, path, n + 1);

  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct timeval tv {t.connect_ms / 1000, (t.connect_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int r;
  do {
    r = ::connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    raw_close(fd);
    return -ENOTCONN;
  }
  fd_ = move_high(fd);

  // The hello names the mount prefixes; ones past the buffer (16 long
  // prefixes) are left out and so reach the server's first mount.
  alignas(8) unsigned char body[8192];
  wire::Writer w(body, sizeof body);
  proto::HelloReq req{proto::kVersion, 0};
  w.fixed(req);
  for (uint32_t i = 0; i < mounts.count && i < proto::kMaxMounts; i++) {
    const auto len = static_cast<uint32_t>(mounts.lengths[i]);
    if (w.room() < sizeof len + len) break;
    w.fixed(len);
    w.bytes(mounts.prefixes[i], len);
    req.mount_count++;
  }
  std::memcpy(body, &req, sizeof req);
  struct {
    proto::HelloRep rep;
    uint32_t mounts[proto::kMaxMounts];
  } answer{};
  ReplyBuffer rep{&answer, sizeof answer};
  rep.fd_cloexec = true;
  int err = call(Request{proto::Op::hello, body, w.size()}, rep);
  if (err == 0 && (rep.len < sizeof answer.rep || answer.rep.mount_count != req.mount_count ||
                   rep.len != sizeof answer.rep + req.mount_count * sizeof(uint32_t)))
    err = -EIO;
  if (err != 0) {
    raw_close(rep.fd);
    close();
    return err;
  }
  hello_ = answer.rep;
  // The shared lookup table, for whoever wants it (take_table_fd).
  raw_close(table_fd_);
  table_fd_ = (hello_.flags & proto::kHelloTable) != 0 ? rep.fd : -1;
  if (table_fd_ < 0) raw_close(rep.fd);
  std::memcpy(server_mounts_, answer.mounts, sizeof server_mounts_);
  return 0;
}

void Connection::close() {
  raw_close(fd_);
  fd_ = -1;
  raw_close(table_fd_);
  table_fd_ = -1;
}

int Connection::take_table_fd() {
  const int fd = table_fd_;
  table_fd_ = -1;
  return fd;
}

pid_t Connection::server_pid() const {
  struct ucred uc {};
  socklen_t len = sizeof uc;
  if (fd_ < 0 || ::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) return 0;
  return uc.pid;
}

// The server's refusal notice (proto::kRefusalId) waiting on the socket:
// its negative errno, or 0.
int Connection::refusal_waiting() const {
  proto::ReplyHeader rh{};
  const ssize_t got = ::recv(fd_, &rh, sizeof rh, MSG_DONTWAIT);
  if (got != static_cast<ssize_t>(sizeof rh) || rh.magic != proto::kMagic || rh.id != proto::kRefusalId) return 0;
  return rh.error < 0 && rh.error >= -4095 ? rh.error : 0;
}

int Connection::call(const Request& req, ReplyBuffer& reply) {
  reply.len = 0;
  reply.fd = -1;
  reply.flags = 0;
  if (fd_ < 0) return -ENOTCONN;

  proto::RequestHeader h{};
  h.magic = proto::kMagic;
  h.op = static_cast<uint16_t>(req.op);
  h.length = static_cast<uint32_t>(req.body_len + req.s1_len + req.s2_len);
  h.mount = req.mount;
  h.id = next_id_++;
  struct iovec out[4] = {
      {&h, sizeof h},
      {const_cast<void*>(req.body), req.body_len},
      {const_cast<char*>(req.s1), req.s1_len},
      {const_cast<char*>(req.s2), req.s2_len},
  };
  struct msghdr msg {};
  msg.msg_iov = out;
  msg.msg_iovlen = 4;
  ssize_t sent;
  do {
    sent = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    // Not delivered: the server is gone (or restarted), or refused us and
    // hung up before we spoke. Safe to retry on a new connection, unlike a
    // failure after the request went out.
    const int refused = refusal_waiting();
    close();
    return refused != 0 ? refused : -EPIPE;
  }

  // The reply is tried for at once and then again after each yield for the
  // spin window (a try is one system call, the cheapest way to see it
  // arrive), and only then waited for in poll.
  const long spin_until = now_ns() + kSpinNs;
  for (;;) {
    proto::ReplyHeader rh{};
    struct iovec in[2] = {{&rh, sizeof rh}, {reply.data, reply.cap}};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    struct msghdr rmsg {};
    rmsg.msg_iov = in;
    rmsg.msg_iovlen = 2;
    rmsg.msg_control = control;
    rmsg.msg_controllen = sizeof control;
    ssize_t got;
    do {
      got = ::recvmsg(fd_, &rmsg, (reply.fd_cloexec ? MSG_CMSG_CLOEXEC : 0) | MSG_DONTWAIT);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      if (errno == EAGAIN) {
        if (now_ns() < spin_until) {
          ::sched_yield();
        } else if (wait_readable(fd_, reply_ms_) != 0) {
          close();
          return -EIO;
        }
        continue;
      }
      // ECONNRESET when the server hung up with requests unread: the
      // control buffer was never filled, so there is nothing to parse. If
      // it refused us, its notice is still queued behind the error.
      const int refused = errno == ECONNRESET ? refusal_waiting() : 0;
      close();
      return refused != 0 ? refused : -EIO;
    }

    int fd = -1;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&rmsg); c != nullptr; c = CMSG_NXTHDR(&rmsg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
          int received;
          std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          if (fd < 0) fd = received; else raw_close(received);
        }
      }
    }
    bool broken = got < static_cast<ssize_t>(sizeof rh) || (rmsg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
                  rh.magic != proto::kMagic ||
                  rh.length != static_cast<size_t>(got) - sizeof rh;
    if (broken) {
      raw_close(fd);
      close();
      return -EIO;
    }
    if (rh.id == proto::kRefusalId && rh.error < 0 && rh.error >= -4095) {
      raw_close(fd);
      close();
      return rh.error;
    }
    if (rh.id != h.id) {  // a stale reply: cannot happen on a serialised connection
      raw_close(fd);
      continue;
    }
    reply.len = rh.length;
    reply.fd = fd;
    reply.flags = rh.flags;
    if (rh.error != 0 && fd >= 0) {
      raw_close(fd);
      reply.fd = -1;
    }
    if (rh.error > 0 || rh.error < -4095) return -EIO;
    return rh.error;
  }
}

}  // namespace userfs::client

