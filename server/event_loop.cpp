#include "event_loop.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "userfs/protocol.hpp"

namespace userfs::server {
namespace {

// A paused listener is tried again after this long even if no client has
// left: descriptors may have been freed by files going away.
constexpr int kAcceptRetryMs = 100;

int64_t monotonic_sec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

}  // namespace

EventLoop::EventLoop(UniqueFd listener, Mounts& mounts, ServerStats& stats)
    : listener_(std::move(listener)), mounts_(mounts), stats_(stats) {}

int EventLoop::init() {
  own_uid_ = getuid();
  // Half the descriptors at most for connections; the other half hold
  // file data (a memfd per file) and replies' fds in flight.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < limits_.max_clients)
    limits_.max_clients = rl.rlim_cur / 2;
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (int rc = policy_.open_socket_to_others(listener_.get()); rc < 0) return rc;
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) return -errno;
  handles_.watch_with(epoll_.get());
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

namespace {
// How long the server keeps polling after it last had work.
constexpr long kSpinNs = 50 * 1000;
long now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}
}  // namespace

int EventLoop::run() {
  epoll_event events[64];
  long last_work = 0;
  for (;;) {
    // Right after serving, poll without sleeping for a moment (yielding
    // the CPU in between): a client's next request usually follows at once,
    // and waking from sleep across CPUs costs tens of microseconds on a
    // virtual machine. An idle server sleeps.
    int n = 0;
    while (last_work != 0 && now_ns() - last_work < kSpinNs) {
      n = epoll_wait(epoll_.get(), events, 64, 0);
      if (n != 0) break;
      sched_yield();
    }
    if (n == 0) n = epoll_wait(epoll_.get(), events, 64, accept_paused_ ? kAcceptRetryMs : -1);
    last_work = n > 0 ? now_ns() : 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    // Busy clients keep epoll_wait from timing out: the pause is measured.
    if (accept_paused_ && now_ns() - accept_paused_at_ >= kAcceptRetryMs * 1000000L) pause_accepting(false);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == signals_.get()) {
        signalfd_siginfo si{};
        if (read(fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) return 0;
      } else if (fd == listener_.get()) {
        accept_clients();
      } else if (!handles_.on_event(fd, events[i].events)) {
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
      if (errno == EMFILE || errno == ENFILE) {
        if (refuse_one_without_fds()) continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        // Still no descriptor (or no memory): a level-triggered listener
        // would spin, so stop watching it for a while.
        if (!accept_paused_)
          std::fprintf(stderr, "userfsd: cannot accept clients for now: %s\n", strerrordesc_np(errno));
        pause_accepting(true);
      }
      return;
    }
    UniqueFd sock(fd);
    Session session;
    session.mounts = &mounts_;
    session.stats = &stats_;
    session.handles = &handles_;
    pid_t pid = 0;
    if (int rc = peer_cred(fd, session.cred, pid); rc < 0) continue;
    session.table = table_;
    session.table_for_client = session.cred.uid == own_uid_ || session.cred.uid == 0;
    int error = 0;
    if (const char* why = refusal(session.cred, error)) {
      log_refusal(why, session.cred, pid);
      send_refusal(fd, error);
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) continue;
    const uid_t uid = session.cred.uid;
    try {
      clients_.emplace(fd, std::make_unique<Connection>(std::move(sock), std::move(session)));
      if (uid != own_uid_) ++per_user_[uid];
    } catch (...) {
      epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      clients_.erase(fd);
      continue;  // sock closes itself if it was not moved from
    }
    ++stats_.clients;
  }
}

bool EventLoop::refuse_one_without_fds() {
  const int e = errno;
  if (!spare_fd_.valid()) {
    errno = e;
    return false;
  }
  spare_fd_.reset();
  const int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) ::close(fd);
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Cred nobody;
  log_refusal("the server is out of file descriptors", nobody, 0);
  errno = e;
  return fd >= 0 && spare_fd_.valid();
}

const char* EventLoop::refusal(const Cred& cred, int& error) const {
  // Only the server's own user by default: it serves that user's files
  // with that user's authority. Others only as --allow-users says.
  error = EACCES;
  if (!policy_.admits(cred, own_uid_)) return "uid not allowed";
  error = EUSERS;
  if (clients_.size() >= limits_.max_clients) return "too many clients";
  if (cred.uid != own_uid_) {
    auto it = per_user_.find(cred.uid);
    if (it != per_user_.end() && it->second >= limits_.max_per_user) return "too many clients of this uid";
  }
  error = 0;
  return nullptr;
}

void EventLoop::send_refusal(int fd, int error) {
  proto::ReplyHeader h{};
  h.magic = proto::kMagic;
  h.op = static_cast<uint16_t>(proto::Op::hello);
  h.error = -error;
  h.id = proto::kRefusalId;
  // Best effort: a peer that cannot take one datagram learns nothing more.
  (void)::send(fd, &h, sizeof h, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void EventLoop::log_refusal(const char* why, const Cred& cred, pid_t pid) {
  const int64_t now = monotonic_sec();
  if (now == last_refusal_log_) {
    ++refusals_unlogged_;
    return;
  }
  last_refusal_log_ = now;
  char who[64] = "a client";
  if (pid > 0) std::snprintf(who, sizeof who, "a client of uid %u (pid %d)", cred.uid, pid);
  if (refusals_unlogged_ > 0)
    std::fprintf(stderr, "userfsd: refused %s: %s (and %llu more in the second before)\n", who, why,
                 static_cast<unsigned long long>(refusals_unlogged_));
  else
    std::fprintf(stderr, "userfsd: refused %s: %s\n", who, why);
  refusals_unlogged_ = 0;
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
  auto it = clients_.find(fd);
  if (it != clients_.end()) {
    forget_client(*it->second);
    clients_.erase(it);
    --stats_.clients;
  }
  if (accept_paused_) pause_accepting(false);
}

void EventLoop::forget_client(const Connection& c) {
  if (c.uid() == own_uid_) return;
  auto it = per_user_.find(c.uid());
  if (it != per_user_.end() && --it->second == 0) per_user_.erase(it);
}

void EventLoop::pause_accepting(bool paused) {
  if (paused == accept_paused_) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener_.get();
  epoll_ctl(epoll_.get(), paused ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, listener_.get(), &ev);
  accept_paused_ = paused;
  if (paused) accept_paused_at_ = now_ns();
}

}  // namespace userfs::server
