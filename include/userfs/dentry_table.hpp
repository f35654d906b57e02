// The shared lookup table: the server's namespace (names and attributes)
// published in shared memory, so a client answers stat, access and opens
// of existing files without a round trip.
//
// One memfd per server, written only by the server, mapped read-only by
// every client (sealed with F_SEAL_FUTURE_WRITE: no client can get a
// writable mapping or write(2) to it, whatever fd it reopens). Layout:
//   Header (one page) | index: uint32_t[index_slots] | Entry[max_entries]
// An Entry is keyed by (parent inode, name) and holds the attributes of
// what the name leads to, exactly as a lookup reply would (tagged inode
// number, st_dev). Every inode also has a self entry (its own number,
// name "."), which carries its attributes (and for a directory its parent,
// `up`): a walk can start at any directory number, and an open fd's fstat
// can be answered by number. A symlink's self entry also holds its target,
// when short enough, so walks can follow it.
//
// Consistency: one sequence counter for the whole table (a seqlock). The
// server makes it odd, changes everything one request changed, makes it
// even again, and only then sends the reply. A reader notes the counter,
// walks the whole path, and keeps the answer only if the counter did not
// move: every walk sees the table as it was between two whole requests,
// and any process that saw a request complete sees its effect. Readers
// copy words with relaxed atomic loads and check every index and length
// they read, so a walk that races a change reads garbage at worst, which
// the counter then rejects.
//
// What a reader must not trust: a regular file marked kVolatile may be
// open for writing somewhere (its size and times move without the server);
// a directory marked kIncomplete has a name the table does not hold; a
// mount whose bit is not in `published` is not in the table at all; a
// table whose server died (`alive` shows it, below) is not current.
//
// A regular file's entry also names where its data is: an fd in the
// server (`data_fd`) whose reopen through /proc/<server>/fd gives a new
// open of the data, and that data's kernel identity (`data_dev`,
// `data_ino`), which a reader checks on what it opened (the server may
// have closed that fd and reused its number since the walk).
#pragma once

#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "userfs/protocol.hpp"

namespace userfs::table {

inline constexpr uint64_t kMagic = 0x31626174'73667375;  // "usfstab1"
inline constexpr uint32_t kLayoutVersion = 3;
inline constexpr size_t kHeaderBytes = 4096;
// Longer names are not published; their directory is kIncomplete.
inline constexpr size_t kMaxName = 96;

// Entry::flags
inline constexpr uint16_t kVolatile = 1;    // a regular file possibly open for writing
inline constexpr uint16_t kIncomplete = 2;  // self entry of a directory with unpublished names

// Index slot values: 0 empty, 1 removed (probing continues), else entry + 2.
inline constexpr uint32_t kSlotEmpty = 0;
inline constexpr uint32_t kSlotRemoved = 1;
inline constexpr uint32_t kSlotFirst = 2;

struct Header {
  uint64_t magic;
  uint32_t version;
  uint32_t entry_size;
  uint32_t index_slots;  // a power of two
  uint32_t max_entries;
  uint64_t index_offset;
  uint64_t entries_offset;
  uint64_t total_bytes;
  // The seqlock: odd while the server changes the table.
  uint64_t seq;
  // Bit m: server mount m is in the table. 0 when the table overflowed:
  // everything is asked of the server again.
  uint32_t published;
  uint32_t pad;
  // Locked by the server for its whole life as a robust, process-shared
  // mutex: if the server dies the kernel marks the futex word (the first
  // 32 bits) FUTEX_OWNER_DIED; a clean stop unlocks it. Either way readers
  // see the table is no longer current.
  alignas(64) pthread_mutex_t alive;
};
static_assert(sizeof(Header) <= kHeaderBytes);

struct Entry {
  uint64_t parent;  // the directory holding the name; for a self entry, the inode itself
  uint64_t up;      // self entry of a directory: its parent (the root: itself)
  uint32_t hash;
  uint16_t name_len;
  uint16_t flags;
  proto::Attr attr;
  // A regular file's data (see above); data_fd -1: none to open.
  uint64_t data_dev;
  uint64_t data_ino;
  int32_t data_fd;
  // A symlink's self entry: the length of its target, kept in `name`
  // after the self name "." and a NUL (targets longer than kMaxTarget
  // are not kept: 0).
  uint32_t target_len;
  char name[kMaxName];
};
static_assert(sizeof(Entry) == 256 && sizeof(Entry) % 8 == 0);

inline constexpr std::string_view kSelf = ".";

inline bool is_dir(const proto::Attr& a) { return (a.mode & 0170000) == 0040000; }
inline bool is_link(const proto::Attr& a) { return (a.mode & 0170000) == 0120000; }
inline bool is_reg(const proto::Attr& a) { return (a.mode & 0170000) == 0100000; }
// The longest symlink target a self entry keeps (after ".\0").
inline constexpr size_t kMaxTarget = kMaxName - 2;
inline std::string_view target_of(const Entry& self) {
  return self.target_len == 0 || self.target_len > kMaxTarget ? std::string_view{}
                                                                : std::string_view(self.name + 2, self.target_len);
}

// The hash of a key; the low bits choose the first index slot.
inline uint64_t hash_key(uint64_t parent, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL ^ (parent * 0x9e3779b97f4a7c15ULL);
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  return h;
}

inline uint64_t load(const uint64_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
inline uint32_t load(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

// A read-only view of a mapped table. Every function tolerates a table the
// server is changing underneath (garbage in, bounded work, no faults);
// only a read section whose end() agrees with its begin() is meaningful.
class View {
 public:
  View() = default;
  // `base` is the mapping of `bytes` bytes; false if it is not a table of
  // this layout (then nothing may be asked of it).
  bool attach(const void* base, size_t bytes) {
    if (bytes < kHeaderBytes) return false;
    const auto* h = static_cast<const Header*>(base);
    if (h->magic != kMagic || h->version != kLayoutVersion || h->entry_size != sizeof(Entry)) return false;
    if (h->index_slots == 0 || (h->index_slots & (h->index_slots - 1)) != 0) return false;
    if (h->total_bytes > bytes || h->index_offset < kHeaderBytes || h->index_offset % 8 != 0 ||
        h->entries_offset % 8 != 0 ||
        h->index_offset + uint64_t{h->index_slots} * 4 > h->entries_offset ||
        h->entries_offset + uint64_t{h->max_entries} * sizeof(Entry) > h->total_bytes)
      return false;
    header_ = h;
    index_ = reinterpret_cast<const uint32_t*>(static_cast<const char*>(base) + h->index_offset);
    entries_ = reinterpret_cast<const Entry*>(static_cast<const char*>(base) + h->entries_offset);
    mask_ = h->index_slots - 1;
    max_entries_ = h->max_entries;
    return true;
  }
  bool attached() const { return header_ != nullptr; }
  const Header* header() const { return header_; }

  // Whether the server that writes the table still runs: the futex word of
  // `alive` holds its thread id, without FUTEX_OWNER_DIED.
  bool alive() const {
    const uint32_t word = load(reinterpret_cast<const uint32_t*>(&header_->alive));
    return (word & 0x3fffffffU) != 0 && (word & 0x40000000U) == 0;
  }
  bool published(uint32_t mount) const {
    return mount < 32 && ((load(&header_->published) >> mount) & 1U) != 0;
  }

  // A read section: begin() returns the counter (odd: a change is under
  // way, try again); valid(s) says nothing changed since.
  uint64_t begin() const { return __atomic_load_n(&header_->seq, __ATOMIC_ACQUIRE); }
  bool valid(uint64_t s) const {
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&header_->seq, __ATOMIC_RELAXED) == s;
  }

  // The entry for (parent, name) copied into `out`: false if there is none
  // (or the probe met garbage; the section then fails anyway).
  bool find(uint64_t parent, std::string_view name, Entry& out) const {
    if (name.size() > kMaxName) return false;
    const uint64_t h = hash_key(parent, name);
    const auto h32 = static_cast<uint32_t>(h);
    uint64_t slot = h & mask_;
    for (uint64_t probes = 0; probes <= mask_; probes++, slot = (slot + 1) & mask_) {
      const uint32_t v = load(&index_[slot]);
      if (v == kSlotEmpty) return false;
      if (v == kSlotRemoved) continue;
      const uint64_t e = v - kSlotFirst;
      if (e >= max_entries_) return false;
      const Entry& entry = entries_[e];
      if (load(&entry.parent) != parent) continue;
      copy(entry, out);
      if (out.hash != h32 || out.name_len != name.size() ||
          std::memcmp(out.name, name.data(), name.size()) != 0)
        continue;
      return true;
    }
    return false;
  }

 private:
  // Word by word (the server may be writing it), then into a real Entry.
  static void copy(const Entry& from, Entry& to) {
    const auto* src = reinterpret_cast<const uint64_t*>(&from);
    uint64_t words[sizeof(Entry) / 8];
    for (size_t i = 0; i < sizeof(Entry) / 8; i++) words[i] = load(&src[i]);
    std::memcpy(&to, words, sizeof to);
  }

  const Header* header_ = nullptr;
  const uint32_t* index_ = nullptr;
  const Entry* entries_ = nullptr;
  uint64_t mask_ = 0;
  uint64_t max_entries_ = 0;
};

}  // namespace userfs::table
