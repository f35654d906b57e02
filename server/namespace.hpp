// The in-memory filesystem: a table of inodes and the POSIX operations on
// it. Pure logic, no sockets: the dispatcher decodes requests and calls in
// here; tests call in directly.
//
// Every operation returns 0 or a negative errno (like libfuse's
// passthrough_hp do_* helpers) and states its errors. The server is single
// threaded, so there is no locking.
//
// File data lives in one memfd per regular file ("userfs:<ino>", the name the
// shim recognises), or, with a Store (a state directory), in one regular
// file per inode there. The server keeps only a read-only reference, because a
// process exec'ing a file that anyone holds open for writing may get
// ETXTBSY; each client open is a fresh reopen through /proc/self/fd, so it
// has its own offset, access mode and O_APPEND.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "changes.hpp"
#include "unique_fd.hpp"
#include "userfs/backend.hpp"
#include "userfs/protocol.hpp"

namespace userfs::server {

// Who is asking: permission checks use these (read from SO_PEERCRED and
// /proc/<pid>/status when the client connects).
struct Cred {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

enum class FileType : uint8_t { directory, regular, symlink };
enum class Follow : uint8_t { no, yes };  // follow a final symlink?

inline constexpr int kMaxSymlinkHops = 40;  // Linux's MAXSYMLINKS
inline constexpr uint32_t kBlockSize = 4096;

struct Inode {
  struct Entry {
    uint64_t ino;
    uint64_t cookie;  // insertion sequence number, the readdir cookie
  };

  uint64_t ino = 0;
  FileType type = FileType::regular;
  uint32_t mode = 0;  // st_mode: type and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  uint32_t nlink = 1;  // non-directories; a directory's is 2 + subdirs
  timespec atime{}, mtime{}, ctime{}, btime{};

  // Regular file: read-only reference to its data (a memfd, or the store's
  // data file). Unused for
  // directories (see Namespace::open_dir_handle).
  UniqueFd data;

  // Directories.
  uint64_t parent = 0;  // for ".."; the root is its own parent
  using EntryMap = std::map<std::string, Entry, std::less<>>;
  EntryMap entries;
  // cookie -> its entry, for readdir (readdir reads name and inode from
  // it without a search by name; a map iterator stays valid until its own
  // entry is erased, and the two are erased together).
  std::map<uint64_t, EntryMap::iterator> by_cookie;
  uint64_t next_cookie = 3;                   // 1 is ".", 2 is ".."
  uint32_t subdirs = 0;

  // Directories: the name under `parent` (empty for the root), for
  // canonical paths.
  std::string name;

  // Symlinks.
  std::string target;

  // Extended attributes, name -> value.
  std::map<std::string, std::string, std::less<>> xattrs;
};

// Where a walk left the mount (see proto::RedirectRep): an absolute symlink
// target, or ".." above the mount root. `path` is what the client continues
// with: the target (or "..") followed by the unwalked rest of the request's
// path, trailing '/' kept.
struct Redirect {
  uint32_t kind = proto::kRedirectAbsolute;
  uint32_t which = 0;  // 0: the request's first path; 1: its second
  std::string path;
};
// Returned (positive) by path operations that stopped at a Redirect;
// Namespace::redirect() then says where. Nothing was changed.
inline constexpr int kRedirected = 1;

// Capacity statfs reports. Inode creation past max_inodes fails with
// ENOSPC; file data is written by clients straight to their fds, so max_bytes
// is reported, not enforced.
struct Limits {
  uint64_t max_bytes = 0;
  uint64_t max_inodes = 0;
};
// As tmpfs: half of physical RAM, and one inode per two pages of it.
Limits default_limits();

// setattr arguments: proto::kSet* bits in `valid` say which fields apply.
struct SetattrArgs {
  uint32_t valid = 0;
  uint32_t mode = 0;
  uint32_t uid = UINT32_MAX;  // UINT32_MAX: unchanged
  uint32_t gid = UINT32_MAX;
  uint64_t size = 0;
  timespec atime{}, mtime{};
};
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 40;  // 1 TiB

struct OpenResult {
  proto::Attr attr{};
  UniqueFd fd;  // to send to the client; a new open file description
  // No fd: the backend serves the data itself with this handle
  // (userfs::Opened::handle).
  uint64_t handle = 0;
};

struct Counts {
  uint64_t inodes = 0, directories = 0, files = 0, symlinks = 0, bytes = 0;
};

// What `userfs status` shows of a store.
struct StoreStatus {
  std::string dir;
  uint64_t journal_bytes = 0;
  uint64_t journal_records = 0;  // since the last snapshot
  int64_t snapshot_sec = 0;      // when the last snapshot was written
  bool failed = false;           // a journal write failed: changes are refused
};

// Where a persistent namespace keeps its file data and records its changes
// (see state_dir.hpp). Without one, data lives in memfds and nothing is
// recorded.
class Store {
 public:
  virtual ~Store() = default;
  // Called before an operation changes anything: 0, or -ENOSPC / -EIO and
  // the operation fails with that, unchanged. A removal (unlink, rmdir,
  // truncate, removexattr) frees space: the store keeps a last reserve
  // for those, so a full disk can be emptied.
  enum class Change : uint8_t { any, removal };
  virtual int reserve(Change kind) = 0;
  // One operation's changes (changes.hpp items), to be made durable before
  // its reply; -EIO if they could not be recorded.
  virtual int commit(std::string_view items) = 0;
  // A new regular file's data (empty); `out` gets a read-only reference.
  virtual int create_data(uint64_t ino, UniqueFd& out) = 0;
  // An existing file's data, at recovery; -ENOENT if missing.
  virtual int open_data(uint64_t ino, UniqueFd& out) = 0;
  // The inode is gone and its removal recorded.
  virtual void remove_data(uint64_t ino) = 0;
  // fsync/fdatasync (`ino` with its data fd) or sync/syncfs (ino 0, fd -1):
  // everything recorded so far, and that data, made durable.
  virtual int sync(uint64_t ino, int data_fd) = 0;
  virtual void status(StoreStatus& out) const = 0;
  // The size, free and available (to us) space of the filesystem holding
  // the data, for statfs; -errno if unknown.
  virtual int capacity(uint64_t& total_bytes, uint64_t& free_bytes, uint64_t& avail_bytes) const {
    (void)total_bytes;
    (void)free_bytes;
    (void)avail_bytes;
    return -ENOSYS;
  }
};

class Namespace {
 public:
  // `dev` is the st_dev every inode reports. Creates the root directory
  // (mode 0755 | S_IFDIR owned by root_owner).
  Namespace(uint64_t dev, uid_t root_uid, gid_t root_gid, uint32_t root_mode = 0755);
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  uint64_t dev() const { return dev_; }
  // See proto::HelloRep::instance.
  uint64_t instance() const { return instance_; }
  void set_instance(uint64_t id) { instance_ = id; }

  // Common to every path operation (`base` is proto::kBaseRoot or a
  // directory's inode number; a path starting with '/' ignores it; "" and
  // "/" name the base itself):
  //   ENOENT  base unknown or removed, or a component is missing
  //   ENOTDIR base or an intermediate component is not a directory, or a
  //           trailing '/' follows a non-directory
  //   EACCES  search (x) permission denied on a directory walked
  //   ENAMETOOLONG  a component > 255 bytes, or the path >= 4096 bytes
  //   ELOOP   more than 40 symlinks followed
  // and, instead of an errno, kRedirected (nothing changed; see redirect())
  // when the walk meets an absolute symlink target, or ".." at the mount
  // root. Intermediate components always redirect; a final symlink only
  // when the operation follows it. An empty path with a non-root `base`
  // names base itself, whatever its type (kEmptyPath on an open fd).

  // stat by path. kNoFollow: do not follow a final symlink.
  int lookup(uint64_t base, std::string_view path, Follow follow, const Cred& cred, proto::Attr& out);

  // stat by inode number. ENOENT if unknown or removed.
  int getattr(uint64_t ino, proto::Attr& out) const;

  // Opens (and with kOpenCreate creates) a file or directory; `flags` are
  // proto::kOpen* bits, already validated by the caller; `mode` is the
  // permission bits for a created file.
  //   EEXIST  kOpenCreate|kOpenExcl and the name exists (even as a symlink)
  //   EISDIR  a directory opened for writing (or access mode 3) or with
  //           O_TRUNC, or with kOpenCreate; or a create whose name ends in
  //           '/' (whatever it names, before looking it up, as Linux)
  //   ENOTDIR kOpenDirectory on a non-directory
  //   ELOOP   kOpenNoFollow and the final component is a symlink
  //   EACCES  read/write permission on the file (access mode 3, "ioctl
  //           only", needs both and gives an fd that can do neither), or
  //           write on the parent to create
  // kOpenPath: every flag but kOpenDirectory and kOpenNoFollow is ignored,
  // no permission on the object is needed, and the fd is an O_PATH reopen
  // (of the memfd, or of the stand-in empty directory). A final symlink
  // with kOpenNoFollow is still ELOOP: Linux would give an O_PATH fd of the
  // link itself, and we have no host object standing for a symlink.
  //   EINVAL  kOpenCreate together with kOpenDirectory (as Linux >= 6.4)
  //   EMFILE/ENFILE/ENOMEM  from the kernel reopening the memfd
  int open(uint64_t base, std::string_view path, uint32_t flags, uint32_t mode, const Cred& cred,
           OpenResult& out);

  //   EEXIST  the name exists (also for "" and "/", "." and "..")
  //   EACCES  no write+search permission on the parent
  int mkdir(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred);

  // Without kUnlinkRemoveDir: unlink; EISDIR for a directory.
  // With kUnlinkRemoveDir: rmdir; ENOTDIR for a non-directory, ENOTEMPTY,
  // EBUSY for the base/root itself, EINVAL for a final ".", ENOTEMPTY
  // for a final "..".
  //   EACCES  no write+search permission on the parent
  //   EPERM   sticky parent and the caller owns neither it nor the entry
  int unlink(uint64_t base, std::string_view path, uint32_t flags, const Cred& cred);

  // flags: kRenameNoReplace, kRenameExchange (not both: EINVAL).
  //   EISDIR    a file over a directory
  //   ENOTDIR   a directory over a file
  //   ENOTEMPTY the target is a non-empty directory
  //   EINVAL    moving a directory into its own subtree
  //   EEXIST    kRenameNoReplace and the target exists
  //   ENOENT    kRenameExchange and the target is missing
  //   EBUSY     either final component is ".", ".." or empty
  //   EACCES/EPERM  as unlink, on both parents
  // Renaming a name onto itself (or a hard link of itself) succeeds and
  // changes nothing.
  int rename(uint64_t old_base, std::string_view old_path, uint64_t new_base,
             std::string_view new_path, uint32_t flags, const Cred& cred);

  // Writes a proto::ReaddirRep then entries with cookie > `cookie`, in
  // cookie order, into buf until the next entry does not fit. `used` gets
  // the bytes written. ENOENT unknown inode, ENOTDIR not a directory,
  // EINVAL cap smaller than a ReaddirRep. A directory removed while a
  // client holds it lists as empty (no entries, eof): what readdir(3)
  // shows on Linux, where getdents fails with ENOENT and glibc ends the
  // listing. Any number allocated and gone is treated so: the server no
  // longer knows what it was, and clients only list directory handles.
  int readdir(uint64_t ino, uint64_t cookie, void* buf, size_t cap, size_t& used) const;

  // access(2): mode is F_OK or a mask of R_OK|W_OK|X_OK. EACCES if denied.
  int access(uint64_t base, std::string_view path, uint32_t mode, Follow follow, const Cred& cred);

  // A symlink at `path` (its redirect, if any, has which = 1) holding
  // `target`, which is never walked here. Mode 0777, size = target length.
  //   EEXIST the name exists; EACCES as mkdir; ENOENT empty target or a
  //   trailing '/'; ENAMETOOLONG target >= 4096 bytes; ENOSPC no inodes.
  int symlink(std::string_view target, uint64_t base, std::string_view path, const Cred& cred);
  //   EINVAL not a symlink.
  int readlink(uint64_t base, std::string_view path, const Cred& cred, std::string& out);

  // A new name `new_path` (redirect which = 1) for the object at old_path;
  // a final symlink of old_path is followed only with Follow::yes.
  //   EEXIST  the new name exists (also ".", ".." and "")
  //   ENOENT  old missing; or a trailing '/' on the new name
  //   EPERM   old is a directory; or, as fs.protected_hardlinks=1, the
  //           caller neither owns old nor may read and write it, or it is
  //           setuid, or setgid and group-executable (root is exempt)
  //   EACCES  no write+search permission on the new parent
  int link(uint64_t old_base, std::string_view old_path, Follow follow, uint64_t new_base,
           std::string_view new_path, const Cred& cred);

  // chmod/chown/truncate/utimensat in one; `out` gets the new attributes.
  // Nothing changes unless every requested change is allowed.
  //   EPERM   mode: not owner or root; uid: not root (the owner may "change"
  //           it to itself); gid: not root, and not the owner changing to
  //           one of their groups; explicit times: not owner or root
  //   EACCES  "now" times: not owner, root, or writer; size: no write
  //           permission
  //   EOPNOTSUPP  mode on a symlink (as lchmod on Linux)
  //   EISDIR  size on a directory; EINVAL size on a symlink
  //   EFBIG   size > kMaxFileSize
  // A chmod by a caller outside the file's group (not root) clears setgid.
  // Any chown (kSetUid or kSetGid, even to the current ids or UINT32_MAX)
  // of a non-directory clears setuid, and setgid if group-executable or
  // the caller (not root) is outside the file's group; as that is a mode
  // change, a non-owner's chown that would clear them is EPERM.
  int setattr(uint64_t base, std::string_view path, Follow follow, const SetattrArgs& args, const Cred& cred,
              proto::Attr& out);

  // Capacity from limits(), and with a store no more than its filesystem
  // has: bsize 4096, namelen 255, fsid = dev.
  void statfs(proto::StatfsRep& out) const;
  const Limits& limits() const { return limits_; }
  void set_limits(const Limits& l) { limits_ = l; }

  // Extended attributes, as Linux applies them on tmpfs:
  //   EOPNOTSUPP  name not in user./trusted./security., or system. (ACLs)
  //   ERANGE  name empty or > 255 bytes; EINVAL nothing after the prefix
  //   E2BIG   value > proto::kMaxXattrValue
  //   ENODATA missing (get, remove, set with kXattrReplace); trusted.* read by
  //           a non-root caller; user.* read on a symlink
  //   EEXIST  set with kXattrCreate and the name exists
  //   EPERM   trusted.* or security.* set/removed by a non-root caller;
  //           user.* set/removed on a symlink; user.* set/removed on a
  //           sticky directory by someone neither owner nor root
  //   EACCES  user.* get: no read permission; set/remove: no write
  //   ENOSPC  the names would no longer fit in one listxattr reply
  // listxattr needs no permission and omits trusted.* for non-root callers.
  int getxattr(uint64_t base, std::string_view path, Follow follow, std::string_view name, const Cred& cred,
               std::string& out);
  // xflags: proto::kXattrCreate, kXattrReplace (both: whichever applies fails).
  int setxattr(uint64_t base, std::string_view path, Follow follow, std::string_view name, std::string_view value,
               uint32_t xflags, const Cred& cred);
  int listxattr(uint64_t base, std::string_view path, Follow follow, const Cred& cred, std::string& out);
  int removexattr(uint64_t base, std::string_view path, Follow follow, std::string_view name, const Cred& cred);

  // The object's path from the mount root ("/" or "/a/b"). A directory's
  // comes from its parent links; a non-directory's from the directory and
  // name the walk arrived through (for a bare base: any name it has).
  //   ENOENT  missing, or an inode (e.g. a cwd) no longer in the tree
  int canonical(uint64_t base, std::string_view path, Follow follow, const Cred& cred, std::string& out);

  // Resolves a directory (symlinks followed) and returns an O_PATH fd of
  // its stand-in host directory <cwd_root>/<ino>, created if missing.
  //   ENOTDIR not a directory; EACCES no search permission on it
  //   EOPNOTSUPP  no cwd root configured
  int chdir(uint64_t base, std::string_view path, const Cred& cred, uint64_t& ino, UniqueFd& fd);
  // Where the stand-in directories live (the server makes it, mode 0700).
  // When a directory inode goes, its stand-in is removed.
  void set_cwd_root(std::string dir) { cwd_root_ = std::move(dir); }

  // mknod: a regular file (type S_IFREG or 0) is created empty. In Linux's
  // order: the type (EPERM for S_IFDIR, EINVAL for no valid type), then the
  // name (EEXIST, ENOENT also for a trailing '/', ENOTDIR, EACCES, as
  // symlink), then EPERM for a fifo, socket or device (not supported), then
  // ENOSPC.
  int mknod(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred);

  // Valid after an operation returned kRedirected, until the next one.
  const Redirect& redirect() const { return redirect_; }

  Counts counts() const;

  // Persistence. With a store set, regular files' data comes from it, and
  // every operation that changes the namespace (open with create, mkdir,
  // unlink, rename, symlink, link, setattr, setxattr, removexattr, mknod)
  // asks store->reserve() once its checks passed, before changing anything
  // (its error, e.g. -ENOSPC, fails the operation unchanged), then hands its
  // changes to store->commit() before returning; a commit error makes a
  // successful operation return -EIO.
  void set_store(Store* store) { store_ = store; }
  const Store* store() const { return store_; }
  // Op::sync: see Store::sync. An inode that is gone has nothing to sync.
  int sync(uint64_t ino);

  // The whole namespace as changes.hpp items: what a snapshot holds.
  void image(std::string& out) const;
  // Recovery: begin_restore() empties the namespace; apply() replays items
  // (a snapshot's, then the journal's records); finish_restore() checks
  // that the result is one consistent tree and opens every data file
  // through the store. apply and finish_restore return false with `why` set
  // on anything inconsistent. A data file the store does not have (its
  // creation never reached the disk before a crash) is not an
  // inconsistency: files_without_data() lists those, and recreate_data()
  // gives one an empty data file.
  void begin_restore();
  bool apply(const Item& item, std::string& why);
  bool finish_restore(std::string& why);
  std::vector<uint64_t> files_without_data() const;
  int recreate_data(uint64_t ino);
  uint64_t next_ino() const { return next_ino_; }
  // Every inode, in number order, for comparing two namespaces.
  std::vector<const Inode*> inodes() const;

 private:
  enum class LastKind : uint8_t { none, name, dot, dotdot };
  // A path walked up to its last component.
  struct Walk {
    Inode* dir = nullptr;   // holds the last component; or the node itself when kind != name
    std::string_view name;  // the last component, when kind == name
    LastKind kind = LastKind::none;
    bool trailing_slash = false;  // the final object must be a directory
  };

  Inode* find(uint64_t ino) const;
  Inode* child(const Inode& dir, std::string_view name) const;
  Inode* parent_of(const Inode& dir) const;

  int start_dir(uint64_t base, std::string_view path, Inode*& out) const;
  // walk, walk_from, walk_link, finish and resolve return 0, -errno, or
  // kRedirected with redirect_ set.
  // Operations on a name (mkdir, unlink, rename, link/symlink/mknod's new
  // name) pass `name_op`: a final ".." at the mount root is then reported
  // as LastKind::dotdot (with dir = the root) instead of redirecting, since
  // Linux refuses such names before looking at what ".." is.
  int walk(uint64_t base, std::string_view path, const Cred& cred, int& hops, Walk& out, bool name_op = false);
  int walk_from(Inode* start, std::string_view path, const Cred& cred, int& hops, Walk& out,
                bool name_op = false);
  // Walks symlink `link`'s target from `dir` (the directory holding it).
  int walk_link(Inode* dir, const Inode& link, const Cred& cred, int& hops, Walk& out);
  // `at`, if given, gets the walk whose last component named the result.
  int finish(const Walk& w, Follow follow, const Cred& cred, int& hops, Inode*& out, Walk* at = nullptr);
  int resolve(uint64_t base, std::string_view path, Follow follow, const Cred& cred, Inode*& out,
              Walk* at = nullptr);
  int redirect_to(uint32_t kind, std::string_view head, std::string_view rest);
  // Appends the unwalked rest of an outer path to redirect_.path.
  int extend_redirect(std::string_view rest);
  // kRedirected for the second path of a request: marks it.
  static int second_path(int rc, Redirect& r) {
    if (rc == kRedirected) r.which = 1;
    return rc;
  }
  int dir_path(const Inode& dir, std::string& out) const;
  int xattr_check(const Inode& n, std::string_view name, bool write, const Cred& cred) const;
  int may_create() const;

  bool permits(const Inode& n, const Cred& cred, int mask) const;
  int may_modify_dir(const Inode& dir, const Cred& cred) const;
  int may_delete(const Inode& dir, const Inode& victim, const Cred& cred) const;

  Inode& new_inode(FileType type, uint32_t perm_bits, const Cred& cred);
  int ensure_data(Inode& n);
  void add_entry(Inode& dir, std::string_view name, Inode& node);
  void remove_entry(Inode& dir, std::string_view name);
  void drop_link(Inode& node);
  proto::Attr attr_of(const Inode& n) const;

  // Handle a client gets for an open directory: a reopen of one empty,
  // already-deleted host directory, so the kernel itself answers read()
  // with EISDIR and getdents with nothing; the shim lists the directory.
  // path_only: an O_PATH reopen instead (kOpenPath), with O_DIRECTORY in
  // its flags only if the client asked (F_GETFL shows it, as natively).
  int open_dir_handle(bool path_only = false, bool o_directory = true);

  // Runs one changing operation under the store's reserve/commit.
  // The operation calls reserve_deferred() after its checks, before its
  // first mutation (if it makes one): its error is the operation's.
  template <class Op>
  int change(Op&& op, Store::Change kind = Store::Change::any);
  int reserve_deferred();
  bool deferred_reserve_ = false;
  Store::Change deferred_kind_ = Store::Change::any;
  int commit_changes();
  // Changes to record: an inode whose fields changed, and ordered events.
  void touch(const Inode& n) {
    if (store_ != nullptr) dirty_.push_back(n.ino);
  }
  InodeImage image_of(const Inode& n) const;

  int open_impl(uint64_t base, std::string_view path, uint32_t flags, uint32_t mode, const Cred& cred,
                OpenResult& out);
  int mkdir_impl(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred);
  int unlink_impl(uint64_t base, std::string_view path, uint32_t flags, const Cred& cred);
  int rename_impl(uint64_t old_base, std::string_view old_path, uint64_t new_base, std::string_view new_path,
                  uint32_t flags, const Cred& cred);
  int symlink_impl(std::string_view target, uint64_t base, std::string_view path, const Cred& cred);
  int link_impl(uint64_t old_base, std::string_view old_path, Follow follow, uint64_t new_base,
                std::string_view new_path, const Cred& cred);
  int setattr_impl(uint64_t base, std::string_view path, Follow follow, const SetattrArgs& args, const Cred& cred,
                   proto::Attr& out);
  int setxattr_impl(uint64_t base, std::string_view path, Follow follow, std::string_view name,
                    std::string_view value, uint32_t xflags, const Cred& cred);
  int removexattr_impl(uint64_t base, std::string_view path, Follow follow, std::string_view name,
                       const Cred& cred);
  int mknod_impl(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred);

  Store* store_ = nullptr;
  std::vector<uint64_t> dirty_;
  std::string events_;             // entry, xattr and drop items, in order
  std::vector<uint64_t> dropped_;  // data to remove once recorded

  uint64_t dev_;
  uint64_t instance_ = 0;
  Limits limits_;
  std::string cwd_root_;
  Redirect redirect_;
  UniqueFd empty_dir_;
  uint64_t next_ino_ = proto::kRootIno;
  std::unordered_map<uint64_t, std::unique_ptr<Inode>> table_;
  Inode* root_ = nullptr;
};

}  // namespace userfs::server
