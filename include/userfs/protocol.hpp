// userfs wire protocol: the one contract between libuserfs.so and userfsd.
//
// Transport: AF_UNIX SOCK_SEQPACKET. One datagram is one message: a fixed
// header followed by `length` payload bytes. A request's payload is one fixed
// struct (below, named after its opcode) followed by the strings it names by
// length; strings carry no NUL. Replies carry a negative errno (0 = success)
// and, for OPEN, one file descriptor as SCM_RIGHTS ancillary data.
//
// All integers are native-endian: both ends run on the same host. Structs are
// fixed-width and padded explicitly; static_asserts pin their sizes.
//
// Changelog (a version is never reused; opcodes are never renumbered):
//   1  first version: hello, status, lookup, getattr, open, mkdir, unlink,
//      rename, readdir, access. Then, additively (an older server answers
//      ENOSYS): symlink, readlink, link, setattr, statfs, the xattr ops,
//      canonical, chdir, mknod; and redirect replies (kReplyRedirect).
//   2  hello reply carries the namespace instance; sync; status reports
//      the state directory (a longer StatusRep, then the directory's path);
//      a refused connection gets one reply with id 0 (kRefusalId).
//   3  several mounts per server, each with its own backend: hello names
//      the client's mount prefixes and the reply maps each to a server
//      mount; RequestHeader::mount says which mount a kBaseRoot base means;
//      inode numbers carry their mount in the top 8 bits (kMountShift);
//      statfs names an inode. Handle files: the open reply carries a
//      handle id and kOpenedHandle (the fd is then a placeholder); read,
//      write, lseek on handles.
//   4  the hello reply may carry the server's shared lookup table
//      (kHelloTable, one fd; include/userfs/dentry_table.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace userfs::proto {

inline constexpr uint32_t kMagic = 0x53465355;  // "USFS" little-endian
inline constexpr uint32_t kVersion = 4;

// Largest datagram either side sends. Requests are far smaller (two paths at
// most); readdir replies fill up to this size.
inline constexpr size_t kMaxMessage = 64 * 1024;
inline constexpr int kMaxSymlinks = 40;   // Linux's MAXSYMLINKS: symlinks one walk follows
inline constexpr size_t kMaxPath = 4096;  // PATH_MAX, including the NUL a C string would carry
inline constexpr size_t kMaxName = 255;   // NAME_MAX

// Inode number of the mount root.
inline constexpr uint64_t kRootIno = 1;
// `base` value meaning "resolve from the root" (paths are mount-relative):
// the root of the mount RequestHeader::mount names.
inline constexpr uint64_t kBaseRoot = 0;

// Inode numbers on the wire are unique across a server's mounts: the top
// 8 bits say which mount (0 for the first, whose numbers are its backend's
// own), the rest are the backend's number.
inline constexpr unsigned kMountShift = 56;
inline constexpr uint32_t kMaxMounts = 16;
inline constexpr uint32_t mount_of_ino(uint64_t ino) { return static_cast<uint32_t>(ino >> kMountShift); }

enum class Op : uint16_t {
  hello = 1,
  status = 2,
  lookup = 3,   // stat by path
  getattr = 4,  // stat by inode number
  open = 5,
  mkdir = 6,
  unlink = 7,   // also rmdir, with kUnlinkRemoveDir
  rename = 8,
  readdir = 9,
  access = 10,
  symlink = 11,
  readlink = 12,
  link = 13,
  setattr = 14,
  statfs = 15,
  getxattr = 16,
  setxattr = 17,
  listxattr = 18,
  removexattr = 19,
  canonical = 20,  // realpath, and the path of a directory for getcwd
  chdir = 21,      // a host directory that stands for a mount directory
  mknod = 22,
  sync = 23,       // make acknowledged namespace changes durable
  read = 24,       // data of a handle file (kOpenedHandle)
  write = 25,
  lseek = 26,
};
inline constexpr uint16_t kOpCount = 27;  // one past the highest opcode

inline const char* op_name(uint16_t op) {
  switch (static_cast<Op>(op)) {
    case Op::hello: return "hello";
    case Op::status: return "status";
    case Op::lookup: return "lookup";
    case Op::getattr: return "getattr";
    case Op::open: return "open";
    case Op::mkdir: return "mkdir";
    case Op::unlink: return "unlink";
    case Op::rename: return "rename";
    case Op::readdir: return "readdir";
    case Op::access: return "access";
    case Op::symlink: return "symlink";
    case Op::readlink: return "readlink";
    case Op::link: return "link";
    case Op::setattr: return "setattr";
    case Op::statfs: return "statfs";
    case Op::getxattr: return "getxattr";
    case Op::setxattr: return "setxattr";
    case Op::listxattr: return "listxattr";
    case Op::removexattr: return "removexattr";
    case Op::canonical: return "canonical";
    case Op::chdir: return "chdir";
    case Op::mknod: return "mknod";
    case Op::sync: return "sync";
    case Op::read: return "read";
    case Op::write: return "write";
    case Op::lseek: return "lseek";
  }
  return "unknown";
}

struct RequestHeader {
  uint32_t magic;   // kMagic
  uint16_t op;      // Op
  uint16_t flags;   // reserved, must be 0
  uint32_t length;  // payload bytes after this header
  // The client's mount (an index into the prefixes its hello named) whose
  // root a kBaseRoot base means; 0 when the request names none.
  uint32_t mount;
  uint64_t id;      // echoed in the reply
};
static_assert(sizeof(RequestHeader) == 24);

struct ReplyHeader {
  uint32_t magic;   // kMagic
  uint16_t op;      // echoes the request's op
  uint16_t flags;   // 0, or kReplyRedirect
  uint32_t length;  // payload bytes after this header
  int32_t error;    // 0, or a negative errno
  uint64_t id;      // the request's id
};
static_assert(sizeof(ReplyHeader) == 24);

// A reply with this id answers no request: the server refuses the
// connection and hangs up. Its error says why: EACCES, this uid may not
// connect; EUSERS, too many clients (of this uid). Request ids start at 1.
inline constexpr uint64_t kRefusalId = 0;

// A path left the mount while the server walked it: an absolute symlink
// target, or ".." above the mount root. The reply (error 0, flag
// kReplyRedirect) carries a RedirectRep and the path to continue with; the
// shim re-routes it (it may come back to the mount, or lead to the host)
// and repeats the call, at most 40 times (then ELOOP), as the kernel
// restarts a walk at a symlink.
inline constexpr uint16_t kReplyRedirect = 1u << 0;
inline constexpr uint32_t kRedirectAbsolute = 0;    // path is absolute: route it as given
inline constexpr uint32_t kRedirectMountParent = 1; // path is relative to the mount point ("../x")
struct RedirectRep {
  uint32_t kind;   // kRedirect*
  uint32_t which;  // 0: the request's (first) path; 1: its second path (rename, link)
  uint32_t path_len;
  uint32_t pad;
};
static_assert(sizeof(RedirectRep) == 16);

// Attributes as the filesystem reports them; the shim maps them onto
// struct stat / struct statx.
struct Attr {
  uint64_t dev;
  uint64_t ino;
  uint64_t size;
  uint64_t blocks;  // 512-byte units
  uint64_t rdev;
  int64_t atime_sec;
  int64_t mtime_sec;
  int64_t ctime_sec;
  int64_t btime_sec;
  uint32_t atime_nsec;
  uint32_t mtime_nsec;
  uint32_t ctime_nsec;
  uint32_t btime_nsec;
  uint32_t mode;  // type and permission bits, as st_mode
  uint32_t nlink;
  uint32_t uid;
  uint32_t gid;
  uint32_t blksize;
  uint32_t pad;
};
static_assert(sizeof(Attr) == 112);

// --- requests and replies, by opcode -------------------------------------

// hello: the first request on a connection; any other request before it is
// refused with EPROTO. The server answers with its own version; a client
// whose version differs gets EPROTONOSUPPORT. The client names its mount
// prefixes (mount_count entries after the struct, each a uint32_t length
// and that many bytes); the reply maps each, in order, to the server mount
// serving it (HelloRep then mount_count uint32_t indices): the mount with
// that prefix, else the server's first.
struct HelloReq {
  uint32_t version;
  uint32_t mount_count;  // at most kMaxMounts
};
struct HelloRep {
  uint32_t version;
  uint32_t server_pid;
  uint64_t dev;  // st_dev every inode of this filesystem reports
  // Names the namespace the inode numbers belong to: the same for every
  // server started on one state directory, new for each in-memory server.
  // A client that reconnects to another instance knows the inode numbers
  // it holds mean nothing there.
  uint64_t instance;
  uint32_t mount_count;  // as the request's; the indices follow
  uint32_t flags;        // kHelloTable
};
// The reply carries an fd of the shared lookup table
// (include/userfs/dentry_table.hpp), to be mapped read-only.
inline constexpr uint32_t kHelloTable = 1;
static_assert(sizeof(HelloReq) == 8 && sizeof(HelloRep) == 32);

// status: no request body.
struct StatusRep {
  uint32_t server_pid;
  uint32_t clients;  // connections open now
  uint64_t inodes;
  uint64_t directories;
  uint64_t files;
  uint64_t symlinks;
  uint64_t bytes;    // file data held
  uint64_t requests; // served since start
  int64_t started_sec;  // CLOCK_REALTIME at start
  // A server with a state directory (kStatusPersistent); its path follows
  // the struct (state_dir_len bytes, no NUL).
  uint32_t status_flags;
  uint32_t state_dir_len;
  uint64_t journal_bytes;
  uint64_t journal_records;  // since the last snapshot
  int64_t snapshot_sec;      // when the last snapshot was written
};
static_assert(sizeof(StatusRep) == 96);
inline constexpr uint32_t kStatusPersistent = 1u << 0;
inline constexpr uint32_t kStatusJournalFailed = 1u << 1;  // changes are refused (EIO)

// Path-bearing requests resolve `path` (mount-relative, "" or "/" is the
// base itself) starting at inode `base` (kBaseRoot: the mount root; a path
// starting with '/' always starts at the root).
inline constexpr uint32_t kNoFollow = 1u << 0;   // do not follow a final symlink
inline constexpr uint32_t kEmptyPath = 1u << 1;  // an empty path names `base`

// lookup -> Attr
struct LookupReq {
  uint64_t base;
  uint32_t flags;  // kNoFollow, kEmptyPath
  uint32_t path_len;
};
static_assert(sizeof(LookupReq) == 16);

// getattr -> Attr
struct GetattrReq {
  uint64_t ino;
};
static_assert(sizeof(GetattrReq) == 8);

// open -> OpenRep, plus one fd (SCM_RIGHTS) on success. The fd is the file's
// data, opened with the access mode and status flags asked for; for a
// directory it is a read-only placeholder the shim tracks by inode.
inline constexpr uint32_t kOpenAccMode = 3;       // 0 read, 1 write, 2 read-write
inline constexpr uint32_t kOpenCreate = 1u << 2;
inline constexpr uint32_t kOpenExcl = 1u << 3;
inline constexpr uint32_t kOpenTrunc = 1u << 4;
inline constexpr uint32_t kOpenAppend = 1u << 5;
inline constexpr uint32_t kOpenDirectory = 1u << 6;
inline constexpr uint32_t kOpenNoFollow = 1u << 7;
inline constexpr uint32_t kOpenNonBlock = 1u << 8;
inline constexpr uint32_t kOpenSync = 1u << 9;
inline constexpr uint32_t kOpenDsync = 1u << 10;
// O_PATH: the fd only names the object (fstat, *at base, fchdir); the
// server reopens with O_PATH, so read/write on it fail in the kernel as
// they would natively. Access mode and other status bits are ignored.
inline constexpr uint32_t kOpenPath = 1u << 11;
inline constexpr uint32_t kOpenKnown = (1u << 12) - 1;
struct OpenReq {
  uint64_t base;
  uint32_t flags;  // kOpen*
  uint32_t mode;   // permission bits for a created file, umask already applied
  uint32_t path_len;
  uint32_t pad;
};
static_assert(sizeof(OpenReq) == 24);
// A backend that serves a file's data itself (no kernel file to give)
// answers with kOpenedHandle: the fd is then a placeholder (one end of a
// socket pair whose other end the server keeps; when every copy of it is
// closed the server releases the open file) and the data moves with the
// read, write and lseek ops naming `handle`. The placeholder keeps fd
// numbers real and is inherited across fork and exec like any fd.
inline constexpr uint32_t kOpenedHandle = 1u << 0;
struct OpenRep {
  Attr attr;
  uint64_t handle;      // with kOpenedHandle: the open file's id, else 0
  uint32_t open_flags;  // kOpened*
  uint32_t pad;
};
static_assert(sizeof(OpenRep) == 128);

// mkdir -> no body
struct MkdirReq {
  uint64_t base;
  uint32_t mode;  // umask already applied
  uint32_t path_len;
};
static_assert(sizeof(MkdirReq) == 16);

// unlink -> no body. With kUnlinkRemoveDir it is rmdir.
inline constexpr uint32_t kUnlinkRemoveDir = 1u << 0;
struct UnlinkReq {
  uint64_t base;
  uint32_t flags;
  uint32_t path_len;
};
static_assert(sizeof(UnlinkReq) == 16);

// rename -> no body. Payload: old path, then new path.
inline constexpr uint32_t kRenameNoReplace = 1u << 0;  // RENAME_NOREPLACE
inline constexpr uint32_t kRenameExchange = 1u << 1;   // RENAME_EXCHANGE
struct RenameReq {
  uint64_t old_base;
  uint64_t new_base;
  uint32_t flags;
  uint32_t old_len;
  uint32_t new_len;
  uint32_t pad;
};
static_assert(sizeof(RenameReq) == 32);

// readdir -> ReaddirRep followed by `count` entries, each a DirEntry
// followed by its name padded to a multiple of 8 bytes. Entries come in
// cookie order; pass the last entry's cookie to continue. Cookie 0 starts
// at the beginning ("." and ".." first). Entries neither added nor removed
// during a listing are listed exactly once.
struct ReaddirReq {
  uint64_t ino;
  uint64_t cookie;
};
static_assert(sizeof(ReaddirReq) == 16);
struct ReaddirRep {
  uint32_t count;
  uint32_t eof;  // 1: no entries after the last one sent
};
static_assert(sizeof(ReaddirRep) == 8);
struct DirEntry {
  uint64_t ino;
  uint64_t cookie;
  uint16_t name_len;
  uint8_t type;  // DT_* value
  uint8_t pad[5];
};
static_assert(sizeof(DirEntry) == 24);
inline constexpr size_t dir_entry_size(size_t name_len) {
  return sizeof(DirEntry) + ((name_len + 7) & ~size_t{7});
}

// access -> no body. mode is F_OK or a mask of R_OK|W_OK|X_OK.
inline constexpr uint32_t kAccessEffective = 1u << 1;  // AT_EACCESS: use effective ids
struct AccessReq {
  uint64_t base;
  uint32_t mode;
  uint32_t flags;  // kNoFollow, kAccessEffective
  uint32_t path_len;
  uint32_t pad;
};
static_assert(sizeof(AccessReq) == 24);

// symlink -> no body. Payload: target, then the new link's path.
struct SymlinkReq {
  uint64_t base;
  uint32_t target_len;  // 1..4095
  uint32_t path_len;
};
static_assert(sizeof(SymlinkReq) == 16);

// readlink -> the target's bytes (no NUL). kEmptyPath with "" names base.
struct ReadlinkReq {
  uint64_t base;
  uint32_t flags;  // kEmptyPath
  uint32_t path_len;
};
static_assert(sizeof(ReadlinkReq) == 16);

// link -> no body. Payload: existing path, then the new name.
inline constexpr uint32_t kLinkFollow = 1u << 0;  // AT_SYMLINK_FOLLOW on the existing path
struct LinkReq {
  uint64_t old_base;
  uint64_t new_base;
  uint32_t flags;  // kLinkFollow, kEmptyPath (old path "" names old_base)
  uint32_t old_len;
  uint32_t new_len;
  uint32_t pad;
};
static_assert(sizeof(LinkReq) == 32);

// setattr -> Attr (after the change). Only the fields named in `valid`
// change; ctime is set whenever anything does. Permission rules as
// chmod/chown/truncate/utimensat. Times on a regular file are applied to its
// data memfd, so fstat in clients agrees.
inline constexpr uint32_t kSetMode = 1u << 0;
inline constexpr uint32_t kSetUid = 1u << 1;
inline constexpr uint32_t kSetGid = 1u << 2;
inline constexpr uint32_t kSetSize = 1u << 3;
inline constexpr uint32_t kSetAtime = 1u << 4;     // to atime_sec/nsec
inline constexpr uint32_t kSetAtimeNow = 1u << 5;  // to the current time
inline constexpr uint32_t kSetMtime = 1u << 6;
inline constexpr uint32_t kSetMtimeNow = 1u << 7;
inline constexpr uint32_t kSetKnown = (1u << 8) - 1;
struct SetattrReq {
  uint64_t base;
  uint32_t flags;  // kNoFollow, kEmptyPath
  uint32_t valid;  // kSet*
  uint32_t mode;   // permission bits (07777)
  uint32_t uid;
  uint32_t gid;
  uint32_t path_len;
  uint64_t size;
  int64_t atime_sec;
  int64_t mtime_sec;
  uint32_t atime_nsec;
  uint32_t mtime_nsec;
};
static_assert(sizeof(SetattrReq) == 64);

// statfs -> StatfsRep of the mount holding `ino`.
struct StatfsReq {
  uint64_t ino;
};
static_assert(sizeof(StatfsReq) == 8);
struct StatfsRep {
  uint64_t blocks;  // in bsize units
  uint64_t bfree;
  uint64_t bavail;
  uint64_t files;
  uint64_t ffree;
  uint32_t bsize;
  uint32_t namelen;
  uint64_t fsid;
};
static_assert(sizeof(StatfsRep) == 56);

// Extended attributes. getxattr -> the value's bytes; listxattr -> the
// names, each NUL-terminated; the shim applies the caller's buffer size
// (ERANGE, or the size alone for a size of 0). Values up to 64 KiB - 1 KiB.
inline constexpr size_t kMaxXattrValue = 63 * 1024;
inline constexpr uint32_t kXattrCreate = 1u << 0;   // XATTR_CREATE
inline constexpr uint32_t kXattrReplace = 1u << 1;  // XATTR_REPLACE
struct GetxattrReq {
  uint64_t base;
  uint32_t flags;  // kNoFollow, kEmptyPath
  uint32_t name_len;
  uint32_t path_len;
  uint32_t pad;
};
static_assert(sizeof(GetxattrReq) == 24);  // payload: name, path
struct SetxattrReq {
  uint64_t base;
  uint32_t flags;   // kNoFollow, kEmptyPath
  uint32_t xflags;  // kXattrCreate, kXattrReplace
  uint32_t name_len;
  uint32_t value_len;
  uint32_t path_len;
  uint32_t pad;
};
static_assert(sizeof(SetxattrReq) == 32);  // payload: name, value, path
struct ListxattrReq {
  uint64_t base;
  uint32_t flags;  // kNoFollow, kEmptyPath
  uint32_t path_len;
};
static_assert(sizeof(ListxattrReq) == 16);
using RemovexattrReq = GetxattrReq;  // payload: name, path

// canonical -> the object's path from the mount root ("/" for the root,
// else "/a/b"), every symlink followed (kNoFollow: not the last one).
// ENOENT for a missing component or an inode no longer in the tree.
struct CanonicalReq {
  uint64_t base;
  uint32_t flags;  // kNoFollow, kEmptyPath
  uint32_t path_len;
};
static_assert(sizeof(CanonicalReq) == 16);

// chdir -> ChdirRep plus an O_PATH fd of an empty host directory that
// stands for the mount directory (the shim fchdir()s to it, so the cwd is
// inherited across fork and exec like any cwd). Its path is
// "<socket>.cwd/<ino>": a process finds its virtual cwd from its kernel
// cwd. ENOTDIR, EACCES (no search permission) as chdir.
struct ChdirReq {
  uint64_t base;
  uint32_t flags;  // kEmptyPath
  uint32_t path_len;
};
static_assert(sizeof(ChdirReq) == 16);
struct ChdirRep {
  uint64_t ino;
};

// mknod -> no body. S_IFREG creates an empty file (like creat without an
// open); other types are refused with EPERM (not supported: documented).
struct MknodReq {
  uint64_t base;
  uint32_t mode;  // type | permission bits, umask applied
  uint32_t path_len;
  uint64_t rdev;
};
static_assert(sizeof(MknodReq) == 24);

// sync: once the reply arrives, every namespace change acknowledged before
// the request survives a crash of the machine (not just of the server).
// ino 0: the whole namespace (sync, syncfs); otherwise the file's inode
// (fsync, fdatasync; the client syncs the file's data fd itself). A server
// without persistent state answers 0 at once. No reply body.
struct SyncReq {
  uint64_t ino;
};
static_assert(sizeof(SyncReq) == 8);

// --- handle files (OpenRep with kOpenedHandle) ----------------------------
// `handle` is the id the open reply gave: random, so no client can reach an
// open file it was not given by guessing. The open file keeps the offset,
// access mode and O_APPEND, as an open file description does; processes
// that share the placeholder (fork, dup, exec) share them. An id the server
// does not know (released, or from another server) answers EBADF. At most
// kMaxIo bytes move per message; the shim splits larger transfers.
inline constexpr uint32_t kMaxIo = 60 * 1024;
inline constexpr uint32_t kIoAtOffset = 1u << 0;  // pread/pwrite: at `offset`, the file's offset unchanged

// read -> up to `size` bytes (fewer at the end of the file, none past it).
// EBADF if not open for reading.
struct ReadReq {
  uint64_t handle;
  uint64_t offset;  // with kIoAtOffset
  uint32_t size;    // at most kMaxIo
  uint32_t flags;   // kIoAtOffset
};
static_assert(sizeof(ReadReq) == 24);

// write -> WriteRep. Payload: the bytes (at most kMaxIo). Opened with
// O_APPEND, every write goes to the end, kIoAtOffset or not (as Linux's
// pwrite). EBADF if not open for writing.
struct WriteReq {
  uint64_t handle;
  uint64_t offset;  // with kIoAtOffset
  uint32_t size;
  uint32_t flags;   // kIoAtOffset
};
static_assert(sizeof(WriteReq) == 24);
struct WriteRep {
  uint64_t written;
};
static_assert(sizeof(WriteRep) == 8);

// lseek -> LseekRep: the new offset. whence is SEEK_SET, SEEK_CUR,
// SEEK_END, SEEK_DATA or SEEK_HOLE (the whole file is data); EINVAL for a
// negative result, ENXIO for SEEK_DATA/SEEK_HOLE at or past the end.
struct LseekReq {
  uint64_t handle;
  int64_t offset;
  uint32_t whence;
  uint32_t pad;
};
static_assert(sizeof(LseekReq) == 24);
struct LseekRep {
  uint64_t offset;
};
static_assert(sizeof(LseekRep) == 8);

}  // namespace userfs::proto
