// The path layer (the VFS): paths, permissions and the POSIX semantics the
// server gives every mount, over a userfs::Backend's inode operations
// (include/userfs/backend.hpp says what is done here and what is left to
// the backend). Pure logic, no sockets: the dispatcher decodes requests and
// calls in here; tests call in directly.
//
// Every operation returns 0 or a negative errno (like libfuse's
// passthrough_hp do_* helpers) and states its errors. The server is single
// threaded, so there is no locking.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

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

enum class Follow : uint8_t { no, yes };  // follow a final symlink?


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

// setattr arguments: proto::kSet* bits in `valid` say which fields apply.
struct SetattrArgs {
  uint32_t valid = 0;
  uint32_t mode = 0;
  uint32_t uid = UINT32_MAX;  // UINT32_MAX: unchanged
  uint32_t gid = UINT32_MAX;
  uint64_t size = 0;
  timespec atime{}, mtime{};
};

// What an open gives the client: an fd (a new open file description), or,
// for a file the backend serves itself, fd invalid and the backend's handle.
struct OpenResult {
  proto::Attr attr{};
  UniqueFd fd;
  uint64_t handle = 0;
};

class Namespace {
 public:
  // The paths of `backend`'s tree (which must outlive this); `dev` is the
  // st_dev every inode reports.
  Namespace(userfs::Backend& backend, uint64_t dev);
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  userfs::Backend& backend() const { return backend_; }
  uint64_t dev() const { return dev_; }
  // Inode numbers crossing this interface (bases, Attr::ino, readdir
  // entries, chdir's ino and stand-in names) are the backend's ORed with
  // `tag` (a mount's index << 56; 0 by default). A number with other top 8
  // bits is unknown here: ENOENT.
  void set_ino_tag(uint64_t tag) { tag_ = tag; }
  uint64_t ino_tag() const { return tag_; }
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

  // Every change below (the creating open, open for writing or with
  // kOpenTrunc, mkdir, unlink, rename, symlink, link, setattr, setxattr,
  // removexattr, mknod) is EROFS on a read-only backend, once the path is
  // resolved (and, for a new name, after EEXIST), as Linux orders it. An
  // operation the backend does not implement is ENOSYS (EOPNOTSUPP for
  // kOpenPath).

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
  // no permission on the object is needed, and the fd is an O_PATH fd
  // (the backend's, or a reopen of the stand-in empty directory). A final symlink
  // with kOpenNoFollow is still ELOOP: Linux would give an O_PATH fd of the
  // link itself, and we have no host object standing for a symlink.
  //   EINVAL  kOpenCreate together with kOpenDirectory (as Linux >= 6.4)
  //   EMFILE/ENFILE/ENOMEM  from the kernel (the backend's open, a
  //           directory handle)
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
  //   EFBIG   size too large for the backend
  // A chmod by a caller outside the file's group (not root) clears setgid.
  // Any chown (kSetUid or kSetGid, even to the current ids or UINT32_MAX)
  // of a non-directory clears setuid, and setgid if group-executable or
  // the caller (not root) is outside the file's group; as that is a mode
  // change, a non-owner's chown that would clear them is EPERM.
  int setattr(uint64_t base, std::string_view path, Follow follow, const SetattrArgs& args, const Cred& cred,
              proto::Attr& out);

  // The backend's capacity, with fsid = dev; a backend without statfs
  // reports zeros (bsize 4096, namelen 255), as FUSE does.
  int statfs(proto::StatfsRep& out) const;

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

  // For the shared lookup table (server/dentry_table.*), by tagged numbers
  // and with no permission check: what `name` in directory `dir` leads to
  // (ENOENT, ENOTDIR), whether a file's data is quiet (Backend::data_quiet)
  // and where it is (Backend::data_source), and a symlink's target.
  int entry(uint64_t dir, std::string_view name, proto::Attr& out) const;
  bool data_quiet(uint64_t ino) const;
  int data_source(uint64_t ino) const;
  int link_target(uint64_t ino, std::string& out) const;

  // Valid after an operation returned kRedirected, until the next one.
  const Redirect& redirect() const { return redirect_; }

  // Op::sync: the backend's fsync (ino 0: everything). An inode that is
  // gone has nothing to sync.
  int sync(uint64_t ino);

 private:
  // An object the walk reached: the backend's (untagged) number and what it
  // reported.
  // (Left uninitialised until filled: walks make many.)
  struct Node {
    uint64_t ino;
    proto::Attr attr;
  };
  enum class LastKind : uint8_t { none, name, dot, dotdot };
  // A path walked up to its last component.
  struct Walk {
    Node dir;               // holds the last component; or the node itself when kind != name
    std::string_view name;  // the last component, when kind == name
    LastKind kind = LastKind::none;
    bool trailing_slash = false;  // the final object must be a directory
  };

  // The backend's number for a tagged one: false if it is not ours.
  bool untag(uint64_t ino, uint64_t& out) const;
  // Tags the number and sets dev.
  void publish(proto::Attr& a) const;
  int get(uint64_t ino, Node& out) const;
  int root(Node& out) const;
  // The entry `name` of directory `dir`: 0, -ENOENT, -errno.
  int child(const Node& dir, std::string_view name, Node& out) const;
  int parent_of(const Node& dir, Node& out) const;

  int start_dir(uint64_t base, std::string_view path, Node& out) const;
  // walk, walk_from, walk_link, finish and resolve return 0, -errno, or
  // kRedirected with redirect_ set.
  // Operations on a name (mkdir, unlink, rename, link/symlink/mknod's new
  // name) pass `name_op`: a final ".." at the mount root is then reported
  // as LastKind::dotdot (with dir = the root) instead of redirecting, since
  // Linux refuses such names before looking at what ".." is.
  int walk(uint64_t base, std::string_view path, const Cred& cred, int& hops, Walk& out, bool name_op = false);
  int walk_from(const Node& start, std::string_view path, const Cred& cred, int& hops, Walk& out,
                bool name_op = false);
  // Walks symlink `link`'s target from `dir` (the directory holding it).
  int walk_link(const Node& dir, const Node& link, const Cred& cred, int& hops, Walk& out);
  // `at`, if given, gets the walk whose last component named the result.
  int finish(const Walk& w, Follow follow, const Cred& cred, int& hops, Node& out, Walk* at = nullptr);
  int resolve(uint64_t base, std::string_view path, Follow follow, const Cred& cred, Node& out,
              Walk* at = nullptr);
  int redirect_to(uint32_t kind, std::string_view head, std::string_view rest);
  // Appends the unwalked rest of an outer path to redirect_.path.
  int extend_redirect(std::string_view rest);
  // kRedirected for the second path of a request: marks it.
  static int second_path(int rc, Redirect& r) {
    if (rc == kRedirected) r.which = 1;
    return rc;
  }
  // Symlink targets read during one operation: walks keep views into them
  // (a Walk's name may lie in one), so they live until the next operation.
  void begin_op() {
    if (!link_targets_.empty()) link_targets_.clear();
  }
  int dir_path(const Node& dir, std::string& out) const;
  int name_by_search(uint64_t parent, uint64_t ino, std::string& out) const;
  int any_name(uint64_t ino, uint64_t& dir, std::string& name) const;
  int xattr_check(const Node& n, std::string_view name, bool write, const Cred& cred) const;
  int read_only() const { return backend_.read_only() ? -EROFS : 0; }

  bool permits(const proto::Attr& n, const Cred& cred, int mask) const;
  int may_modify_dir(const proto::Attr& dir, const Cred& cred) const;
  int may_delete(const proto::Attr& dir, const proto::Attr& victim, const Cred& cred) const;
  // The owner, group and mode of a node created in `dir`.
  NewNode new_node(const proto::Attr& dir, uint32_t perm_bits, const Cred& cred) const;
  // A removed directory's stand-in host directory, if a chdir made one.
  void forget_cwd(uint64_t ino) const;

  // Handle a client gets for an open directory: a reopen of one empty,
  // already-deleted host directory, so the kernel itself answers read()
  // with EISDIR and getdents with nothing; the shim lists the directory.
  // path_only: an O_PATH reopen instead (kOpenPath), with O_DIRECTORY in
  // its flags only if the client asked (F_GETFL shows it, as natively).
  int open_dir_handle(bool path_only = false, bool o_directory = true);
  // Fills `out` from what the backend opened.
  int take_opened(const Opened& opened, const Node& node, OpenResult& out);

  userfs::Backend& backend_;
  uint64_t dev_;
  uint64_t tag_ = 0;
  uint64_t instance_ = 0;
  std::string cwd_root_;
  Redirect redirect_;
  UniqueFd empty_dir_;
  std::deque<std::string> link_targets_;
};

}  // namespace userfs::server
