#include "fd_table.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace userfs::fdt {

namespace {

// Two levels of 1024: covers fds up to 2^20 with nothing allocated until a
// mount fd lands in a chunk. Chunks come from mmap, not malloc, and are
// never freed, so a racing reader never sees freed memory.
constexpr int kChunkBits = 10;
constexpr int kChunk = 1 << kChunkBits;
constexpr int kChunks = 1 << 10;

// Fields are separate atomics: a reader racing a writer on the same fd (a
// program closing an fd another thread uses) may see a mix, never a crash.
struct Slot {
  std::atomic<uint64_t> ino;       // 0: not ours
  // append << 43 | access << 41 | path_only << 40 | kind << 32 | mode
  std::atomic<uint64_t> kind_mode;
  std::atomic<uint64_t> owner;     // uid << 32 | gid
  std::atomic<uint32_t> generation;
  std::atomic<uint64_t> handle;
};

// The chunk of fds 0-1023, which every process's first fd call reads, is
// apart from the others, in .data: .data shares a page with the GOT, which
// the loader writes in every process, while the first read of `chunks`
// would fault in a page of .bss. chunks[0] is unused.
__attribute__((section(".data"))) constinit std::atomic<Slot*> low_chunk{nullptr};
constinit std::atomic<Slot*> chunks[kChunks]{};
// 1 + the index of the highest chunk ever made: for_each, at every exec
// and spawn, looks no further (it read all 1024 chunk pointers).
__attribute__((section(".data"))) constinit std::atomic<unsigned> chunk_limit{0};

std::atomic<Slot*>& chunk(unsigned index) { return index == 0 ? low_chunk : chunks[index]; }

// The process whose memory the table is in (0: none recorded yet). A vfork
// child runs in its parent's memory until it execs, and Python's subprocess
// (among others) closes and dup2s fds there: those changes are the
// child's, and must not land in the parent's table. fork children record
// themselves (pthread_atfork); vfork runs no atfork handler.
constinit std::atomic<pid_t> owner_pid{0};
pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
pid_t current_pid() { return static_cast<pid_t>(::syscall(SYS_getpid)); }
void owner_is_fork_child() { owner_pid.store(current_pid(), std::memory_order_relaxed); }
void watch_forks() { pthread_atfork(nullptr, nullptr, owner_is_fork_child); }

// Whether this process may change the table: not in a vfork child. Asked
// only before changing a mount fd's slot (a system call).
bool ours_to_change() {
  const pid_t me = current_pid();
  pid_t owner = owner_pid.load(std::memory_order_relaxed);
  if (owner == 0) {
    pthread_once(&atfork_once, watch_forks);
    if (owner_pid.compare_exchange_strong(owner, me, std::memory_order_relaxed)) return true;
  }
  return owner == me;
}

Slot* slot(int fd, bool create) {
  if (fd < 0 || fd >= kChunk * kChunks) return nullptr;
  std::atomic<Slot*>& c = chunk(static_cast<unsigned>(fd) >> kChunkBits);
  Slot* s = c.load(std::memory_order_acquire);
  if (s == nullptr) {
    if (!create) return nullptr;
    void* m = ::mmap(nullptr, sizeof(Slot) * kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    Slot* fresh = static_cast<Slot*>(m);
    if (!c.compare_exchange_strong(s, fresh, std::memory_order_acq_rel)) {
      ::munmap(m, sizeof(Slot) * kChunk);
    } else {
      s = fresh;
      const unsigned limit = (static_cast<unsigned>(fd) >> kChunkBits) + 1;
      unsigned seen = chunk_limit.load(std::memory_order_relaxed);
      while (seen < limit && !chunk_limit.compare_exchange_weak(seen, limit, std::memory_order_release)) {
      }
    }
  }
  return s + (fd & (kChunk - 1));
}

}  // namespace

bool lookup(int fd, Info* out) {
  Slot* s = slot(fd, false);
  if (s == nullptr) return false;
  uint64_t ino = s->ino.load(std::memory_order_acquire);
  if (ino == 0) return false;
  uint64_t km = s->kind_mode.load(std::memory_order_relaxed);
  uint64_t owner = s->owner.load(std::memory_order_relaxed);
  out->ino = ino;
  out->kind = static_cast<Kind>((km >> 32) & 0xff);
  out->path_only = ((km >> 40) & 1) != 0;
  out->access = static_cast<uint8_t>((km >> 41) & 3);
  out->append = ((km >> 43) & 1) != 0;
  out->handle = s->handle.load(std::memory_order_relaxed);
  out->mode = static_cast<uint32_t>(km);
  out->uid = static_cast<uint32_t>(owner >> 32);
  out->gid = static_cast<uint32_t>(owner);
  out->generation = s->generation.load(std::memory_order_relaxed);
  return true;
}

void set(int fd, const Info& info) {
  if (!ours_to_change()) return;
  Slot* s = slot(fd, true);
  if (s == nullptr) return;
  s->kind_mode.store(uint64_t{info.append} << 43 | uint64_t{info.access & 3u} << 41 | uint64_t{info.path_only} << 40 |
                         uint64_t{static_cast<uint8_t>(info.kind)} << 32 | info.mode,
                     std::memory_order_relaxed);
  s->handle.store(info.handle, std::memory_order_relaxed);
  s->owner.store(uint64_t{info.uid} << 32 | info.gid, std::memory_order_relaxed);
  s->generation.store(info.generation, std::memory_order_relaxed);
  s->ino.store(info.ino, std::memory_order_release);
}

void clear(int fd) {
  Slot* s = slot(fd, false);
  if (s != nullptr && s->ino.load(std::memory_order_relaxed) != 0 && ours_to_change())
    s->ino.store(0, std::memory_order_release);
}

void clear_range(unsigned first, unsigned last) {
  constexpr unsigned kMax = static_cast<unsigned>(kChunk) * kChunks;
  if (first >= kMax) return;
  if (last >= kMax) last = kMax - 1;
  bool checked = false;  // ours_to_change() asked (once, at the first mount fd)
  for (unsigned fd = first; fd <= last;) {
    Slot* slots = chunk(fd >> kChunkBits).load(std::memory_order_acquire);
    unsigned chunk_end = (fd | (kChunk - 1));
    unsigned end = chunk_end < last ? chunk_end : last;
    if (slots != nullptr) {
      for (unsigned i = fd; i <= end; i++) {
        std::atomic<uint64_t>& ino = slots[i & (kChunk - 1)].ino;
        if (ino.load(std::memory_order_relaxed) == 0) continue;
        if (!checked && !ours_to_change()) return;
        checked = true;
        ino.store(0, std::memory_order_release);
      }
    }
    if (end == last) break;
    fd = end + 1;
  }
}

void for_each(void (*fn)(int fd, const Info& info, void* ctx), void* ctx) {
  const int limit = static_cast<int>(chunk_limit.load(std::memory_order_acquire));
  for (int c = 0; c < limit; c++) {
    if (chunk(static_cast<unsigned>(c)).load(std::memory_order_acquire) == nullptr) continue;
    for (int i = 0; i < kChunk; i++) {
      int fd = c * kChunk + i;
      Info info;
      if (lookup(fd, &info)) fn(fd, info, ctx);
    }
  }
}

bool empty() { return chunk_limit.load(std::memory_order_acquire) == 0; }

int vfork_parent() {
  const pid_t owner = owner_pid.load(std::memory_order_relaxed);
  return owner != 0 && owner != current_pid() ? owner : 0;
}

void copy(int from, int to) {
  Info info;
  if (lookup(from, &info)) {
    set(to, info);
  } else {
    clear(to);
  }
}

}  // namespace userfs::fdt
