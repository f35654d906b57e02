// One client connection: a non-blocking SOCK_SEQPACKET socket, its
// dispatcher session, and the replies it has not read yet.
#pragma once

#include <cstddef>
#include <deque>

#include "dispatch.hpp"
#include "unique_fd.hpp"

namespace userfs::server {

// A client that leaves this much unread is dropped rather than buffered
// without bound.
inline constexpr size_t kMaxQueuedBytes = 1u << 20;
inline constexpr size_t kMaxQueuedReplies = 256;
// Queued replies that carry an fd (opens) hold a server descriptor each:
// fewer of those, so one client cannot run the server out of fds.
inline constexpr size_t kMaxQueuedFds = 16;
// Datagrams served per wakeup, so one busy client cannot starve the rest.
inline constexpr int kBatch = 32;

enum class ConnState : uint8_t { open, closed };

class Connection {
 public:
  Connection(UniqueFd sock, Session session);

  int fd() const { return sock_.get(); }
  uid_t uid() const { return session_.cred.uid; }
  bool has_queued() const { return !queue_.empty(); }

  // Reads and serves up to kBatch waiting datagrams. `closed`: the peer
  // hung up, misbehaved past recovery, or must be dropped; the caller then
  // destroys the connection.
  ConnState on_readable();
  // Sends queued replies until the socket would block.
  ConnState on_writable();

  // Whether the event loop asked epoll for EPOLLOUT on this socket; kept
  // here so it changes the registration only when the queue empties or fills.
  bool output_watched = false;

 private:
  ConnState serve(const void* msg, size_t len);
  ConnState deliver(Reply&& reply);
  // 0 sent, -EAGAIN would block, other -errno: the peer is gone.
  int send_reply(const Reply& reply);

  UniqueFd sock_;
  Session session_;
  std::deque<Reply> queue_;
  size_t queued_bytes_ = 0;
  size_t queued_fds_ = 0;
};

// Reads the peer's credentials (SO_PEERCRED, SO_PEERGROUPS). Returns 0 or
// -errno; `pid` gets the peer's pid.
int peer_cred(int sock, Cred& out, pid_t& pid);

}  // namespace userfs::server
