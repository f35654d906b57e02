#include "spawn_actions.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace userfs::spawn_actions {

namespace {

enum class Kind : uint8_t { free, owned_fd, error, dup2, close, closefrom };

struct Record {
  const posix_spawn_file_actions_t* fa;
  Kind kind;
  int a;
  int b;
};

// A small fixed table: file-action sets that touch mounts are few and short
// lived. When full, further notes are dropped (an owned fd then stays open
// in the parent, an identity in the child may be missed).
constexpr size_t kRecords = 256;
Record records[kRecords];
pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

void note(const posix_spawn_file_actions_t* fa, Kind kind, int a, int b) {
  pthread_mutex_lock(&mu);
  for (Record& r : records) {
    if (r.kind == Kind::free) {
      r = Record{fa, kind, a, b};
      break;
    }
  }
  pthread_mutex_unlock(&mu);
}

}  // namespace

void note_owned_fd(const posix_spawn_file_actions_t* fa, int fd) { note(fa, Kind::owned_fd, fd, 0); }
void note_error(const posix_spawn_file_actions_t* fa, int err) { note(fa, Kind::error, err, 0); }
void note_dup2(const posix_spawn_file_actions_t* fa, int from, int to) { note(fa, Kind::dup2, from, to); }
void note_close(const posix_spawn_file_actions_t* fa, int fd) { note(fa, Kind::close, fd, 0); }
void note_closefrom(const posix_spawn_file_actions_t* fa, int from) { note(fa, Kind::closefrom, from, 0); }

void forget(const posix_spawn_file_actions_t* fa) {
  pthread_mutex_lock(&mu);
  for (Record& r : records) {
    if (r.kind == Kind::free || r.fa != fa) continue;
    if (r.kind == Kind::owned_fd) ::syscall(SYS_close, r.a);
    r.kind = Kind::free;
  }
  pthread_mutex_unlock(&mu);
}

bool has_notes(const posix_spawn_file_actions_t* fa) {
  bool found = false;
  pthread_mutex_lock(&mu);
  for (const Record& r : records) found = found || (r.kind != Kind::free && r.fa == fa);
  pthread_mutex_unlock(&mu);
  return found;
}

int error_of(const posix_spawn_file_actions_t* fa) {
  if (fa == nullptr) return 0;  // no actions, nothing recorded
  int err = 0;
  pthread_mutex_lock(&mu);
  for (const Record& r : records) {
    if (r.kind == Kind::error && r.fa == fa) {
      err = r.a;
      break;
    }
  }
  pthread_mutex_unlock(&mu);
  return err;
}

void child_mount_fds(const posix_spawn_file_actions_t* fa,
                     void (*fn)(int child_fd, int parent_fd, const fdt::Info& info, void* ctx), void* ctx) {
  // The child starts with the parent's fds that are not close-on-exec (the
  // caller lists those itself); here: what the actions add on top. A dup2
  // target that is a mount fd in the parent is replaced by the source's
  // identity; closes remove it. Later actions win, as in the child.
  if (fa == nullptr) return;
  pthread_mutex_lock(&mu);
  for (const Record& r : records) {
    if (r.fa != fa || r.kind != Kind::dup2) continue;
    fdt::Info info;
    bool closed_later = false;
    for (const Record& c : records) {
      if (c.fa != fa) continue;
      if ((c.kind == Kind::close && c.a == r.b) || (c.kind == Kind::closefrom && r.b >= c.a)) closed_later = true;
    }
    if (!closed_later && fdt::lookup(r.a, &info)) fn(r.b, r.a, info, ctx);
  }
  pthread_mutex_unlock(&mu);
}

}  // namespace userfs::spawn_actions
