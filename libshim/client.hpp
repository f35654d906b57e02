// The connection to userfsd: connect and handshake, one request and its
// reply at a time, fds received with SCM_RIGHTS. Used by the shim (one
// connection per process) and by tools. Callers serialise use of one
// Connection; it holds no lock itself.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "userfs/protocol.hpp"

namespace userfs::client {

// One request: a fixed body and up to two strings appended after it.
struct Request {
  proto::Op op;
  const void* body = nullptr;
  size_t body_len = 0;
  const char* s1 = nullptr;
  size_t s1_len = 0;
  const char* s2 = nullptr;
  size_t s2_len = 0;
  // The namespace generation (session.hpp) the request's inode numbers
  // belong to; 0 when it names none (paths from the root). The session
  // refuses to send it to another namespace; Connection ignores it.
  uint32_t generation = 0;
  // The mount (the client's index) a kBaseRoot base means.
  uint32_t mount = 0;
};

// The mount prefixes a connection names in its hello, so the server knows
// which of its mounts each one is.
struct MountNames {
  const char* const* prefixes = nullptr;
  const size_t* lengths = nullptr;
  uint32_t count = 0;
};

// Where the reply's payload goes.
struct ReplyBuffer {
  void* data = nullptr;
  size_t cap = 0;
  size_t len = 0;   // payload bytes received
  int fd = -1;      // the fd the reply carried, or -1
  uint16_t flags = 0;  // ReplyHeader.flags (proto::kReplyRedirect)
  bool fd_cloexec = false;  // receive the fd with FD_CLOEXEC set
  uint32_t generation = 0;  // set by the session: the namespace that answered
};

// How long to wait for the server before giving up (milliseconds).
struct Timeouts {
  int connect_ms = 2000;
  int reply_ms = 30000;
};

class Connection {
 public:
  // Connects to the socket at `path` and says hello. Returns 0, or
  // -ENOTCONN when no server answers there, -EPROTONOSUPPORT on a version
  // mismatch, -EIO on a broken exchange.
  int connect(const char* path, const Timeouts& t, const MountNames& mounts = {});

  // Sends one request and waits for its reply. Returns the server's answer
  // (0 or a negative errno); -EPIPE if the request could not be sent (it
  // was not delivered); -EIO if the exchange broke after it was sent. On
  // either the connection is closed; the next call may reconnect.
  int call(const Request& req, ReplyBuffer& reply);

  // Closes the socket.
  void close();
  // After fork: the socket is shared with the parent; drop it without
  // disturbing the parent's use of the same socket.
  void forget_after_fork() { close(); }

  // Forgets the socket without closing it (its number now belongs to the
  // program).
  void abandon() { fd_ = -1; }

  // The fd of the server's shared lookup table from the hello (ours to
  // close from then on), or -1.
  int take_table_fd();
  // The server's pid as our pid namespace numbers it (0: not visible).
  pid_t server_pid() const;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const proto::HelloRep& hello() const { return hello_; }
  // The server's mount serving the client's mount `index` (from the hello).
  uint32_t server_mount(uint32_t index) const { return index < hello_.mount_count ? server_mounts_[index] : 0; }

 private:
  int refusal_waiting() const;
  int fd_ = -1;
  int table_fd_ = -1;
  uint64_t next_id_ = 1;
  int reply_ms_ = 30000;
  proto::HelloRep hello_{};
  uint32_t server_mounts_[proto::kMaxMounts] = {};
};

// Closes an fd with the raw system call, bypassing any interposed close().
void raw_close(int fd);

}  // namespace userfs::client
