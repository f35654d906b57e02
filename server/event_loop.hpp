// The server's one thread: epoll over the listening socket, a signalfd for
// SIGTERM/SIGINT, and every client connection. Level-triggered, so a
// connection that stops after a batch is simply woken again.
#pragma once

#include <memory>
#include <unordered_map>

#include "connection.hpp"
#include "dispatch.hpp"
#include "namespace.hpp"
#include "unique_fd.hpp"

namespace userfs::server {

class EventLoop {
 public:
  // `listener` is a bound, listening, non-blocking SOCK_SEQPACKET socket.
  EventLoop(UniqueFd listener, Namespace& ns, ServerStats& stats);

  // Creates the epoll set and a signalfd for SIGTERM and SIGINT, which the
  // caller must already have blocked. Returns 0 or -errno.
  int init();
  // Serves until SIGTERM or SIGINT: returns 0, or -errno if epoll failed.
  int run();

 private:
  void accept_clients();
  void on_client(int fd, uint32_t events);
  void close_client(int fd);
  void watch_output(Connection& c, bool on);
  void pause_accepting(bool paused);

  UniqueFd listener_;
  UniqueFd epoll_;
  UniqueFd signals_;
  Namespace& ns_;
  ServerStats& stats_;
  std::unordered_map<int, std::unique_ptr<Connection>> clients_;
  bool accept_paused_ = false;
};

}  // namespace userfs::server
