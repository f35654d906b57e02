// The in-memory filesystem, the default mount's backend: a table of inodes
// and the inode-level operations on it (userfs::Backend). The path layer
// (namespace.hpp) walks paths and checks permissions, names and types above
// it; here only what the table alone knows is checked: whether a name
// exists, whether a directory is empty, the inode limit and the file size
// limit.
//
// File data lives in one memfd per regular file ("userfs:<ino>", the name the
// shim recognises), or, with a Store (a state directory), in one regular
// file per inode there. The backend keeps only a read-only reference,
// because a process exec'ing a file that anyone holds open for writing may
// get ETXTBSY; each client open is a fresh reopen through /proc/self/fd, so
// it has its own offset, access mode and O_APPEND.
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

namespace userfs::server {

enum class FileType : uint8_t { directory, regular, symlink };

inline constexpr uint32_t kBlockSize = 4096;
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 40;  // 1 TiB

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
  // data file). Unused for directories (the path layer makes their
  // handles).
  UniqueFd data;

  // Directories.
  uint64_t parent = 0;  // for ".."; the root is its own parent
  using EntryMap = std::map<std::string, Entry, std::less<>>;
  EntryMap entries;
  // cookie -> its entry, for readdir (readdir reads name and inode from
  // it without a search by name; a map iterator stays valid until its own
  // entry is erased, and the two are erased together).
  std::map<uint64_t, EntryMap::iterator> by_cookie;
  uint64_t next_cookie = 3;  // 1 is ".", 2 is ".."
  uint32_t subdirs = 0;

  // Directories: the name under `parent` (empty for the root), for
  // canonical paths.
  std::string name;

  // Symlinks.
  std::string target;

  // Extended attributes, name -> value.
  std::map<std::string, std::string, std::less<>> xattrs;
};

// Capacity statfs reports. Inode creation past max_inodes fails with
// ENOSPC; file data is written by clients straight to their fds, so max_bytes
// is reported, not enforced.
struct Limits {
  uint64_t max_bytes = 0;
  uint64_t max_inodes = 0;
};
// As tmpfs: half of physical RAM, and one inode per two pages of it.
Limits default_limits();

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

// Where a persistent filesystem keeps its file data and records its changes
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

class MemBackend final : public userfs::Backend {
 public:
  // Creates the root directory (S_IFDIR | root_mode, owned by root_uid and
  // root_gid).
  MemBackend(uid_t root_uid, gid_t root_gid, uint32_t root_mode = 0755);
  MemBackend(const MemBackend&) = delete;
  MemBackend& operator=(const MemBackend&) = delete;

  // Numbers handed out and gone answer ESTALE, numbers never handed out
  // ENOENT: the path layer lists a directory removed while a client holds
  // it as empty, and refuses a number it never saw.
  int lookup(uint64_t parent, std::string_view name, Attr& out) override;
  int getattr(uint64_t ino, Attr& out) override;
  //   EFBIG  size > kMaxFileSize
  int setattr(uint64_t ino, const SetattrIn& in, Attr& out) override;
  // Creations: EEXIST, then ENOSPC past limits().max_inodes.
  int mkdir(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) override;
  int mknod(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) override;
  int create(uint64_t parent, std::string_view name, const NewNode& node, uint32_t flags, Attr& out,
             Opened& opened) override;
  int symlink(std::string_view target, uint64_t parent, std::string_view name, const NewNode& node,
              Attr& out) override;
  int readlink(uint64_t ino, std::string& out) override;
  int link(uint64_t ino, uint64_t new_parent, std::string_view new_name, Attr& out) override;
  int unlink(uint64_t parent, std::string_view name) override;
  int rmdir(uint64_t parent, std::string_view name) override;
  int rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
             uint32_t flags) override;
  // Always an fd: a reopen of the data through /proc/self/fd.
  //   EMFILE/ENFILE/ENOMEM  from the kernel reopening it
  int open(uint64_t ino, uint32_t flags, Opened& out) override;
  // With a store: Store::sync. An inode that is gone has nothing to sync.
  int fsync(uint64_t ino, bool datasync) override;
  int readdir(uint64_t ino, uint64_t cookie, DirFiller& fill) override;
  int name_in_parent(uint64_t ino, std::string& out) override;
  // Capacity from limits(), and with a store no more than its filesystem
  // has: bsize 4096, namelen 255.
  int statfs(proto::StatfsRep& out) override;
  int getxattr(uint64_t ino, std::string_view name, std::string& out) override;
  //   ENOSPC  the names would no longer fit in one listxattr reply
  int setxattr(uint64_t ino, std::string_view name, std::string_view value, uint32_t xflags) override;
  int listxattr(uint64_t ino, std::string& out) override;
  int removexattr(uint64_t ino, std::string_view name) override;
  bool set_change_listener(userfs::ChangeListener* listener) override {
    listener_ = listener;
    return true;
  }
  bool data_quiet(uint64_t ino) override;
  int data_source(uint64_t ino) override;

  const Limits& limits() const { return limits_; }
  void set_limits(const Limits& l) { limits_ = l; }
  Counts counts() const;

  // Persistence. With a store set, regular files' data comes from it, and
  // every operation that changes the table asks store->reserve() once its
  // checks passed, before changing anything (its error, e.g. -ENOSPC, fails
  // the operation unchanged), then hands its changes to store->commit()
  // before returning; a commit error makes a successful operation return
  // -EIO.
  void set_store(Store* store) { store_ = store; }
  const Store* store() const { return store_; }

  // The whole table as changes.hpp items: what a snapshot holds.
  void image(std::string& out) const;
  // Recovery: begin_restore() empties the table; apply() replays items
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
  // Every inode, in number order, for comparing two tables.
  std::vector<const Inode*> inodes() const;

 private:
  Inode* find(uint64_t ino) const;
  // Every removal from the table goes through here (find's cache).
  void erase(uint64_t ino);
  // The inode `ino` names, or the error for it (ESTALE once gone, ENOENT
  // never handed out).
  int get(uint64_t ino, Inode*& out) const;
  int get_dir(uint64_t ino, Inode*& out) const;
  Inode* child(const Inode& dir, std::string_view name) const;
  Inode* parent_of(const Inode& dir) const;
  int may_create() const;

  Inode& new_inode(FileType type, const NewNode& node);
  int ensure_data(Inode& n);
  void add_entry(Inode& dir, std::string_view name, Inode& node);
  void remove_entry(Inode& dir, std::string_view name);
  void drop_link(Inode& node);
  void attr_of(const Inode& n, Attr& out) const;
  // A new regular file for mknod and create.
  int new_file(uint64_t parent, std::string_view name, const NewNode& node, Inode*& out);

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
    if (listener_ != nullptr) listener_->attr_changed(n.ino);
  }
  userfs::ChangeListener* listener_ = nullptr;
  InodeImage image_of(const Inode& n) const;

  Store* store_ = nullptr;
  std::vector<uint64_t> dirty_;
  std::string events_;             // entry, xattr and drop items, in order
  std::vector<uint64_t> dropped_;  // data to remove once recorded

  Limits limits_;
  uint64_t next_ino_ = proto::kRootIno;
  std::unordered_map<uint64_t, std::unique_ptr<Inode>> table_;
  mutable Inode* last_found_ = nullptr;  // find()'s last answer
  Inode* root_ = nullptr;
};

}  // namespace userfs::server
