// Open handle files: files whose backend serves the data itself
// (userfs::Opened::handle) instead of giving a kernel fd.
//
// Each open is one record, the server's stand-in for an open file
// description: which backend and inode, the backend's handle, the offset,
// the access mode and O_APPEND. The client gets a placeholder fd, one end
// of a socket pair whose other end the table keeps: fd numbers stay real
// kernel fds (no clash with the program's), fork, dup and exec share the
// record (and so the offset) as they would share a real file's, and when
// the last copy in the last process is closed the kept end hangs up and the
// backend hears release(). Clients name a record by a random 64-bit id.
//
// A program that writes to the placeholder past the shim (stdio's internal
// write, a statically linked program) reaches the kept end: those bytes are
// applied at the offset like a write(), before any later request on the
// same file. Reads past the shim see the end of the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "unique_fd.hpp"
#include "userfs/backend.hpp"
#include "userfs/protocol.hpp"
#include "userfs/wire.hpp"

namespace userfs::server {

class HandleTable {
 public:
  HandleTable() = default;
  HandleTable(const HandleTable&) = delete;
  HandleTable& operator=(const HandleTable&) = delete;
  // Releases every file still open: the backend hears release() for each.
  ~HandleTable();

  // The event loop's epoll set, where every kept end is watched from then
  // on. Without one (tests) hang-ups are found by poll_hangups().
  void watch_with(int epoll_fd) { epoll_fd_ = epoll_fd; }

  // Records an open of `ino` (the wire's number; `backend_ino` the
  // backend's own) that `backend` answered with `backend_handle`.
  // open_flags are the request's proto::kOpen* bits. Fills the client's
  // placeholder and the record's id. On failure (-errno: EMFILE, ENOMEM)
  // the backend's handle is released.
  int open(userfs::Backend& backend, uint64_t ino, uint64_t backend_ino, uint64_t backend_handle,
           uint32_t open_flags, UniqueFd& placeholder, uint64_t& id);

  // An epoll event on fd: true if fd is a kept end (bytes written past
  // the shim are applied; a hang-up releases the file).
  bool on_event(int fd, uint32_t events);
  // Without an epoll set: checks every kept end at once.
  void poll_hangups();

  // Each returns 0 or -errno. EBADF for an unknown id or the wrong access
  // mode.
  int read(const proto::ReadReq& req, std::string& out);
  int write(const proto::WriteReq& req, std::string_view data, uint64_t& written);
  int lseek(const proto::LseekReq& req, uint64_t& offset);

  size_t open_count() const { return files_.size(); }

 private:
  struct OpenFile {
    userfs::Backend* backend = nullptr;
    uint64_t ino = 0;          // on the wire
    uint64_t backend_ino = 0;  // the backend's
    uint64_t handle = 0;       // the backend's
    uint64_t offset = 0;
    uint32_t access = 0;  // proto::kOpenAccMode bits
    bool append = false;
    UniqueFd kept;        // the placeholder's other end
  };

  OpenFile* find(uint64_t id);
  bool readable(const OpenFile& f) const;
  bool writable(const OpenFile& f) const;
  // Applies bytes the client wrote to the placeholder past the shim.
  void drain(OpenFile& f);
  // Every open of inode `ino`: a request on one must see what a program
  // wrote past the shim to another first (bash's `echo a >f; cat f` writes
  // through one placeholder, closes it and opens the file anew at once).
  void drain_file(uint64_t ino);
  // Writes at the offset (or the end, with O_APPEND); advances it unless
  // at_offset.
  int write_at(OpenFile& f, bool at_offset, uint64_t offset, std::string_view data, uint64_t& written);
  void close_file(uint64_t id);
  // Drops the record from the maps (its kept end closes).
  void forget(uint64_t id);

  std::unordered_map<uint64_t, OpenFile> files_;
  std::unordered_map<int, uint64_t> by_fd_;        // kept end -> id
  std::unordered_multimap<uint64_t, uint64_t> by_ino_;  // wire inode -> ids
  int epoll_fd_ = -1;
};

// The read, write and lseek requests: decode, validate, serve. Each
// returns 0 or -errno and fills `payload` with the reply's body.
int serve_read(HandleTable& table, wire::Reader& r, std::vector<unsigned char>& payload);
int serve_write(HandleTable& table, wire::Reader& r, std::vector<unsigned char>& payload);
int serve_lseek(HandleTable& table, wire::Reader& r, std::vector<unsigned char>& payload);

}  // namespace userfs::server
