// A test plugin: a small writable tree in memory whose files are served
// through handles (no kernel fd), so every read and write goes over the
// connection. Its argument is a file where each release() is logged as
// "release <ino> <handle>", so a test can see when the last process let go.
//
// Starts with /hello.txt ("hello, world\n"), /dir/ and /dir/numbers (the
// lines "1".."20000": about 108 KiB, more than one message).
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "userfs/backend.hpp"

namespace {

using userfs::Attr;

struct Node {
  Attr attr{};
  std::string data;                        // a file's bytes
  std::map<std::string, uint64_t> entries; // a directory's
  uint64_t parent = userfs::kRootIno;
};

class HandleBackend final : public userfs::Backend {
 public:
  explicit HandleBackend(std::string log) : log_(std::move(log)) {
    make(userfs::kRootIno, S_IFDIR | 0755, userfs::kRootIno);
    add_file(userfs::kRootIno, "hello.txt", "hello, world\n");
    const uint64_t dir = add(userfs::kRootIno, "dir", S_IFDIR | 0755);
    std::string numbers;
    for (int i = 1; i <= 20000; i++) numbers += std::to_string(i) + "\n";
    add_file(dir, "numbers", numbers);
  }

  int lookup(uint64_t parent, std::string_view name, Attr& out) override {
    Node* p = node(parent);
    if (p == nullptr) return -ENOENT;
    if (!S_ISDIR(p->attr.mode)) return -ENOTDIR;
    if (name == "..") return getattr(p->parent, out);
    auto it = p->entries.find(std::string(name));
    if (it == p->entries.end()) return -ENOENT;
    return getattr(it->second, out);
  }

  int getattr(uint64_t ino, Attr& out) override {
    Node* n = node(ino);
    if (n == nullptr) return -ENOENT;
    n->attr.size = S_ISDIR(n->attr.mode) ? 4096 : n->data.size();
    n->attr.blocks = (n->attr.size + 511) / 512;
    out = n->attr;
    return 0;
  }

  int setattr(uint64_t ino, const userfs::SetattrIn& in, Attr& out) override {
    Node* n = node(ino);
    if (n == nullptr) return -ENOENT;
    if (in.valid & userfs::proto::kSetMode) n->attr.mode = (n->attr.mode & S_IFMT) | (in.mode & 07777);
    if (in.valid & userfs::proto::kSetUid) n->attr.uid = in.uid;
    if (in.valid & userfs::proto::kSetGid) n->attr.gid = in.gid;
    if (in.valid & userfs::proto::kSetSize) {
      if (S_ISDIR(n->attr.mode)) return -EISDIR;
      n->data.resize(in.size);
      touch(n->attr, true);
    }
    if (in.valid & userfs::proto::kSetAtime) {
      n->attr.atime_sec = in.atime.tv_sec;
      n->attr.atime_nsec = static_cast<uint32_t>(in.atime.tv_nsec);
    }
    if (in.valid & userfs::proto::kSetMtime) {
      n->attr.mtime_sec = in.mtime.tv_sec;
      n->attr.mtime_nsec = static_cast<uint32_t>(in.mtime.tv_nsec);
    }
    stamp_ctime(n->attr);
    return getattr(ino, out);
  }

  int mkdir(uint64_t parent, std::string_view name, const userfs::NewNode& nn, Attr& out) override {
    return make_entry(parent, name, S_IFDIR | nn.mode, nn, out);
  }

  int mknod(uint64_t parent, std::string_view name, const userfs::NewNode& nn, Attr& out) override {
    return make_entry(parent, name, S_IFREG | nn.mode, nn, out);
  }

  int create(uint64_t parent, std::string_view name, const userfs::NewNode& nn, uint32_t flags, Attr& out,
             userfs::Opened& opened) override {
    if (int rc = make_entry(parent, name, S_IFREG | nn.mode, nn, out); rc < 0) return rc;
    return open(out.ino, flags & ~userfs::proto::kOpenTrunc, opened);
  }

  int unlink(uint64_t parent, std::string_view name) override {
    Node* p = node(parent);
    if (p == nullptr) return -ENOENT;
    auto it = p->entries.find(std::string(name));
    if (it == p->entries.end()) return -ENOENT;
    // The data stays while a handle holds it (as an unlinked open file).
    nodes_[it->second].attr.nlink = 0;
    p->entries.erase(it);
    touch(p->attr, true);
    return 0;
  }

  int rmdir(uint64_t parent, std::string_view name) override {
    Node* p = node(parent);
    if (p == nullptr) return -ENOENT;
    auto it = p->entries.find(std::string(name));
    if (it == p->entries.end()) return -ENOENT;
    if (!nodes_[it->second].entries.empty()) return -ENOTEMPTY;
    nodes_.erase(it->second);
    p->entries.erase(it);
    p->attr.nlink--;
    return 0;
  }

  int open(uint64_t ino, uint32_t flags, userfs::Opened& out) override {
    Node* n = node(ino);
    if (n == nullptr) return -ENOENT;
    if (flags & userfs::proto::kOpenTrunc) {
      n->data.clear();
      touch(n->attr, true);
    }
    out.fd = -1;
    out.handle = next_handle_++;
    return 0;
  }

  int read(uint64_t ino, uint64_t, uint64_t offset, size_t size, std::string& out) override {
    Node* n = node(ino);
    if (n == nullptr) return -ESTALE;
    if (offset < n->data.size()) out.append(n->data, offset, size);
    return 0;
  }

  int write(uint64_t ino, uint64_t, uint64_t offset, std::string_view data, size_t& written) override {
    Node* n = node(ino);
    if (n == nullptr) return -ESTALE;
    if (offset + data.size() > (64u << 20)) return -EFBIG;  // a test filesystem: 64 MiB a file
    if (n->data.size() < offset + data.size()) n->data.resize(offset + data.size());
    std::memcpy(n->data.data() + offset, data.data(), data.size());
    written = data.size();
    touch(n->attr, true);
    return 0;
  }

  void release(uint64_t ino, uint64_t handle) override {
    if (FILE* f = std::fopen(log_.c_str(), "a")) {
      std::fprintf(f, "release %llu %llu\n", static_cast<unsigned long long>(ino),
                   static_cast<unsigned long long>(handle));
      std::fclose(f);
    }
  }

  int readdir(uint64_t ino, uint64_t cookie, userfs::DirFiller& fill) override {
    Node* n = node(ino);
    if (n == nullptr) return -ENOENT;
    if (!S_ISDIR(n->attr.mode)) return -ENOTDIR;
    // Cookies: 3 + the entry's place in name order at the time; names are
    // kept sorted, so "after cookie c" is "from index c - 2".
    uint64_t index = 0;
    for (const auto& [name, child] : n->entries) {
      const uint64_t c = index + 3;
      ++index;
      if (c <= cookie) continue;
      const uint8_t type = S_ISDIR(nodes_[child].attr.mode) ? DT_DIR : DT_REG;
      if (!fill.add(name, child, type, c)) break;
    }
    return 0;
  }

  int statfs(userfs::proto::StatfsRep& out) override {
    out.bsize = 4096;
    out.namelen = 255;
    out.blocks = 16384;
    out.bfree = out.bavail = 16384;
    out.files = 1024;
    out.ffree = 1024 - nodes_.size();
    return 0;
  }

 private:
  Node* node(uint64_t ino) {
    auto it = nodes_.find(ino);
    return it == nodes_.end() ? nullptr : &it->second;
  }

  static void stamp_ctime(Attr& a) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    a.ctime_sec = now.tv_sec;
    a.ctime_nsec = static_cast<uint32_t>(now.tv_nsec);
  }
  static void touch(Attr& a, bool modified) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    if (modified) {
      a.mtime_sec = a.ctime_sec = now.tv_sec;
      a.mtime_nsec = a.ctime_nsec = static_cast<uint32_t>(now.tv_nsec);
    }
  }

  uint64_t make(uint64_t ino, uint32_t mode, uint64_t parent) {
    Node& n = nodes_[ino];
    n.parent = parent;
    n.attr.ino = ino;
    n.attr.mode = mode;
    n.attr.nlink = S_ISDIR(mode) ? 2 : 1;
    n.attr.uid = getuid();
    n.attr.gid = getgid();
    n.attr.blksize = 4096;
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    n.attr.atime_sec = n.attr.mtime_sec = n.attr.ctime_sec = n.attr.btime_sec = now.tv_sec;
    return ino;
  }

  uint64_t add(uint64_t parent, const std::string& name, uint32_t mode) {
    const uint64_t ino = make(next_ino_++, mode, parent);
    nodes_[parent].entries[name] = ino;
    if (S_ISDIR(mode)) nodes_[parent].attr.nlink++;
    return ino;
  }

  void add_file(uint64_t parent, const std::string& name, const std::string& data) {
    nodes_[add(parent, name, S_IFREG | 0644)].data = data;
  }

  int make_entry(uint64_t parent, std::string_view name, uint32_t mode, const userfs::NewNode& nn, Attr& out) {
    Node* p = node(parent);
    if (p == nullptr) return -ENOENT;
    if (p->entries.count(std::string(name)) != 0) return -EEXIST;
    const uint64_t ino = add(parent, std::string(name), mode);
    nodes_[ino].attr.uid = nn.uid;
    nodes_[ino].attr.gid = nn.gid;
    touch(nodes_[parent].attr, true);
    return getattr(ino, out);
  }

  std::map<uint64_t, Node> nodes_;
  uint64_t next_ino_ = userfs::kRootIno + 1;
  uint64_t next_handle_ = 1;
  std::string log_;
};

}  // namespace

extern "C" uint32_t userfs_backend_abi() { return userfs::kBackendAbi; }

extern "C" userfs::Backend* userfs_backend_create(const char* argument, char* error, size_t error_size) {
  if (argument == nullptr || argument[0] == '\0') {
    std::snprintf(error, error_size, "give a file to log releases to: so:LIB:FILE");
    return nullptr;
  }
  return new HandleBackend(argument);
}
