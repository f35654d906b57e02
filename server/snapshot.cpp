#include "snapshot.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crc32c.hpp"
#include "unique_fd.hpp"

namespace userfs::server {
namespace {

int write_all(int fd, const char* p, size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EIO;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

int write_snapshot(int dir_fd, const std::string& name, const Snapshot& snap) {
  SnapshotHeader h{};
  std::memcpy(h.magic, kSnapshotMagic, sizeof h.magic);
  h.instance = snap.instance;
  h.last_seq = snap.last_seq;
  h.written_sec = snap.written_sec;
  h.body_len = snap.body.size();
  h.body_crc = crc32c(snap.body.data(), snap.body.size());
  h.header_crc = crc32c(&h, offsetof(SnapshotHeader, header_crc));

  const std::string tmp = name + ".tmp";
  ::unlinkat(dir_fd, tmp.c_str(), 0);
  UniqueFd fd(::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return -errno;
  int rc = write_all(fd.get(), reinterpret_cast<const char*>(&h), sizeof h);
  if (rc == 0) rc = write_all(fd.get(), snap.body.data(), snap.body.size());
  if (rc == 0 && ::fsync(fd.get()) < 0) rc = -errno;
  if (rc == 0 && ::renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) < 0) rc = -errno;
  if (rc == 0 && ::fsync(dir_fd) < 0) rc = -errno;
  if (rc < 0) ::unlinkat(dir_fd, tmp.c_str(), 0);
  return rc;
}

int read_snapshot(int dir_fd, const std::string& name, Snapshot& snap, std::string& why) {
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return -errno;
  struct stat st {};
  if (fstat(fd.get(), &st) < 0) return -errno;
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  SnapshotHeader h{};
  if (got < sizeof h) {
    why = "snapshot shorter than its header";
    return -EBADMSG;
  }
  std::memcpy(&h, data.data(), sizeof h);
  if (std::memcmp(h.magic, kSnapshotMagic, sizeof h.magic) != 0 ||
      h.header_crc != crc32c(&h, offsetof(SnapshotHeader, header_crc))) {
    why = "snapshot header damaged";
    return -EBADMSG;
  }
  if (h.body_len != got - sizeof h) {
    why = "snapshot holds " + std::to_string(got - sizeof h) + " body bytes, its header says " +
          std::to_string(h.body_len);
    return -EBADMSG;
  }
  if (crc32c(data.data() + sizeof h, h.body_len) != h.body_crc) {
    why = "snapshot body checksum mismatch";
    return -EBADMSG;
  }
  snap.instance = h.instance;
  snap.last_seq = h.last_seq;
  snap.written_sec = h.written_sec;
  snap.body = data.substr(sizeof h);
  return 0;
}

}  // namespace userfs::server
