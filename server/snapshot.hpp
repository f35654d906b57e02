// The snapshot: the whole namespace (Namespace::image) in one checksummed
// file, written atomically: a temporary file, fsync, rename over the old
// one, fsync of the directory. It names the last journal record it
// includes, so recovery replays only what came after.
#pragma once

#include <cstdint>
#include <string>

namespace userfs::server {

inline constexpr char kSnapshotMagic[8] = {'U', 'S', 'F', 'S', 'S', 'N', 'P', '1'};

struct SnapshotHeader {
  char magic[8];
  uint64_t instance;
  uint64_t last_seq;  // the last journal record included
  int64_t written_sec;
  uint64_t body_len;
  uint32_t body_crc;
  uint32_t header_crc;  // of everything above
};
static_assert(sizeof(SnapshotHeader) == 48);

struct Snapshot {
  uint64_t instance = 0;
  uint64_t last_seq = 0;
  int64_t written_sec = 0;
  std::string body;  // changes.hpp items
};

// 0 or -errno. `name` is relative to `dir_fd`.
int write_snapshot(int dir_fd, const std::string& name, const Snapshot& snap);

// 0; -ENOENT if there is none; -EBADMSG with `why` set if it is damaged;
// another -errno if it cannot be read.
int read_snapshot(int dir_fd, const std::string& name, Snapshot& snap, std::string& why);

}  // namespace userfs::server
