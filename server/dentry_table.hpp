// The server's side of the shared lookup table (include/userfs/dentry_table.hpp):
// makes the sealed memfd, publishes every mount whose backend reports its
// changes, and brings the table up to date before each reply.
//
// Backends tell us what to look at again (names, inodes); flush() re-reads
// those through the mount's Namespace and rewrites their entries inside
// one odd/even turn of the sequence counter. The dispatcher calls flush()
// after every request and before the reply leaves.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "namespace.hpp"
#include "unique_fd.hpp"
#include "userfs/backend.hpp"
#include "userfs/dentry_table.hpp"

namespace userfs::server {

class DentryTable {
 public:
  // A table of up to `max_entries` entries (names plus one per inode);
  // null with `why` set if it cannot be made. The calling thread holds the
  // table's `alive` mutex from then on: it must live as long as the table
  // (userfsd's one thread does), or readers take the table for dead.
  static std::unique_ptr<DentryTable> create(uint32_t max_entries, std::string& why);
  ~DentryTable();
  DentryTable(const DentryTable&) = delete;
  DentryTable& operator=(const DentryTable&) = delete;

  // Publishes mount `index` if its backend reports changes (false if not):
  // the whole tree now, then every change.
  bool add_mount(uint32_t index, Namespace& ns);
  // Stops publishing every mount (before the namespaces go).
  void detach_all();

  // A read-only fd of the table for one client (-errno on failure).
  int client_fd() const;

  // `ino` (tagged) was just reported to a client: if its entry is volatile
  // and its data is now quiet, the next flush publishes it settled.
  void reported(uint64_t ino);

  // Writes everything noted since the last flush.
  void flush();

  // For tests: the table as clients see it, and counts.
  const table::Header* header() const { return header_; }
  size_t entries_used() const { return where_.size(); }

 private:
  struct Key {
    uint64_t parent;
    std::string name;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return table::hash_key(k.parent, k.name); }
  };
  // Each mount's listener: tags the backend's numbers and notes them.
  struct Feed final : userfs::ChangeListener {
    DentryTable* table = nullptr;
    Namespace* ns = nullptr;
    uint32_t index = 0;
    void name_changed(uint64_t dir, std::string_view name) override;
    void attr_changed(uint64_t ino) override;
    void data_writable(uint64_t ino) override;
  };

  DentryTable() = default;
  Namespace* ns_of(uint64_t ino) const;
  void populate(Namespace& ns, uint64_t dir);
  // One name, read again: its entry (and its inode's self entry) written,
  // replaced or removed.
  void refresh_name(uint64_t parent, const std::string& name);
  // The same, with what the name leads to already read (rc, attr).
  void publish_name(uint64_t parent, const std::string& name, int rc, const proto::Attr& attr);
  // One inode's attributes into every entry that holds them.
  void refresh_inode(uint64_t ino);
  // Within one flush nothing changes (the server is single-threaded):
  // what it read of an inode (attributes, where its data is) and whether
  // all its entries were written are kept, for a few inodes at a time, so
  // that one request's changes cost one read of each inode.
  struct DataId {
    int fd = -1;
    uint64_t dev = 0;
    uint64_t ino = 0;
  };
  struct Known {
    uint64_t ino = 0;
    bool have_attr = false;
    bool have_data = false;
    bool refreshed = false;  // every entry of it written this flush
    proto::Attr attr{};
    DataId data;
  };
  Known& known(uint64_t ino);
  bool attrs_of(uint64_t ino, proto::Attr& out);
  const DataId& data_id_of(uint64_t ino);
  void put(uint64_t parent, std::string_view name, const proto::Attr& attr, uint64_t up);
  void remove(const Key& key);
  void drop_inode(uint64_t ino);
  uint16_t flags_for(const proto::Attr& attr, uint64_t self) const;
  void write_entry(uint32_t e, uint64_t parent, std::string_view name, const proto::Attr& attr, uint64_t up,
                   uint16_t flags);
  void set_slot(uint32_t slot, uint32_t value);
  uint32_t free_slot(uint64_t hash) const;
  void rebuild_index();
  void overflow();
  void begin();
  void end();

  UniqueFd fd_;
  void* map_ = nullptr;
  size_t bytes_ = 0;
  table::Header* header_ = nullptr;
  uint32_t* index_ = nullptr;
  table::Entry* entries_ = nullptr;
  uint32_t removed_slots_ = 0;
  bool writing_ = false;
  bool overflowed_ = false;

  std::unordered_map<Key, uint32_t, KeyHash> where_;  // key -> entry
  std::vector<uint32_t> slot_of_;                      // entry -> index slot
  std::vector<uint32_t> free_;
  uint32_t next_unused_ = 0;
  std::unordered_map<uint64_t, std::vector<uint32_t>> by_ino_;  // inode -> entries holding its attributes
  std::set<std::pair<uint64_t, std::string>> long_names_;      // names too long to publish
  std::unordered_map<uint64_t, uint32_t> long_count_;          // per directory
  std::set<uint64_t> writable_;                                // regular files volatile until quiet

  std::vector<std::unique_ptr<Feed>> feeds_;
  std::vector<std::pair<uint64_t, std::string>> pending_names_;
  std::vector<uint64_t> pending_inos_;
  std::vector<uint64_t> pending_settle_;
  std::vector<Known> known_;  // this flush's, at most kKnownMax
  static constexpr size_t kKnownMax = 32;
};

}  // namespace userfs::server
