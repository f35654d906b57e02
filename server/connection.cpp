// Receiving requests and sending replies on one client socket. Whatever a
// peer sends, we read at most kMaxMessage bytes into our own buffer, close
// any fds it tried to pass, and answer or hang up; nothing here throws.
#include "connection.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace userfs::server {
namespace {

// The server is single threaded: one receive buffer serves every connection.
alignas(8) unsigned char g_recv_buf[userfs::proto::kMaxMessage];

// Closes every fd a peer passed us; we never accept any.
void close_passed_fds(msghdr& msg) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      ::close(fd);
    }
  }
}

}  // namespace

Connection::Connection(UniqueFd sock, Session session) : sock_(std::move(sock)), session_(std::move(session)) {}

ConnState Connection::on_readable() {
  for (int i = 0; i < kBatch; ++i) {
    iovec iov{g_recv_buf, sizeof g_recv_buf};
    alignas(cmsghdr) unsigned char control[CMSG_SPACE(16 * sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(sock_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return ConnState::open;
      return ConnState::closed;
    }
    if (n == 0) return ConnState::closed;  // SEQPACKET: zero bytes means the peer hung up
    const size_t len = static_cast<size_t>(n);
    ConnState st;
    if (msg.msg_controllen > 0 || (msg.msg_flags & MSG_CTRUNC) != 0) {
      close_passed_fds(msg);
      st = deliver(error_reply(g_recv_buf, len, -EBADMSG));
    } else if ((msg.msg_flags & MSG_TRUNC) != 0) {
      st = deliver(error_reply(g_recv_buf, len, -EMSGSIZE));
    } else {
      st = serve(g_recv_buf, len);
    }
    if (st == ConnState::closed) return st;
  }
  return ConnState::open;
}

ConnState Connection::serve(const void* msg, size_t len) {
  return deliver(dispatch(session_, msg, len));
}

// Sends now if nothing is waiting ahead of it, else queues (bounded).
ConnState Connection::deliver(Reply&& reply) {
  const AfterReply after = reply.after;
  if (reply.bytes.empty()) return ConnState::closed;  // dispatch could not even build a reply
  if (queue_.empty()) {
    const int rc = send_reply(reply);
    if (rc == 0) return after == AfterReply::close ? ConnState::closed : ConnState::open;
    if (rc != -EAGAIN) return ConnState::closed;
  }
  const size_t fds = reply.fd.valid() ? 1 : 0;
  if (queue_.size() >= kMaxQueuedReplies || queued_bytes_ + reply.bytes.size() > kMaxQueuedBytes ||
      queued_fds_ + fds > kMaxQueuedFds)
    return ConnState::closed;  // the client does not read its replies
  try {
    queue_.push_back(std::move(reply));
  } catch (...) {
    return ConnState::closed;
  }
  queued_bytes_ += queue_.back().bytes.size();
  queued_fds_ += fds;
  return ConnState::open;
}

ConnState Connection::on_writable() {
  while (!queue_.empty()) {
    const int rc = send_reply(queue_.front());
    if (rc == -EAGAIN) return ConnState::open;
    if (rc < 0) return ConnState::closed;
    const bool close_after = queue_.front().after == AfterReply::close;
    queued_bytes_ -= queue_.front().bytes.size();
    if (queue_.front().fd.valid()) --queued_fds_;
    queue_.pop_front();  // closes our copy of any fd it carried
    if (close_after) return ConnState::closed;
  }
  return ConnState::open;
}

int Connection::send_reply(const Reply& reply) {
  iovec iov{const_cast<unsigned char*>(reply.bytes.data()), reply.bytes.size()};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (reply.fd.valid()) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    const int fd = reply.fd.get();
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  for (;;) {
    if (sendmsg(sock_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return 0;
    if (errno == EINTR) continue;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? -EAGAIN : -errno;
  }
}

int peer_cred(int sock, Cred& out, pid_t& pid) {
  ucred uc{};
  socklen_t len = sizeof uc;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) return -errno;
  out.uid = uc.uid;
  out.gid = uc.gid;
  pid = uc.pid;
  out.groups.clear();
  // Supplementary groups as the kernel recorded them at connect (no race
  // with the peer exec'ing something else, unlike /proc/<pid>/status).
  gid_t groups[256];
  socklen_t glen = sizeof groups;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
    out.groups.assign(groups, groups + glen / sizeof(gid_t));
  return 0;
}

}  // namespace userfs::server
