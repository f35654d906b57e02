// A persistent namespace's directory (userfsd --state DIR):
//
//   DIR/instance   the namespace's instance id (hex), fixed at creation:
//                  HelloRep::instance and st_dev derive from it
//   DIR/lock       held (flock) by the one server using DIR
//   DIR/snapshot   the namespace as of some journal record (snapshot.hpp)
//   DIR/journal    the records after it (journal.hpp)
//   DIR/data/userfs:<ino>  each regular file's data, read and written by
//                  clients through reopened fds, straight to the kernel (the
//                  name is the one the in-memory data's memfds have, which
//                  the shim recognises in an fd a process inherited)
//
// Durability: an operation's record is written (write(2)) before its reply,
// so a replied operation survives a kill of the server; a sync request
// fdatasyncs the journal (and fsyncs the file, or syncfs for ino 0), so
// after fsync/sync returned it survives a machine crash. A journal write
// error makes every later change fail with EIO (memory may then be ahead
// of the journal by the failed operation, which its caller saw fail).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "journal.hpp"
#include "mem_backend.hpp"
#include "unique_fd.hpp"

namespace userfs::server {

// What loading a state directory found.
struct LoadReport {
  bool snapshot = false;
  uint64_t snapshot_seq = 0;
  int64_t snapshot_sec = 0;
  bool journal = false;
  uint64_t journal_first_seq = 0;
  uint64_t records = 0;   // valid journal records in the file
  uint64_t last_offset = 0;  // where the last valid one starts
  uint64_t valid_bytes = 0;  // where the valid records end
  uint64_t replayed = 0;  // journal records applied
  uint64_t last_seq = 0;  // the last record the namespace includes
  JournalScan::End end = JournalScan::End::clean;
  std::string torn;                     // the torn tail, when end == torn
  std::vector<std::string> orphans;     // data files no inode names
  std::vector<uint64_t> missing_data;   // regular files whose data file is gone
};

// Loads DIR's snapshot and journal (dir_fd) into `ns`, whose store must open
// data files. False, with `why`, when the state is corrupt or inconsistent:
// the server must not start on it. A torn last record is dropped and
// reported in `report`, not refused.
bool load_state(int dir_fd, uint64_t instance, MemBackend& ns, LoadReport& report, std::string& why);

// Reads DIR/instance. 0, -ENOENT, or -EBADMSG when it is malformed.
int read_instance(int dir_fd, uint64_t& out);

// A data file's name in DIR/data: "userfs:<ino>".
inline constexpr const char* kDataFilePrefix = "userfs:";
std::string data_file_name(uint64_t ino);

// st_dev for a persistent namespace's inodes, from its instance.
uint64_t dev_of_instance(uint64_t instance);

class StateDir final : public Store {
 public:
  // Opens DIR (created 0700 if missing; refused unless ours, a real
  // directory), takes its lock and reads or creates its instance id.
  // False, with `why`.
  bool open(const std::string& dir, std::string& why);
  uint64_t instance() const { return instance_; }

  // Loads the state into `ns` (which gets this store), removes orphaned data
  // files, then compacts so the server starts from a fresh journal. Prints
  // what it dropped on stderr. False, with `why`: refuse to start.
  bool recover(MemBackend& ns, std::string& why);

  // Snapshot of the namespace, then a fresh journal. 0 or -errno (the old
  // journal then stays in use).
  int compact();
  // Compact once the journal holds this many bytes.
  void set_journal_max(uint64_t bytes) { journal_max_ = bytes; }

  int reserve(Change kind) override;
  int commit(std::string_view items) override;
  int create_data(uint64_t ino, UniqueFd& out) override;
  int open_data(uint64_t ino, UniqueFd& out) override;
  void remove_data(uint64_t ino) override;
  int sync(uint64_t ino, int data_fd) override;
  void status(StoreStatus& out) const override;
  int capacity(uint64_t& total_bytes, uint64_t& free_bytes, uint64_t& avail_bytes) const override;

 private:
  std::string path_;
  UniqueFd dir_fd_, data_dir_fd_, lock_fd_;
  uint64_t instance_ = 0;
  MemBackend* ns_ = nullptr;
  JournalWriter journal_;
  uint64_t last_seq_ = 0;  // at the last snapshot
  int64_t snapshot_sec_ = 0;
  uint64_t journal_max_ = uint64_t{64} << 20;
  uint64_t next_compaction_ = 0;  // journal size to try again at, after a failed one
  bool data_dir_dirty_ = false;   // names created or removed since its last fsync
};

}  // namespace userfs::server
