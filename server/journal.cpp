#include "journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "crc32c.hpp"

namespace userfs::server {
namespace {

constexpr uint32_t kJournalVersion = 1;
constexpr uint64_t kReserveChunk = 512 * 1024;

uint32_t header_crc(const JournalHeader& h) { return crc32c(&h, offsetof(JournalHeader, crc)); }

uint32_t record_header_crc(const RecordHeader& h) { return crc32c(&h, offsetof(RecordHeader, crc)); }

uint32_t record_crc(const RecordHeader& h, const char* body) {
  uint32_t c = crc32c(&h.length, sizeof h.length);
  c = crc32c(&h.seq, sizeof h.seq, c);
  return crc32c(body, h.length, c);
}

// Writes all of `len` bytes at `off`; -errno, or -EIO for a short write
// that made no progress.
int pwrite_all(int fd, const void* data, size_t len, uint64_t off) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    const ssize_t n = ::pwrite(fd, p, len, static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EIO;
    p += n;
    len -= static_cast<size_t>(n);
    off += static_cast<uint64_t>(n);
  }
  return 0;
}

// Is there a valid record at `off` of `data`?
bool record_at(const std::string& data, uint64_t off, RecordHeader& h) {
  if (off + sizeof h > data.size()) return false;
  std::memcpy(&h, data.data() + off, sizeof h);
  if (h.magic != kRecordMagic || h.header_crc != record_header_crc(h) || h.length > kMaxRecordBody) return false;
  if (off + sizeof h + h.length > data.size()) return false;
  return record_crc(h, data.data() + off + sizeof h) == h.crc;
}

bool all_zero(const std::string& data, uint64_t from, uint64_t to = UINT64_MAX) {
  to = std::min<uint64_t>(to, data.size());
  for (uint64_t i = from; i < to; ++i)
    if (data[i] != 0) return false;
  return true;
}

// After a machine crash, pages of the journal the kernel had not written
// yet read back as zeros (its space is allocated ahead), while later pages
// may have been written: a zero header, or a whole zero page inside the
// record at `off` (its header intact, so its length is the real one).
// Nothing from there on was synced (a sync writes every page before it),
// so it may be dropped as a torn tail is.
bool unwritten_at(const std::string& data, uint64_t off) {
  constexpr uint64_t kPage = 4096;
  const uint64_t header_end = off + sizeof(RecordHeader);
  if (all_zero(data, off, header_end)) return true;
  const uint64_t boundary = (off / kPage + 1) * kPage;  // a header cut by an unwritten page
  if (boundary < header_end && header_end <= data.size() && all_zero(data, boundary, header_end)) return true;
  RecordHeader h{};
  if (header_end > data.size()) return false;
  std::memcpy(&h, data.data() + off, sizeof h);
  if (h.magic != kRecordMagic || h.header_crc != record_header_crc(h) || h.length > kMaxRecordBody) return false;
  const uint64_t end = std::min<uint64_t>(data.size(), off + sizeof h + h.length);
  for (uint64_t p = (off + kPage - 1) / kPage * kPage; p + kPage <= end; p += kPage)
    if (all_zero(data, p, p + kPage)) return true;
  return false;
}

}  // namespace

bool scan_journal(int fd, JournalScan& scan) {
  std::string data;
  struct stat st {};
  if (fstat(fd, &st) < 0) {
    scan.problem = std::strerror(errno);
    return false;
  }
  data.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      scan.problem = n < 0 ? std::strerror(errno) : "file shrank while read";
      return false;
    }
    got += static_cast<size_t>(n);
  }
  scan.file_bytes = data.size();

  JournalHeader h{};
  if (data.size() < sizeof h) {
    scan.end = JournalScan::End::corrupt;
    scan.problem = "journal shorter than its header (" + std::to_string(data.size()) + " bytes)";
    return true;
  }
  std::memcpy(&h, data.data(), sizeof h);
  if (std::memcmp(h.magic, kJournalMagic, sizeof h.magic) != 0 || h.crc != header_crc(h)) {
    scan.end = JournalScan::End::corrupt;
    scan.problem = "journal header damaged";
    return true;
  }
  if (h.version != kJournalVersion) {
    scan.end = JournalScan::End::corrupt;
    scan.problem = "journal version " + std::to_string(h.version) + " is not known";
    return true;
  }
  scan.instance = h.instance;
  scan.first_seq = h.first_seq;

  uint64_t off = sizeof h;
  uint64_t seq = h.first_seq;
  for (;;) {
    scan.valid_bytes = off;
    if (off >= data.size() || all_zero(data, off)) return true;  // clean end
    RecordHeader r{};
    if (!record_at(data, off, r)) break;
    if (r.seq != seq) {
      scan.end = JournalScan::End::corrupt;
      scan.problem = "record at offset " + std::to_string(off) + " has sequence number " + std::to_string(r.seq) +
                     ", expected " + std::to_string(seq);
      return true;
    }
    scan.records.push_back({seq, off, data.substr(off + sizeof r, r.length)});
    off += sizeof r + r.length;
    ++seq;
  }
  if (unwritten_at(data, off)) {
    scan.end = JournalScan::End::torn;
    scan.problem = "zeros where record " + std::to_string(seq) + " at offset " + std::to_string(off) +
                   " should be (pages a machine crash left unwritten; it and what follows were never synced)";
    return true;
  }
  // A bad record: the torn tail of an interrupted append only if nothing
  // valid follows it.
  for (uint64_t later = off + 1; later + sizeof(RecordHeader) <= data.size(); ++later) {
    RecordHeader r{};
    if (data[later] == 'J' && record_at(data, later, r)) {
      scan.end = JournalScan::End::corrupt;
      scan.problem = "damaged record at offset " + std::to_string(off) + " (sequence " + std::to_string(seq) +
                     ") followed by a valid record at offset " + std::to_string(later);
      return true;
    }
  }
  scan.end = JournalScan::End::torn;
  scan.problem = "incomplete last record at offset " + std::to_string(off) + " (sequence " + std::to_string(seq) +
                 ", " + std::to_string(data.size() - off) + " bytes to the end of the file)";
  return true;
}

int JournalWriter::create(int dir_fd, const std::string& name, uint64_t instance, uint64_t first_seq) {
  const std::string tmp = name + ".tmp";
  ::unlinkat(dir_fd, tmp.c_str(), 0);
  UniqueFd fd(::openat(dir_fd, tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return -errno;
  JournalHeader h{};
  std::memcpy(h.magic, kJournalMagic, sizeof h.magic);
  h.instance = instance;
  h.first_seq = first_seq;
  h.version = kJournalVersion;
  h.crc = header_crc(h);
  int rc = pwrite_all(fd.get(), &h, sizeof h, 0);
  if (rc == 0 && ::fsync(fd.get()) < 0) rc = -errno;
  if (rc == 0 && ::renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) < 0) rc = -errno;
  if (rc < 0) {
    ::unlinkat(dir_fd, tmp.c_str(), 0);
    return rc;
  }
  // Renamed: `name` is this file now, whatever the directory's fsync says,
  // so records must go here (the old file is unlinked).
  ::fsync(dir_fd);
  fd_ = std::move(fd);
  pos_ = allocated_ = sizeof h;
  first_seq_ = next_seq_ = first_seq;
  failed_ = false;
  return 0;
}

int JournalWriter::reopen(int dir_fd, const std::string& name, uint64_t first_seq, uint64_t next_seq,
                          uint64_t valid_bytes) {
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return -errno;
  struct stat st {};
  if (fstat(fd.get(), &st) < 0) return -errno;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  static const char zeros[4096] = {};
  for (uint64_t at = valid_bytes; at < size;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof zeros, size - at));
    if (int rc = pwrite_all(fd.get(), zeros, n, at); rc < 0) return rc;
    at += n;
  }
  if (::fdatasync(fd.get()) < 0) return -errno;
  fd_ = std::move(fd);
  pos_ = valid_bytes;
  allocated_ = std::max(size, valid_bytes);
  first_seq_ = first_seq;
  next_seq_ = next_seq;
  failed_ = false;
  return 0;
}

int JournalWriter::reserve(uint64_t need) {
  if (failed_ || !fd_.valid()) return -EIO;
  if (allocated_ - pos_ >= need) return 0;
  // Always ask for room for the largest record: a removal may use what is
  // left when that fails.
  const uint64_t want = pos_ + kMaxRecord + kReserveChunk;
  int rc = ::fallocate(fd_.get(), 0, static_cast<off_t>(allocated_), static_cast<off_t>(want - allocated_));
  if (rc < 0 && errno == EOPNOTSUPP) {
    // A filesystem without fallocate: write the zeros ourselves.
    static const char zeros[4096] = {};
    int w = 0;
    for (uint64_t at = allocated_; at < want && w == 0; at += sizeof zeros) w = pwrite_all(fd_.get(), zeros, sizeof zeros, at);
    if (w < 0) return w;
    rc = 0;
  }
  if (rc < 0) {
    const int e = errno;
    // Less than asked may still be enough for this record.
    const uint64_t small = pos_ + need;
    if (small > allocated_ &&
        ::fallocate(fd_.get(), 0, static_cast<off_t>(allocated_), static_cast<off_t>(small - allocated_)) == 0) {
      allocated_ = small;
      return 0;
    }
    return allocated_ - pos_ >= need ? 0 : -e;
  }
  allocated_ = want;
  return 0;
}

int JournalWriter::append(std::string_view body) {
  if (failed_ || !fd_.valid()) return -EIO;
  RecordHeader h{};
  h.magic = kRecordMagic;
  h.length = static_cast<uint32_t>(body.size());
  h.seq = next_seq_;
  h.crc = record_crc(h, body.data());
  h.header_crc = record_header_crc(h);
  std::string rec(reinterpret_cast<const char*>(&h), sizeof h);
  rec.append(body);
  // One write(2): a record is either wholly in the page cache or (after a
  // kill mid-write) torn at the end of the journal.
  if (body.size() > kMaxRecordBody || pwrite_all(fd_.get(), rec.data(), rec.size(), pos_) < 0) {
    failed_ = true;
    return -EIO;
  }
  pos_ += rec.size();
  if (pos_ > allocated_) allocated_ = pos_;
  ++next_seq_;
  return 0;
}

int JournalWriter::sync() {
  if (!fd_.valid()) return -EIO;
  return ::fdatasync(fd_.get()) < 0 ? -errno : 0;
}

}  // namespace userfs::server
