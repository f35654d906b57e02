// The server's one thread: epoll over the listening socket, a signalfd for
// SIGTERM/SIGINT, and every client connection. Level-triggered, so a
// connection that stops after a batch is simply woken again.
#pragma once

#include <memory>
#include <unordered_map>

#include "connection.hpp"
#include "dispatch.hpp"
#include "handles.hpp"
#include "mounts.hpp"
#include "namespace.hpp"
#include "peer_policy.hpp"
#include "unique_fd.hpp"

namespace userfs::server {

// How many connections the server keeps at once. Each costs a descriptor
// and a little memory, and a stalled one costs nothing else; these caps
// are what stop a flood of them.
struct ClientLimits {
  size_t max_clients = 4096;  // also at most half of RLIMIT_NOFILE: the rest is for file data
  // Per uid other than the server's own, so no admitted user can take the
  // owner's share.
  size_t max_per_user = 1024;
};

class DentryTable;

class EventLoop {
 public:
  // `listener` is a bound, listening, non-blocking SOCK_SEQPACKET socket.
  EventLoop(UniqueFd listener, Mounts& mounts, ServerStats& stats);

  // Before init(): who may connect, and how many at once.
  void set_peer_policy(PeerPolicy policy) { policy_ = std::move(policy); }
  void set_client_limits(ClientLimits limits) { limits_ = limits; }
  // The shared lookup table clients get at hello (null: none). Only peers
  // with our own uid (or root) get it: it shows every name and attribute,
  // past directories another user could not search.
  void set_table(DentryTable* table) { table_ = table; }

  // Creates the epoll set and a signalfd for SIGTERM and SIGINT, which the
  // caller must already have blocked. Returns 0 or -errno.
  int init();
  // Serves until SIGTERM or SIGINT: returns 0, or -errno if epoll failed.
  int run();

 private:
  void accept_clients();
  // Out of descriptors: takes the oldest pending connection with the spare
  // fd and hangs it up, so its client hears "no" at once and the listener
  // does not stay readable forever. False if even that failed.
  bool refuse_one_without_fds();
  // Whether a new client with these credentials fits: nullptr, or why not
  // (and the errno its refusal notice carries).
  const char* refusal(const Cred& cred, int& error) const;
  // Tells a refused peer why (proto::kRefusalId) before it is hung up.
  static void send_refusal(int fd, int error);
  // At most one line a second, however many are refused.
  void log_refusal(const char* why, const Cred& cred, pid_t pid);
  void forget_client(const Connection& c);
  void on_client(int fd, uint32_t events);
  void close_client(int fd);
  void watch_output(Connection& c, bool on);
  void pause_accepting(bool paused);

  UniqueFd listener_;
  UniqueFd epoll_;
  UniqueFd signals_;
  Mounts& mounts_;
  ServerStats& stats_;
  HandleTable handles_;  // open handle files, their kept ends in the epoll set
  std::unordered_map<int, std::unique_ptr<Connection>> clients_;
  std::unordered_map<uid_t, size_t> per_user_;
  PeerPolicy policy_;
  ClientLimits limits_;
  uid_t own_uid_ = 0;
  DentryTable* table_ = nullptr;
  UniqueFd spare_fd_;
  bool accept_paused_ = false;
  long accept_paused_at_ = 0;  // now_ns() when it was paused
  int64_t last_refusal_log_ = 0;
  uint64_t refusals_unlogged_ = 0;
};

}  // namespace userfs::server
