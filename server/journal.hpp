// The journal: an append-only file of checksummed records, one per
// namespace operation, each holding that operation's changes (changes.hpp).
//
// File: a Header, then records (RecordHeader + body) back to back, then
// zeros: space is reserved ahead with fallocate, so that once an operation
// has started, appending its record cannot fail for lack of space. A
// record's checksum covers its length, sequence number and body; sequence
// numbers follow each other from the header's first_seq.
//
// Reading classifies how the file ends: cleanly (end of file or zeros), in
// a torn record (an incomplete or unreadable last record with nothing
// valid after it: a write the server never acknowledged), or corrupt
// (anything else: a bad record with a valid one after it, a sequence gap,
// an unknown item kind, a bad header).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "unique_fd.hpp"

namespace userfs::server {

inline constexpr char kJournalMagic[8] = {'U', 'S', 'F', 'S', 'J', 'R', 'N', '1'};
inline constexpr uint32_t kRecordMagic = 0x4345524a;  // "JREC"
inline constexpr uint32_t kMaxRecordBody = 16u << 20;

struct JournalHeader {
  char magic[8];
  uint64_t instance;
  uint64_t first_seq;
  uint32_t version;
  uint32_t crc;  // of the fields above
};
static_assert(sizeof(JournalHeader) == 32);

struct RecordHeader {
  uint32_t magic;
  uint32_t length;  // body bytes
  uint64_t seq;
  uint32_t crc;         // of length, seq and the body
  uint32_t header_crc;  // of magic, length and seq: the length can be trusted
};
static_assert(sizeof(RecordHeader) == 24);

struct JournalScan {
  enum class End : uint8_t { clean, torn, corrupt };
  End end = End::clean;
  uint64_t instance = 0;
  uint64_t first_seq = 0;
  struct Record {
    uint64_t seq;
    uint64_t offset;
    std::string body;
  };
  std::vector<Record> records;
  uint64_t valid_bytes = 0;  // where the last valid record ends
  uint64_t file_bytes = 0;
  std::string problem;  // torn or corrupt: what and where
};

// Reads a whole journal. False only when it cannot be read at all (errno
// in `scan.problem`); a damaged file is reported through scan.end.
bool scan_journal(int fd, JournalScan& scan);

class JournalWriter {
 public:
  // Room an operation's record may need at most: the largest xattr value
  // plus four inode images with names and symlink targets, generously.
  static constexpr uint64_t kMaxRecord = 256 * 1024;
  // A removal's record (no xattr values, no symlink targets to add).
  static constexpr uint64_t kMaxRemovalRecord = 16 * 1024;

  // Writes a new, empty journal at `path` atomically (a temporary file,
  // fsync, rename, fsync of `dir_fd`) and opens it for appending.
  int create(int dir_fd, const std::string& name, uint64_t instance, uint64_t first_seq);
  // Goes on appending to an existing journal whose valid records (the
  // first and next sequence numbers) end at `valid_bytes`; anything after
  // them (a torn record) is overwritten with zeros first.
  int reopen(int dir_fd, const std::string& name, uint64_t first_seq, uint64_t next_seq, uint64_t valid_bytes);

  // Makes sure a record of up to `need` bytes fits in reserved space:
  // -ENOSPC (or another -errno) if it cannot be reserved.
  int reserve(uint64_t need = kMaxRecord);
  // Appends one record with write(2): in the kernel's page cache when it
  // returns 0; -EIO (and the writer refuses everything after) otherwise.
  int append(std::string_view body);
  // fdatasync.
  int sync();

  bool failed() const { return failed_; }
  uint64_t bytes() const { return pos_; }
  uint64_t records() const { return next_seq_ - first_seq_; }
  uint64_t next_seq() const { return next_seq_; }

 private:
  UniqueFd fd_;
  uint64_t pos_ = 0;        // where the next record goes
  uint64_t allocated_ = 0;  // reserved up to here
  uint64_t first_seq_ = 1;
  uint64_t next_seq_ = 1;
  bool failed_ = false;
};

}  // namespace userfs::server
