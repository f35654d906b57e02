#include "handles.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <new>

namespace userfs::server {
namespace {

constexpr uint64_t kMaxOffset = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Bytes past the shim taken per wake-up: a client that keeps writing
// cannot hold the server, and the rest wakes it again.
constexpr int kDrainRounds = 16;

// An id no one can guess (never 0).
uint64_t fresh_id() {
  uint64_t id = 0;
  while (id == 0) {
    if (getrandom(&id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) id = 0;
  }
  return id;
}

}  // namespace

HandleTable::~HandleTable() {
  for (auto& [id, f] : files_) {
    drain(f);
    f.backend->release(f.backend_ino, f.handle);
  }
}

int HandleTable::open(userfs::Backend& backend, uint64_t ino, uint64_t backend_ino, uint64_t backend_handle,
                      uint32_t open_flags, UniqueFd& placeholder, uint64_t& id) {
  drain_file(ino);
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) < 0) {
    const int err = errno;
    backend.release(backend_ino, backend_handle);
    return -err;
  }
  UniqueFd kept(ends[0]), client(ends[1]);
  // Nothing ever comes from the server's end: a read past the shim sees
  // the end of the file instead of waiting forever.
  shutdown(kept.get(), SHUT_WR);
  fcntl(kept.get(), F_SETFL, O_NONBLOCK);
  try {
    do {
      id = fresh_id();
    } while (files_.count(id) != 0);
    OpenFile f;
    f.backend = &backend;
    f.ino = ino;
    f.backend_ino = backend_ino;
    f.handle = backend_handle;
    f.access = open_flags & proto::kOpenAccMode;
    f.append = (open_flags & proto::kOpenAppend) != 0;
    const int kept_fd = kept.get();
    f.kept = std::move(kept);
    files_.emplace(id, std::move(f));  // first: forget() starts from it
    by_fd_.emplace(kept_fd, id);
    by_ino_.emplace(ino, id);
    if (epoll_fd_ >= 0) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.fd = kept_fd;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, kept_fd, &ev) < 0) {
        const int err = errno;
        close_file(id);
        return -err;
      }
    }
  } catch (const std::bad_alloc&) {
    forget(id);
    backend.release(backend_ino, backend_handle);
    return -ENOMEM;
  }
  placeholder = std::move(client);
  return 0;
}

HandleTable::OpenFile* HandleTable::find(uint64_t id) {
  auto it = files_.find(id);
  if (it == files_.end()) return nullptr;
  // What the client wrote past the shim came first.
  drain_file(it->second.ino);
  return &it->second;
}

void HandleTable::drain_file(uint64_t ino) {
  auto [first, last] = by_ino_.equal_range(ino);
  for (auto it = first; it != last; ++it) {
    auto f = files_.find(it->second);
    if (f != files_.end()) drain(f->second);
  }
}

void HandleTable::forget(uint64_t id) {
  auto it = files_.find(id);
  if (it == files_.end()) return;
  by_fd_.erase(it->second.kept.get());
  auto [first, last] = by_ino_.equal_range(it->second.ino);
  for (auto i = first; i != last; ++i) {
    if (i->second == id) {
      by_ino_.erase(i);
      break;
    }
  }
  files_.erase(it);
}

bool HandleTable::readable(const OpenFile& f) const {
  return f.access == 0 || f.access == 2;
}

bool HandleTable::writable(const OpenFile& f) const {
  return f.access == 1 || f.access == 2;
}

void HandleTable::drain(OpenFile& f) {
  char buf[16 * 1024];
  for (int round = 0; round < kDrainRounds; ++round) {
    const ssize_t n = recv(f.kept.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return;
    // Nobody hears the result: like a write to a file the program
    // forgot to check.
    uint64_t written = 0;
    if (writable(f)) (void)write_at(f, false, 0, std::string_view(buf, static_cast<size_t>(n)), written);
  }
}

int HandleTable::write_at(OpenFile& f, bool at_offset, uint64_t offset, std::string_view data, uint64_t& written) {
  uint64_t where = at_offset ? offset : f.offset;
  if (f.append) {
    proto::Attr attr{};
    if (int rc = f.backend->getattr(f.backend_ino, attr); rc < 0) return rc;
    where = attr.size;
  }
  if (where > kMaxOffset || data.size() > kMaxOffset - where) return -EFBIG;
  size_t taken = 0;
  if (int rc = f.backend->write(f.backend_ino, f.handle, where, data, taken); rc < 0) return rc;
  if (taken > data.size()) return -EIO;  // a backend bug: never report more than asked
  written = taken;
  if (!at_offset) f.offset = where + taken;
  return 0;
}

int HandleTable::read(const proto::ReadReq& req, std::string& out) {
  OpenFile* f = find(req.handle);
  if (f == nullptr || !readable(*f)) return -EBADF;
  const bool at = (req.flags & proto::kIoAtOffset) != 0;
  const uint64_t where = at ? req.offset : f->offset;
  if (where > kMaxOffset) return -EINVAL;
  out.clear();
  if (int rc = f->backend->read(f->backend_ino, f->handle, where, req.size, out); rc < 0) return rc;
  if (out.size() > req.size) out.resize(req.size);
  if (!at) f->offset = where + out.size();
  return 0;
}

int HandleTable::write(const proto::WriteReq& req, std::string_view data, uint64_t& written) {
  OpenFile* f = find(req.handle);
  if (f == nullptr || !writable(*f)) return -EBADF;
  const bool at = (req.flags & proto::kIoAtOffset) != 0;
  if (at && req.offset > kMaxOffset) return -EINVAL;
  return write_at(*f, at, req.offset, data, written);
}

int HandleTable::lseek(const proto::LseekReq& req, uint64_t& offset) {
  OpenFile* f = find(req.handle);
  if (f == nullptr) return -EBADF;
  uint64_t size = 0;
  if (req.whence != SEEK_SET && req.whence != SEEK_CUR) {
    proto::Attr attr{};
    if (int rc = f->backend->getattr(f->backend_ino, attr); rc < 0) return rc;
    size = attr.size;
  }
  // Sums in 128 bits: any int64 offset from any base, checked once.
  __int128 target;
  switch (req.whence) {
    case SEEK_SET: target = req.offset; break;
    case SEEK_CUR: target = static_cast<__int128>(f->offset) + req.offset; break;
    case SEEK_END: target = static_cast<__int128>(size) + req.offset; break;
    case SEEK_DATA:
    case SEEK_HOLE:
      // No holes: data up to the end, the one hole after it.
      if (req.offset < 0 || static_cast<uint64_t>(req.offset) >= size) return -ENXIO;
      target = req.whence == SEEK_DATA ? req.offset : static_cast<__int128>(size);
      break;
    default: return -EINVAL;
  }
  if (target < 0 || target > static_cast<__int128>(kMaxOffset)) return -EINVAL;
  f->offset = static_cast<uint64_t>(target);
  offset = f->offset;
  return 0;
}

bool HandleTable::on_event(int fd, uint32_t events) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return false;
  const uint64_t id = it->second;
  OpenFile& f = files_.at(id);
  drain(f);
  if ((events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) != 0) close_file(id);
  return true;
}

void HandleTable::poll_hangups() {
  std::vector<pollfd> fds;
  for (const auto& [fd, id] : by_fd_) fds.push_back(pollfd{fd, POLLIN | POLLRDHUP, 0});
  if (fds.empty() || poll(fds.data(), fds.size(), 0) <= 0) return;
  for (const pollfd& p : fds) {
    uint32_t events = 0;
    if ((p.revents & POLLIN) != 0) events |= EPOLLIN;
    if ((p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0) events |= EPOLLHUP;
    if (events != 0) on_event(p.fd, events);
  }
}

void HandleTable::close_file(uint64_t id) {
  auto it = files_.find(id);
  if (it == files_.end()) return;
  OpenFile& f = it->second;
  if (epoll_fd_ >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, f.kept.get(), nullptr);
  userfs::Backend* backend = f.backend;
  const uint64_t ino = f.backend_ino, handle = f.handle;
  forget(id);
  backend->release(ino, handle);
}

// --- requests ----------------------------------------------------------------

namespace {

template <class T>
void put(std::vector<unsigned char>& payload, const T& v) {
  const auto* p = reinterpret_cast<const unsigned char*>(&v);
  payload.assign(p, p + sizeof(T));
}

}  // namespace

int serve_read(HandleTable& table, wire::Reader& r, std::vector<unsigned char>& payload) {
  proto::ReadReq req{};
  if (!r.fixed(req)) return -EBADMSG;
  if (!r.done()) return -EBADMSG;
  if ((req.flags & ~proto::kIoAtOffset) != 0 || req.size > proto::kMaxIo) return -EINVAL;
  std::string data;
  if (int rc = table.read(req, data); rc < 0) return rc;
  payload.assign(data.begin(), data.end());
  return 0;
}

int serve_write(HandleTable& table, wire::Reader& r, std::vector<unsigned char>& payload) {
  proto::WriteReq req{};
  std::string_view data;
  if (!r.fixed(req)) return -EBADMSG;
  if ((req.flags & ~proto::kIoAtOffset) != 0 || req.size > proto::kMaxIo) return -EINVAL;
  if (!r.bytes(req.size, data) || !r.done()) return -EBADMSG;
  proto::WriteRep rep{};
  if (int rc = table.write(req, data, rep.written); rc < 0) return rc;
  put(payload, rep);
  return 0;
}

int serve_lseek(HandleTable& table, wire::Reader& r, std::vector<unsigned char>& payload) {
  proto::LseekReq req{};
  if (!r.fixed(req)) return -EBADMSG;
  if (!r.done()) return -EBADMSG;
  if (req.pad != 0) return -EINVAL;
  proto::LseekRep rep{};
  if (int rc = table.lseek(req, rep.offset); rc < 0) return rc;
  put(payload, rep);
  return 0;
}

}  // namespace userfs::server
