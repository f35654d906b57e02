// A complete userfs filesystem: a root directory holding one file, "hello",
// whose content is "Hello, world!\n", or the mount's argument if it has one:
//
//   g++ -std=c++20 -shared -fPIC -I<prefix>/include hello.cpp -o libhello.so
//   userfsd --mount /hello=so:$PWD/libhello.so:'Hi there' &
//   LD_PRELOAD=<libdir>/libuserfs.so USERFS_MOUNTS=/hello cat /hello/hello
// The walk-through is docs/writing-a-backend.md.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <userfs/backend.hpp>

namespace {

// Inode numbers are ours to choose, 1 being the root; each must name the
// same object for as long as it exists (here, forever).
constexpr uint64_t kHelloIno = 2;
constexpr std::string_view kHelloName = "hello";
// readdir's place after "hello". 0, 1 and 2 belong to the server (the
// start, "." and ".."), so the first cookie a backend may use is 3.
constexpr uint64_t kAfterHello = 3;

class HelloBackend final : public userfs::Backend {
 public:
  explicit HelloBackend(std::string text) : content_(std::move(text)) { clock_gettime(CLOCK_REALTIME, &mounted_); }

  // Declaring the filesystem read-only, rather than leaving mkdir, create,
  // unlink... at their ENOSYS default, makes the server refuse every change
  // with EROFS before it reaches us: `touch /hello/x` then says "Read-only
  // file system", as on any read-only mount, not "Function not implemented".
  bool read_only() const override { return true; }

  // The server walks paths: we answer for one name in one directory.
  int lookup(uint64_t parent, std::string_view name, userfs::Attr& out) override {
    if (parent != userfs::kRootIno) return parent == kHelloIno ? -ENOTDIR : -ENOENT;
    if (name != kHelloName) return -ENOENT;
    return getattr(kHelloIno, out);
  }

  // The server checks permissions against these modes and owners, so they
  // must be true: 0444 and no writer, since nothing here can be changed.
  int getattr(uint64_t ino, userfs::Attr& out) override {
    out = {};
    if (ino == userfs::kRootIno) {
      out.mode = S_IFDIR | 0555;
      out.nlink = 2;
    } else if (ino == kHelloIno) {
      out.mode = S_IFREG | 0444;
      out.nlink = 1;
      out.size = content_.size();
    } else {
      return -ENOENT;
    }
    out.ino = ino;
    out.uid = getuid();
    out.gid = getgid();
    out.blksize = 4096;
    out.atime_sec = out.mtime_sec = out.ctime_sec = out.btime_sec = mounted_.tv_sec;
    out.atime_nsec = out.mtime_nsec = out.ctime_nsec = out.btime_nsec = mounted_.tv_nsec;
    return 0;
  }

  // "." and ".." are the server's; we list the rest, resuming after `cookie`.
  int readdir(uint64_t ino, uint64_t cookie, userfs::DirFiller& fill) override {
    if (ino != userfs::kRootIno) return ino == kHelloIno ? -ENOTDIR : -ENOENT;
    if (cookie < kAfterHello) fill.add(kHelloName, kHelloIno, DT_REG, kAfterHello);
    return 0;
  }

  // The content is made up, with no kernel file behind it, so we serve it
  // through a handle: each read() of it comes back to us over the socket.
  // It never changes, so one handle number does for every open.
  int open(uint64_t ino, uint32_t flags, userfs::Opened& out) override {
    (void)flags;  // only reads get here: the server refuses writes (read_only)
    if (ino != kHelloIno) return -ENOENT;
    out = {.fd = -1, .handle = 1};
    return 0;
  }

  int read(uint64_t /*ino*/, uint64_t /*handle*/, uint64_t offset, size_t size, std::string& out) override {
    if (offset < content_.size()) out.append(content_, offset, size);
    return 0;
  }

 private:
  std::string content_;
  timespec mounted_{};
};

}  // namespace

// The two symbols the server looks for in a plugin. Nothing here can fail,
// so create never writes an error message.
extern "C" uint32_t userfs_backend_abi() { return userfs::kBackendAbi; }
extern "C" userfs::Backend* userfs_backend_create(const char* argument, char* /*error*/, size_t /*error_size*/) {
  return new HelloBackend(argument != nullptr && *argument != '\0' ? argument : "Hello, world!\n");
}
