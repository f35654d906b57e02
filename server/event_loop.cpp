#include "event_loop.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace userfs::server {

EventLoop::EventLoop(UniqueFd listener, Namespace& ns, ServerStats& stats)
    : listener_(std::move(listener)), ns_(ns), stats_(stats) {}

int EventLoop::init() {
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) return -errno;
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  signals_.reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signals_.valid()) return -errno;
  for (int fd : {listener_.get(), signals_.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return -errno;
  }
  return 0;
}

int EventLoop::run() {
  epoll_event events[64];
  for (;;) {
    const int n = epoll_wait(epoll_.get(), events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == signals_.get()) {
        signalfd_siginfo si{};
        if (read(fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) return 0;
      } else if (fd == listener_.get()) {
        accept_clients();
      } else {
        on_client(fd, events[i].events);
      }
    }
  }
}

void EventLoop::accept_clients() {
  for (;;) {
    const int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: a level-triggered listener would spin, so stop
        // watching it until a client leaves.
        std::fprintf(stderr, "userfsd: cannot accept a client: %s\n", strerrordesc_np(errno));
        pause_accepting(true);
      }
      return;
    }
    UniqueFd sock(fd);
    Session session;
    session.ns = &ns_;
    session.stats = &stats_;
    pid_t pid = 0;
    if (int rc = peer_cred(fd, session.cred, pid); rc < 0) continue;
    // Only the server's own user may use it: it serves that user's files
    // with that user's authority.
    if (session.cred.uid != getuid()) {
      std::fprintf(stderr, "userfsd: refused a client of uid %u (pid %d)\n", session.cred.uid, pid);
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) continue;
    try {
      clients_.emplace(fd, std::make_unique<Connection>(std::move(sock), std::move(session)));
    } catch (...) {
      epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      continue;  // sock closes itself if it was not moved from
    }
    ++stats_.clients;
  }
}

void EventLoop::on_client(int fd, uint32_t events) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  Connection& c = *it->second;
  ConnState st = ConnState::open;
  if ((events & EPOLLOUT) != 0) st = c.on_writable();
  // Read before honouring a hangup: the last requests may still be waiting.
  if (st == ConnState::open && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) st = c.on_readable();
  if (st == ConnState::closed) {
    close_client(fd);
    return;
  }
  if (c.has_queued() != c.output_watched) watch_output(c, c.has_queued());
}

void EventLoop::watch_output(Connection& c, bool on) {
  c.output_watched = on;
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.fd = c.fd();
  epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd(), &ev);
}

void EventLoop::close_client(int fd) {
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  if (clients_.erase(fd) != 0) --stats_.clients;
  if (accept_paused_) pause_accepting(false);
}

void EventLoop::pause_accepting(bool paused) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener_.get();
  epoll_ctl(epoll_.get(), paused ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, listener_.get(), &ev);
  accept_paused_ = paused;
}

}  // namespace userfs::server
