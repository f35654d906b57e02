#include "archive_index.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "unique_fd.hpp"

namespace userfs::server {
namespace {

struct ArchiveCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
using Reader = std::unique_ptr<archive, ArchiveCloser>;

constexpr size_t kBlock = 64 * 1024;

// A reader over `fd` that accepts every format and compression libarchive
// knows, except "raw" (which would take any file for a one-member archive).
int open_reader(int fd, Reader& out, std::string& why) {
  Reader a(archive_read_new());
  if (!a) return -ENOMEM;
  archive_read_support_filter_all(a.get());
  archive_read_support_format_all(a.get());
  if (archive_read_open_fd(a.get(), fd, kBlock) != ARCHIVE_OK) {
    why = archive_error_string(a.get()) ? archive_error_string(a.get()) : "not an archive";
    return -EINVAL;
  }
  out = std::move(a);
  return 0;
}

int open_file(const std::string& file, UniqueFd& out, std::string& why) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int e = errno;
    why = std::string(file) + ": " + strerrordesc_np(e);
    return -e;
  }
  out = std::move(fd);
  return 0;
}

// The next header, or ARCHIVE_EOF; -EINVAL (why set) when it is damaged.
int next_header(archive* a, archive_entry*& entry, std::string& why) {
  for (;;) {
    const int r = archive_read_next_header(a, &entry);
    if (r == ARCHIVE_OK || r == ARCHIVE_WARN) return ARCHIVE_OK;
    if (r == ARCHIVE_EOF) return ARCHIVE_EOF;
    if (r == ARCHIVE_RETRY) continue;
    why = archive_error_string(a) ? archive_error_string(a) : "damaged header";
    return -EINVAL;
  }
}

// libarchive converts member names to the charset of the current locale,
// and in the "C" locale a server runs in it cannot convert a zip's UTF-8
// names at all. While reading, this thread uses C.UTF-8: Linux names are
// bytes, and UTF-8 is what every archive format can say.
class Utf8Names {
 public:
  Utf8Names() : utf8_(newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr))) {
    if (utf8_ != static_cast<locale_t>(nullptr)) old_ = uselocale(utf8_);
  }
  ~Utf8Names() {
    if (utf8_ == static_cast<locale_t>(nullptr)) return;
    uselocale(old_);
    freelocale(utf8_);
  }
  Utf8Names(const Utf8Names&) = delete;
  Utf8Names& operator=(const Utf8Names&) = delete;

 private:
  locale_t utf8_;
  locale_t old_ = static_cast<locale_t>(nullptr);
};

}  // namespace

bool normalise_member_path(std::string_view name, std::string& out) {
  out.clear();
  size_t i = 0;
  while (i < name.size()) {
    size_t end = name.find('/', i);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(i, end - i);
    i = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return false;
    if (!out.empty()) out += '/';
    out += part;
  }
  return !out.empty();
}

const ArchiveMember* ArchiveIndex::find(std::string_view path) const {
  const auto it = by_path_.find(std::string(path));
  return it == by_path_.end() ? nullptr : &members_[it->second];
}

int ArchiveIndex::load(const std::string& file, ArchiveIndex& out, std::string& why) {
  const Utf8Names names;
  UniqueFd fd;
  if (int rc = open_file(file, fd, why); rc < 0) return rc;
  struct stat archive_st {};
  if (::fstat(fd.get(), &archive_st) < 0) return -errno;
  Reader a;
  if (int rc = open_reader(fd.get(), a, why); rc < 0) return rc;

  ArchiveIndex idx;
  idx.file_ = file;
  std::vector<uint32_t> group_size;
  auto skip = [&](const std::string& name, const char* reason) { idx.skipped_.push_back(name + ": " + reason); };

  // The directory at `path`, made implicitly if the archive has not listed
  // it yet; false if something else holds that name.
  auto ensure_dir = [&](const std::string& path) {
    if (const auto it = idx.by_path_.find(path); it != idx.by_path_.end())
      return S_ISDIR(idx.members_[it->second].mode);
    ArchiveMember d;
    d.path = path;
    d.mode = S_IFDIR | 0755;
    d.uid = archive_st.st_uid;
    d.gid = archive_st.st_gid;
    d.mtime = archive_st.st_mtim;
    d.implicit = true;
    d.link_group = group_size.size();
    group_size.push_back(1);
    idx.by_path_.emplace(path, idx.members_.size());
    idx.members_.push_back(std::move(d));
    return true;
  };

  archive_entry* entry = nullptr;
  for (size_t ordinal = 0;; ++ordinal) {
    const int r = next_header(a.get(), entry, why);
    if (r == ARCHIVE_EOF) break;
    if (r < 0) return r;

    const char* raw = archive_entry_pathname(entry);
    const std::string name = raw ? raw : "";
    ArchiveMember m;
    if (!normalise_member_path(name, m.path)) {
      if (name.find("..") != std::string::npos) {
        skip(name, "a '..' component");
      } else if (archive_entry_filetype(entry) == AE_IFDIR && archive_entry_hardlink(entry) == nullptr) {
        // The archive's root ("./"): no member, but the root's attributes.
        idx.has_root_ = true;
        idx.root_.mode = AE_IFDIR | (archive_entry_perm(entry) & 07777);
        idx.root_.uid = static_cast<uid_t>(archive_entry_uid(entry));
        idx.root_.gid = static_cast<gid_t>(archive_entry_gid(entry));
        idx.root_.mtime.tv_sec = archive_entry_mtime(entry);
        idx.root_.mtime.tv_nsec = archive_entry_mtime_nsec(entry);
      }
      continue;
    }

    const char* hardlink = archive_entry_hardlink(entry);
    const ArchiveMember* linked = nullptr;
    if (hardlink != nullptr) {
      std::string to;
      if (!normalise_member_path(hardlink, to) || (linked = idx.find(to)) == nullptr || !S_ISREG(linked->mode)) {
        skip(name, "a hard link to no regular file");
        continue;
      }
      m.mode = linked->mode;
      m.uid = linked->uid;
      m.gid = linked->gid;
      m.mtime = linked->mtime;
      m.size = linked->size;
      m.data_ordinal = linked->data_ordinal;
      m.link_group = linked->link_group;
    } else {
      const mode_t type = archive_entry_filetype(entry);
      if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
        skip(name, "a special file");
        continue;
      }
      m.mode = type | (archive_entry_perm(entry) & 07777);
      m.uid = static_cast<uid_t>(archive_entry_uid(entry));
      m.gid = static_cast<gid_t>(archive_entry_gid(entry));
      m.mtime.tv_sec = archive_entry_mtime(entry);
      m.mtime.tv_nsec = archive_entry_mtime_nsec(entry);
      if (type == AE_IFREG) {
        m.size = archive_entry_size_is_set(entry) ? static_cast<uint64_t>(archive_entry_size(entry)) : 0;
        m.data_ordinal = ordinal;
      } else if (type == AE_IFLNK) {
        const char* target = archive_entry_symlink(entry);
        m.target = target ? target : "";
        m.size = m.target.size();
        if (m.target.empty()) {
          skip(name, "a symlink with no target");
          continue;
        }
      }
      m.link_group = group_size.size();
      group_size.push_back(0);
    }

    bool parents_ok = true;
    for (size_t slash = m.path.find('/'); slash != std::string::npos; slash = m.path.find('/', slash + 1)) {
      if (!ensure_dir(m.path.substr(0, slash))) {
        parents_ok = false;
        break;
      }
    }
    if (!parents_ok) {
      skip(name, "a path under a non-directory");
      continue;
    }

    if (const auto it = idx.by_path_.find(m.path); it != idx.by_path_.end()) {
      ArchiveMember& old = idx.members_[it->second];
      if (S_ISDIR(old.mode) && !S_ISDIR(m.mode)) {
        skip(name, "a non-directory over a directory");
        continue;
      }
      // A later member wins, as tar extraction overwrites.
      --group_size[old.link_group];
      ++group_size[m.link_group];
      old = std::move(m);
    } else {
      ++group_size[m.link_group];
      idx.by_path_.emplace(m.path, idx.members_.size());
      idx.members_.push_back(std::move(m));
    }
  }
  for (ArchiveMember& m : idx.members_) m.nlink = S_ISDIR(m.mode) ? 1 : group_size[m.link_group];
  out = std::move(idx);
  return 0;
}

int ArchiveIndex::extract(const ArchiveMember& m, int out_fd, std::string& why) const {
  Cursor cursor(*this);
  return cursor.extract(m, out_fd, why);
}

// An open reader, and the ordinal of the next header it will read.
struct ArchiveIndex::Cursor::Stream {
  UniqueFd fd;
  Reader reader;
  size_t next_ordinal = 0;
};

ArchiveIndex::Cursor::Cursor(const ArchiveIndex& index) : index_(index) {}
ArchiveIndex::Cursor::~Cursor() = default;

int ArchiveIndex::Cursor::extract(const ArchiveMember& m, int out_fd, std::string& why) {
  if (!S_ISREG(m.mode)) return -EINVAL;
  const Utf8Names names;
  // Whatever goes wrong below leaves the stream where no later call can
  // trust it: start again from the beginning next time.
  std::unique_ptr<Stream> s = std::move(stream_);
  if (s == nullptr || s->next_ordinal > m.data_ordinal) {
    s = std::make_unique<Stream>();
    if (int rc = open_file(index_.file_, s->fd, why); rc < 0) return rc;
    if (int rc = open_reader(s->fd.get(), s->reader, why); rc < 0) return -EIO;
  }
  archive_entry* entry = nullptr;
  for (; s->next_ordinal <= m.data_ordinal; ++s->next_ordinal) {
    const int r = next_header(s->reader.get(), entry, why);
    if (r == ARCHIVE_EOF) why = "the archive ends early: changed since it was mounted";
    if (r != ARCHIVE_OK) return -EIO;
  }
  if (archive_entry_filetype(entry) != AE_IFREG || static_cast<uint64_t>(archive_entry_size(entry)) != m.size) {
    why = "member " + m.path + " differs: the archive changed since it was mounted";
    return -EIO;
  }
  archive* a = s->reader.get();
  std::unique_ptr<char[]> buf(new char[kBlock]);
  uint64_t total = 0;
  for (;;) {
    const la_ssize_t n = archive_read_data(a, buf.get(), kBlock);
    if (n == 0) break;
    if (n < 0) {
      why = archive_error_string(a) ? archive_error_string(a) : "damaged data";
      return -EIO;
    }
    for (la_ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out_fd, buf.get() + done, static_cast<size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      done += w;
    }
    total += static_cast<uint64_t>(n);
  }
  if (total != m.size) {
    why = "member " + m.path + " is shorter than its header says";
    return -EIO;
  }
  stream_ = std::move(s);
  return 0;
}

}  // namespace userfs::server
