// The client's side of the shared lookup table (include/userfs/dentry_table.hpp):
// the server's namespace mapped read-only, so stat, access, fstat and opens
// for reading of existing files are answered without a round trip, with
// the server's own answers (include/userfs/table_walk.hpp).
//
// Every function answers only when the table can answer for certain, and
// otherwise returns table::kAsk: the caller then asks the server as it
// always did. The table belongs to one connection's server and
// credentials: adopted at connect, forgotten when the credentials change,
// ignored once its server is gone or the namespace generation moved on.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "route.hpp"
#include "userfs/protocol.hpp"
#include "userfs/table_walk.hpp"

namespace userfs::shared_table {

using table::kAsk;

// The hello brought `fd` (the table, read-only; ours to close) from the
// server `server_pid` (0: not visible from here, so no opens by table) in
// namespace generation `generation`. Called with the connection lock held.
void adopt(int fd, pid_t server_pid, uint32_t generation);
// The process's credentials changed: answer nothing until the next adopt.
void forget();

// stat/lstat/statx: the attributes of what t names (following a final
// symlink or not). 0, -errno or kAsk.
int lookup(const route::Target& t, bool follow, proto::Attr& out);
// fstat: the attributes of inode `ino` of generation `generation`.
int getattr(uint64_t ino, uint32_t generation, proto::Attr& out);
// fstat of `fd`, a kernel fd of that inode's data: as getattr, and for a
// file open for writing somewhere (whose size and times the table cannot
// know) the size, blocks and times the server would read from the data,
// read from `fd` itself.
int getattr_of_data(int fd, uint64_t ino, uint32_t generation, proto::Attr& out);
// readlink: up to `size` bytes of the target of the symlink t names into
// `buf`, their count in *len. 0, -errno or kAsk.
int readlink(const route::Target& t, char* buf, size_t size, size_t* len);
// access/faccessat: mode is R_OK|X_OK|F_OK (W_OK is asked: the server
// knows which mounts are read-only).
int access(const route::Target& t, int mode, bool follow);
// open of an existing regular file for reading, with `flags` the program's
// (only O_RDONLY with O_CLOEXEC, O_NONBLOCK, O_NOCTTY, O_LARGEFILE and
// O_NOFOLLOW are taken; anything else is kAsk). 0 with the new fd in *fd
// and the file's attributes (and the generation they belong to) in
// `attr`/`*generation`, -errno, or kAsk.
int open(const route::Target& t, int flags, int* fd, proto::Attr& attr, uint32_t* generation);

}  // namespace userfs::shared_table
