#include "exec.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cwd.hpp"
#include "fd_table.hpp"
#include "init.hpp"
#include "real_libc.hpp"
#include "ops.hpp"
#include "route.hpp"
#include "session.hpp"
#include "spawn_actions.hpp"

extern char** environ;

namespace userfs::exec {

namespace {

constexpr const char* kFdsVar = "USERFS_FDS";
// The last field of a USERFS_FDS entry.
constexpr int kInheritedPathOnly = 1;
constexpr int kInheritedStale = 2;  // already stale in the parent
// A generation no namespace ever reaches: such an fd is stale for good.
constexpr uint32_t kStaleForever = UINT32_MAX;
constexpr int kMaxInterpreterDepth = 4;  // the kernel's binfmt recursion limit
// Room for the strings the shim adds to a child's environment. On the
// stack: exec may run in a vfork child, where malloc is not safe.
constexpr size_t kEnvText = 16 * 1024;

// The first byte before the call: most entries differ there, and a child's
// environment is checked name by name at every exec and spawn.
bool has_name(const char* entry, const char* name, size_t n) {
  return entry[0] == name[0] && std::strncmp(entry, name, n) == 0 && entry[n] == '=';
}

// Appends "text" to the buffer; returns where it starts, or null if full.
struct TextBuffer {
  char* data;
  size_t cap;
  size_t used = 0;
  char* add(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (used >= cap) return nullptr;
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(data + used, cap - used, fmt, ap);
    va_end(ap);
    if (n < 0 || used + static_cast<size_t>(n) + 1 > cap) return nullptr;
    char* start = data + used;
    used += static_cast<size_t>(n) + 1;
    return start;
  }
};

struct FdList {
  TextBuffer* text;
  char* start;
  bool any = false;
  bool full = false;
};

// Appends one child fd to the USERFS_FDS string being built: the child's
// number, what the fd table knows of it, and the kernel's identity of the
// open file (st_dev, st_ino of `parent_fd`), by which the child knows the
// fd still is that file whatever backend gave it.
void list_child_fd(int fd, int parent_fd, const fdt::Info& info, void* ctx) {
  auto* l = static_cast<FdList*>(ctx);
  if (l->full) return;
  struct stat st {};
  if (::syscall(SYS_fstat, parent_fd, &st) != 0) return;
  // Extend the one string in place: the last thing added to the buffer.
  TextBuffer& t = *l->text;
  t.used--;  // drop the NUL, append, re-terminate
  int flags = (info.path_only ? kInheritedPathOnly : 0) | (session::stale(info.generation) ? kInheritedStale : 0);
  int n = std::snprintf(t.data + t.used, t.cap - t.used, ",%d:%llu:%d:%u:%u:%u:%d:%llx:%llx", fd,
                        static_cast<unsigned long long>(info.ino), static_cast<int>(info.kind), info.mode, info.uid,
                        info.gid, flags, static_cast<unsigned long long>(st.st_dev),
                        static_cast<unsigned long long>(st.st_ino));
  // A handle file also carries the server's id of the open file and how
  // it was opened.
  if (n >= 0 && info.kind == fdt::Kind::handle && t.used + static_cast<size_t>(n) < t.cap) {
    int more = std::snprintf(t.data + t.used + n, t.cap - t.used - static_cast<size_t>(n), ":%llx:%u:%d",
                             static_cast<unsigned long long>(info.handle), info.access, info.append ? 1 : 0);
    n = more < 0 ? -1 : n + more;
  }
  if (n < 0 || t.used + static_cast<size_t>(n) + 1 > t.cap) {
    t.data[t.used] = '\0';
    t.used++;
    l->full = true;
    return;
  }
  t.used += static_cast<size_t>(n) + 1;
  l->any = true;
}

// A mount fd of this process that the child inherits (not close-on-exec).
void list_inherited_fd(int fd, const fdt::Info& info, void* ctx) {
  long flags = ::syscall(SYS_fcntl, fd, F_GETFD);
  if (flags < 0 || (flags & FD_CLOEXEC)) return;
  list_child_fd(fd, fd, info, ctx);
}

// A vfork child's own dup2s onto its stdio (Python's subprocess with
// stdout= a mount file) are not in the table, which is the parent's: an
// fd 0-2 the table does not know is listed as the mount fd whose open file
// it is, if any. The child may have closed the parent's numbers: their
// files are looked at through the parent's /proc/<pid>/fd.
struct StdioMatch {
  struct stat st[3];
  bool open[3];
  int parent;
  FdList* list;
};
void match_stdio(int fd, const fdt::Info& info, void* ctx) {
  auto* m = static_cast<StdioMatch*>(ctx);
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/fd/%d", m->parent, fd);
  struct stat st {};
  if (::syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0) != 0) return;
  for (int i = 0; i < 3; i++) {
    if (!m->open[i] || st.st_dev != m->st[i].st_dev || st.st_ino != m->st[i].st_ino) continue;
    fdt::Info here;
    if (!fdt::lookup(i, &here)) list_child_fd(i, i, info, m->list);
    m->open[i] = false;
  }
}
void list_vfork_stdio(FdList& l, int parent) {
  StdioMatch m{};
  m.list = &l;
  m.parent = parent;
  for (int i = 0; i < 3; i++) m.open[i] = ::syscall(SYS_fstat, i, &m.st[i]) == 0;
  fdt::for_each(match_stdio, &m);
}

// The environment for a child: envp, plus the shim's settings it lacks,
// LD_PRELOAD naming the shim, and the inherited mount fds (with what spawn
// file actions add). `out` has room for count(envp) + 16 entries.
char** child_env(char* const envp[], char** out, TextBuffer& text,
                 const posix_spawn_file_actions_t* actions = nullptr) {
  const shim::Config& cfg = shim::config();
  size_t n = 0;
  const char* lib = cfg.library;
  bool preload_ok = false;
  for (size_t i = 0; envp != nullptr && envp[i] != nullptr; i++) {
    if (has_name(envp[i], kFdsVar, std::strlen(kFdsVar))) continue;  // ours to rebuild
    if (lib != nullptr && has_name(envp[i], "LD_PRELOAD", 10)) {
      if (std::strstr(envp[i], lib) == nullptr) {
        char* e = text.add("LD_PRELOAD=%s:%s", lib, envp[i] + 11);
        if (e != nullptr) {
          out[n++] = e;
          preload_ok = true;
          continue;
        }
      } else {
        preload_ok = true;
      }
    }
    out[n++] = envp[i];
  }
  if (!preload_ok && lib != nullptr) {
    if (char* e = text.add("LD_PRELOAD=%s", lib)) out[n++] = e;
  }
  for (const char* c = cfg.carried; *c != '\0'; c += std::strlen(c) + 1) {
    const char* eq = std::strchr(c, '=');
    size_t name_len = static_cast<size_t>(eq - c);
    bool present = false;
    for (size_t i = 0; i < n && !present; i++) present = has_name(out[i], c, name_len);
    if (!present) out[n++] = const_cast<char*>(c);
  }
  // "@instance" first: the namespace the fds' inode numbers belong to.
  // Nothing to list (the usual case) costs no formatting.
  if (char* start = fdt::empty() ? nullptr : text.add("%s=@%llx", kFdsVar, static_cast<unsigned long long>(session::instance()))) {
    FdList l{&text, start};
    fdt::for_each(list_inherited_fd, &l);
    if (const int parent = fdt::vfork_parent(); parent != 0) list_vfork_stdio(l, parent);
    spawn_actions::child_mount_fds(actions, list_child_fd, &l);
    if (l.any) out[n++] = start;
  }
  out[n] = nullptr;
  return out;
}

size_t count(char* const v[]) {
  size_t n = 0;
  while (v != nullptr && v[n] != nullptr) n++;
  return n;
}

// Reads the "#!interpreter [arg]" line of a mount file. Returns 1 with
// interp/arg filled, 0 if it is not a script, -errno on failure.
int read_shebang(const char* path, char* interp, size_t icap, char* arg, size_t acap) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);  // the shim's own open: routes to the mount
  if (fd < 0) return -errno;
  char line[256];
  ssize_t got = ::read(fd, line, sizeof line - 1);
  ::close(fd);
  if (got < 2 || line[0] != '#' || line[1] != '!') return 0;
  line[got] = '\0';
  char* end = std::strchr(line, '\n');
  if (end == nullptr) return -ENOEXEC;
  *end = '\0';
  char* p = line + 2;
  while (*p == ' ' || *p == '\t') p++;
  char* q = p;
  while (*q != '\0' && *q != ' ' && *q != '\t') q++;
  if (q == p) return -ENOEXEC;
  char* rest = q;
  if (*rest != '\0') *rest++ = '\0';
  while (*rest == ' ' || *rest == '\t') rest++;
  char* tail = rest + std::strlen(rest);
  while (tail > rest && (tail[-1] == ' ' || tail[-1] == '\t')) *--tail = '\0';
  if (std::strlen(p) >= icap || std::strlen(rest) >= acap) return -ENAMETOOLONG;
  std::strcpy(interp, p);
  std::strcpy(arg, rest);
  return 1;
}

// What executing `path` means when it is a mount file: checks and, for a
// script, the interpreter command line. Returns 0 (ELF: run the data fd),
// 1 (script: run interp with the new argv), or -errno.
int prepare_mount_exec(const char* path, char* interp, char* arg) {
  struct stat st;
  if (::stat(path, &st) != 0) return -errno;
  if (!S_ISREG(st.st_mode)) return -EACCES;
  if (::access(path, X_OK) != 0) return -errno;
  return read_shebang(path, interp, PATH_MAX, arg, PATH_MAX);
}

// argv for a script: interp [arg] script argv[1..].
char** script_argv(char** out, char* interp, char* arg, const char* script, char* const argv[]) {
  size_t n = 0;
  out[n++] = interp;
  if (*arg != '\0') out[n++] = arg;
  out[n++] = const_cast<char*>(script);
  for (size_t i = 1; argv != nullptr && argv[0] != nullptr && argv[i] != nullptr; i++) out[n++] = argv[i];
  out[n] = nullptr;
  return out;
}

int execve_depth(const char* path, char* const argv[], char* const envp[], int depth) {
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::fail) {
    errno = t.err;
    return -1;
  }
  size_t slots = count(envp) + 16;
  char* env[slots];
  char text_buf[kEnvText];
  TextBuffer text{text_buf, sizeof text_buf};
  if (t.route == route::Route::pass) return real::libc.execve(t.host_path, argv, child_env(envp, env, text));

  char interp[PATH_MAX], arg[PATH_MAX];
  int kind = prepare_mount_exec(path, interp, arg);
  if (kind < 0) {
    errno = -kind;
    return -1;
  }
  if (kind == 1) {
    if (depth >= kMaxInterpreterDepth) {
      errno = ELOOP;
      return -1;
    }
    char* args[count(argv) + 4];
    return execve_depth(interp, script_argv(args, interp, arg, path, argv), envp, depth + 1);
  }
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ::syscall(SYS_execveat, fd, "", argv, child_env(envp, env, text), AT_EMPTY_PATH);
  int err = errno;
  ::close(fd);
  errno = err;
  return -1;
}

bool path_reaches_mount(const char* pathvar) {
  const char* p = pathvar;
  while (true) {
    const char* end = std::strchr(p, ':');
    size_t n = end ? static_cast<size_t>(end - p) : std::strlen(p);
    char dir[PATH_MAX];
    if (n < sizeof dir) {
      std::memcpy(dir, p, n);
      dir[n] = '\0';
      if (n == 0) std::strcpy(dir, ".");
      route::Target t;
      route::resolve(dir, t);
      if (t.route != route::Route::pass) return true;
    }
    if (end == nullptr) return false;
    p = end + 1;
  }
}

// Walks PATH like glibc's execvpe: calls try_one(candidate) for each entry;
// stops at the first that does not fail with a "not here" errno.
template <class Try>
int search_path(const char* file, Try&& try_one) {
  const char* pathvar = std::getenv("PATH");
  if (pathvar == nullptr) pathvar = "/bin:/usr/bin";
  bool saw_eacces = false;
  const char* p = pathvar;
  size_t flen = std::strlen(file);
  while (true) {
    const char* end = std::strchr(p, ':');
    size_t n = end ? static_cast<size_t>(end - p) : std::strlen(p);
    char candidate[PATH_MAX];
    if (n + 1 + flen < sizeof candidate) {
      if (n == 0) {
        std::memcpy(candidate, file, flen + 1);
      } else {
        std::memcpy(candidate, p, n);
        candidate[n] = '/';
        std::memcpy(candidate + n + 1, file, flen + 1);
      }
      int r = try_one(candidate);
      if (r == 0) return 0;
      if (errno == EACCES) {
        saw_eacces = true;
      } else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV && errno != ETIMEDOUT) {
        return -1;
      }
    }
    if (end == nullptr) break;
    p = end + 1;
  }
  errno = saw_eacces ? EACCES : ENOENT;
  return -1;
}

}  // namespace

int execve(const char* path, char* const argv[], char* const envp[]) { return execve_depth(path, argv, envp, 0); }

int execvpe(const char* file, char* const argv[], char* const envp[]) {
  if (file == nullptr || *file == '\0') {
    errno = ENOENT;
    return -1;
  }
  if (std::strchr(file, '/') != nullptr) return execve(file, argv, envp);
  const char* pathvar = std::getenv("PATH");
  if (!path_reaches_mount(pathvar != nullptr ? pathvar : "/bin:/usr/bin")) {
    size_t slots = count(envp) + 16;
    char* env[slots];
    char text_buf[kEnvText];
    TextBuffer text{text_buf, sizeof text_buf};
    return real::libc.execvpe(file, argv, child_env(envp, env, text));
  }
  return search_path(file, [&](const char* candidate) {
    execve(candidate, argv, envp);
    if (errno == ENOEXEC) {
      // As glibc: a file without a #! line is a shell script.
      char* args[count(argv) + 3];
      char sh[] = "/bin/sh";
      char none[] = "";
      execve(sh, script_argv(args, sh, none, candidate, argv), envp);
    }
    return -1;
  });
}

int fexecve(int fd, char* const argv[], char* const envp[]) {
  size_t slots = count(envp) + 16;
  char* env[slots];
  char text_buf[kEnvText];
  TextBuffer text{text_buf, sizeof text_buf};
  return real::libc.fexecve(fd, argv, child_env(envp, env, text));
}

int spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions, const posix_spawnattr_t* attr,
          char* const argv[], char* const envp[], bool search) {
  if (search && std::strchr(path, '/') == nullptr) {
    const char* pathvar = std::getenv("PATH");
    if (path_reaches_mount(pathvar != nullptr ? pathvar : "/bin:/usr/bin")) {
      int result = ENOENT;
      int found = search_path(path, [&](const char* candidate) {
        if (::access(candidate, X_OK) != 0) return -1;
        result = spawn(pid, candidate, actions, attr, argv, envp, false);
        return 0;
      });
      return found == 0 ? result : errno;
    }
  }
  if (int err = spawn_actions::error_of(actions)) return err;
  size_t slots = count(envp) + 16;
  char** env = static_cast<char**>(std::malloc(slots * sizeof(char*)));
  char* text_buf = static_cast<char*>(std::malloc(kEnvText));
  if (env == nullptr || text_buf == nullptr) {
    std::free(env);
    std::free(text_buf);
    return ENOMEM;
  }
  TextBuffer text{text_buf, kEnvText};
  child_env(envp, env, text, actions);

  route::Target t;
  route::resolve(path, t);
  int r;
  if (t.route == route::Route::fail) {
    r = t.err;
  } else if (t.route == route::Route::pass) {
    r = search ? real::libc.posix_spawnp(pid, t.host_path, actions, attr, argv, env)
               : real::libc.posix_spawn(pid, t.host_path, actions, attr, argv, env);
  } else {
    char interp[PATH_MAX], arg[PATH_MAX];
    int kind = prepare_mount_exec(path, interp, arg);
    if (kind < 0) {
      r = -kind;
    } else if (kind == 1) {
      char* args[count(argv) + 4];
      r = spawn(pid, interp, actions, attr, script_argv(args, interp, arg, path, argv), envp, false);
    } else {
      // The child runs the file through its data fd, inherited for the
      // purpose (one extra open fd in the child).
      int fd = ::open(path, O_RDONLY);
      if (fd < 0) {
        r = errno;
      } else {
        char proc[32];
        std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        r = real::libc.posix_spawn(pid, proc, actions, attr, argv, env);
        ::close(fd);
      }
    }
  }
  std::free(env);
  std::free(text_buf);
  return r;
}

void import_inherited_fds() {
  // A secure-execution process trusts nothing its caller put in the
  // environment (and reads no settings from it either).
  if (::getauxval(AT_SECURE) != 0) return;
  const char* list = std::getenv(kFdsVar);
  if (list == nullptr) return;
  const char* p = list;
  unsigned long long instance = 0;
  int head = 0;
  if (std::sscanf(p, "@%llx%n", &instance, &head) == 1) {
    session::inherit_instance(instance);
    p += head;
  }
  while (*p == ',') {
    p++;
    int fd, kind, flags;
    unsigned long long ino, host_dev, host_ino;
    unsigned mode, uid, gid;
    int used = 0;
    if (std::sscanf(p, "%d:%llu:%d:%u:%u:%u:%d:%llx:%llx%n", &fd, &ino, &kind, &mode, &uid, &gid, &flags, &host_dev,
                    &host_ino, &used) != 9)
      break;
    unsigned long long handle = 0;
    unsigned access = 0;
    int append = 0;
    if (kind == static_cast<int>(fdt::Kind::handle)) {
      int more = 0;
      if (std::sscanf(p + used, ":%llx:%u:%d%n", &handle, &access, &append, &more) != 3) break;
      used += more;
    }
    // Only an fd that still is the open file the parent handed over (the
    // program may have closed or replaced it before exec): the same kernel
    // object, and of the kind recorded (a handle file's placeholder is a
    // socket whose peer its server keeps).
    struct stat st {};
    if (::syscall(SYS_fstat, fd, &st) == 0 && st.st_dev == host_dev && st.st_ino == host_ino &&
        (kind == static_cast<int>(fdt::Kind::file) || kind == static_cast<int>(fdt::Kind::dir) ||
         kind == static_cast<int>(fdt::Kind::handle))) {
      fdt::Info info{ino, static_cast<fdt::Kind>(kind), mode, uid, gid, (flags & kInheritedPathOnly) != 0,
                     (flags & kInheritedStale) ? kStaleForever : session::generation()};
      info.handle = handle;
      info.access = static_cast<uint8_t>(access & 3);
      info.append = append != 0;
      fdt::set(fd, info);
    }
    p += used;
  }
  ::unsetenv(kFdsVar);
  // stdio reads stdin with libc's internal read, which no interposer sees
  // (a read past the shim sees the end of the file): a handle file as
  // stdin gets a stream that reads through the server.
  fdt::Info in;
  if (fdt::lookup(0, &in) && in.kind == fdt::Kind::handle) {
    if (FILE* f = ops::handle_stream(0, in, "r")) stdin = f;
  }
}

}  // namespace userfs::exec
