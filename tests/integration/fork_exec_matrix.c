/* fork_exec_matrix BASE: what a child process sees of its parent's files,
 * for every way of starting one (fork, fork+execve, vfork+execve,
 * posix_spawn, and execve/posix_spawn of a copy of this program stored in
 * BASE). Prints a transcript that must be the same when BASE is a plain
 * directory and when it is a userfs mount directory (tests/integration/
 * fork_exec.sh diffs the two). Never prints pids, inode numbers, times or
 * BASE itself: only relations ("same inode", "other:parent").
 *
 * A child started with exec runs this program again as
 *   fork_exec_matrix --child ROLE ARGS...
 * and a child started with plain fork calls the same role function. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char self_exe[4096];
static char base[4096];
static const char *method_name = "";

static void say(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 1) n = sizeof buf - 1;
  for (int off = 0; off < n;) {
    ssize_t w = write(1, buf + off, n - off);
    if (w <= 0) return;
    off += w;
  }
}

static void __attribute__((noreturn)) die(const char *what) {
  say("FATAL %s: %s\n", what, strerror(errno));
  exit(2);
}

static const char *errname(int e) {
  switch (e) {
    case 0: return "0";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";  /* == EWOULDBLOCK */
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOTDIR: return "ENOTDIR";
    case EIO: return "EIO";
    case ENOTCONN: return "ENOTCONN";
    default: {
      static char b[32];
      snprintf(b, sizeof b, "errno%d", e);
      return b;
    }
  }
}

static void path_in_base(char *out, size_t n, const char *rel) {
  int k = snprintf(out, n, "%s/%s", base, rel);
  if (k < 0 || (size_t)k >= n) {
    errno = ENAMETOOLONG;
    die("path");
  }
}

static const char *kind(mode_t m) {
  return S_ISREG(m) ? "reg" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "lnk" : "other";
}

/* ---------------------------------------------------------------------
 * Child roles. Each gets its own argv (role name first). */

/* write-fd FD: write "child" to the inherited fd; report the shared offset. */
static int role_write_fd(char **a) {
  int fd = atoi(a[1]);
  if (write(fd, "child;", 6) != 6) { say("  child write: %s\n", errname(errno)); return 1; }
  say("  child offset after write: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
  return 0;
}

/* fdflags PATH FD... : is each fd open, is it close-on-exec, and for an open
 * one, does fstat report the identity of PATH. */
static int role_fdflags(char **a) {
  struct stat ps;
  if (stat(a[1], &ps) != 0) { say("  stat path: %s\n", errname(errno)); return 1; }
  for (int i = 2; a[i]; i++) {
    int fd = atoi(a[i]);
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0) {
      say("  fd#%d closed (%s)\n", i - 1, errname(errno));
      continue;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) { say("  fd#%d open, fstat %s\n", i - 1, errname(errno)); continue; }
    /* A directory's size is filesystem-specific: only a file's is shown. */
    say("  fd#%d open cloexec=%d %s nlink=%lu size=%lld same-ino=%d same-dev=%d\n", i - 1,
        (fl & FD_CLOEXEC) ? 1 : 0, kind(st.st_mode), (unsigned long)st.st_nlink,
        S_ISREG(st.st_mode) ? (long long)st.st_size : -1LL, st.st_ino == ps.st_ino, st.st_dev == ps.st_dev);
  }
  return 0;
}

/* fstat FD PATH: identity of an inherited fd against stat(PATH). */
static int role_fstat(char **a) {
  int fd = atoi(a[1]);
  struct stat st, ps;
  if (fstat(fd, &st) != 0) { say("  fstat: %s\n", errname(errno)); return 1; }
  if (stat(a[2], &ps) != 0) { say("  stat: %s\n", errname(errno)); return 1; }
  say("  fstat %s nlink=%lu size=%lld mode=%o same-ino=%d same-dev=%d\n", kind(st.st_mode),
      (unsigned long)st.st_nlink, S_ISREG(st.st_mode) ? (long long)st.st_size : -1LL,
      (unsigned)(st.st_mode & 07777),
      st.st_ino == ps.st_ino, st.st_dev == ps.st_dev);
  /* The fd still reads the file's content from offset 0. */
  if (S_ISREG(st.st_mode)) {
    char buf[64] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    say("  pread: %zd \"%s\"\n", n, n > 0 ? buf : "");
  }
  return 0;
}

/* cwd BASE: the cwd relative to BASE, and relative opens from it. */
static int role_cwd(char **a) {
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) { say("  getcwd: %s\n", errname(errno)); return 1; }
  size_t bl = strlen(a[1]);
  if (strncmp(cwd, a[1], bl) == 0)
    say("  getcwd: $BASE%s\n", cwd + bl);
  else
    say("  getcwd: outside base\n");
  char buf[64] = {0};
  int fd = open("rel.txt", O_RDONLY);
  if (fd < 0) { say("  open rel.txt: %s\n", errname(errno)); }
  else {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    say("  rel.txt: %zd \"%s\"\n", n, n > 0 ? buf : "");
    close(fd);
  }
  struct stat st, up;
  if (stat(".", &st) == 0 && stat("..", &up) == 0)
    say("  stat . %s, .. %s\n", kind(st.st_mode), kind(up.st_mode));
  fd = open("made-by-child", O_WRONLY | O_CREAT | O_EXCL, 0644);
  say("  create relative: %s\n", fd >= 0 ? "ok" : errname(errno));
  if (fd >= 0) { unlink("made-by-child"); close(fd); }
  return 0;
}

/* dirfd FD: a directory fd inherited across exec, used with *at calls. */
static int role_dirfd(char **a) {
  int dfd = atoi(a[1]);
  struct stat st;
  if (fstat(dfd, &st) != 0) { say("  fstat dirfd: %s\n", errname(errno)); return 1; }
  say("  fstat dirfd: %s\n", kind(st.st_mode));
  int fd = openat(dfd, "sub/f.txt", O_RDONLY);
  if (fd < 0) say("  openat sub/f.txt: %s\n", errname(errno));
  else {
    char buf[64] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    say("  openat sub/f.txt: %zd \"%s\"\n", n, n > 0 ? buf : "");
    close(fd);
  }
  if (fstatat(dfd, "sub", &st, 0) == 0) say("  fstatat sub: %s\n", kind(st.st_mode));
  else say("  fstatat sub: %s\n", errname(errno));
  if (fstatat(dfd, "sub/f.txt", &st, AT_SYMLINK_NOFOLLOW) == 0)
    say("  fstatat sub/f.txt: %s size=%lld\n", kind(st.st_mode), (long long)st.st_size);
  else say("  fstatat sub/f.txt: %s\n", errname(errno));
  if (fstatat(dfd, "missing", &st, 0) != 0) say("  fstatat missing: %s\n", errname(errno));
  if (mkdirat(dfd, "child-dir", 0755) == 0) {
    say("  mkdirat: ok\n");
    int r = unlinkat(dfd, "child-dir", AT_REMOVEDIR);
    say("  unlinkat: %s\n", r == 0 ? "ok" : errname(errno));
  } else say("  mkdirat: %s\n", errname(errno));
  int d2 = openat(dfd, ".", O_RDONLY | O_DIRECTORY);
  DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
  if (!d) { say("  fdopendir: %s\n", errname(errno)); return 0; }
  char names[16][256];
  int k = 0;
  struct dirent *e;
  while ((e = readdir(d)) && k < 16)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      snprintf(names[k++], 256, "%s", e->d_name);
  closedir(d);
  qsort(names, k, 256, (int (*)(const void *, const void *))strcmp);
  say("  readdir:");
  for (int i = 0; i < k; i++) say(" %s", names[i]);
  say("\n");
  return 0;
}

static const char *lock_owner(const struct flock *l) {
  if (l->l_type == F_UNLCK) return "unlocked";
  if (l->l_pid == getpid()) return "self";
  if (l->l_pid == getppid()) return "other:parent";
  return "other:unknown";
}

/* locks INHERITED_FD PATH READY_FD GO_FD: the parent holds a write lock on
 * [0,10) and flock(LOCK_EX) on INHERITED_FD's description. */
static int role_locks(char **a) {
  int ifd = atoi(a[1]);
  int ready = atoi(a[3]), go = atoi(a[4]);
  int fd = open(a[2], O_RDWR);
  if (fd < 0) { say("  open: %s\n", errname(errno)); return 1; }
  struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
  if (fcntl(fd, F_GETLK, &l) != 0) say("  F_GETLK: %s\n", errname(errno));
  else say("  F_GETLK [0,10): %s %s\n", l.l_type == F_WRLCK ? "wrlck" : l.l_type == F_RDLCK ? "rdlck" : "unlck",
           lock_owner(&l));
  struct flock w = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
  int r = fcntl(fd, F_SETLK, &w);
  say("  F_SETLK [0,10): %s\n", r == 0 ? "granted" : (errno == EAGAIN || errno == EACCES) ? "conflict" : errname(errno));
  struct flock w2 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 10};
  r = fcntl(ifd, F_SETLK, &w2);  /* through the inherited fd: still this process's lock */
  say("  F_SETLK [20,30) via inherited fd: %s\n", r == 0 ? "granted" : errname(errno));
  struct flock me = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 10};
  fcntl(fd, F_GETLK, &me);
  say("  F_GETLK [20,30) own lock: %s\n", lock_owner(&me));
  r = flock(fd, LOCK_EX | LOCK_NB);
  say("  flock fresh open: %s\n", r == 0 ? "granted" : errno == EWOULDBLOCK ? "conflict" : errname(errno));
  r = flock(ifd, LOCK_SH | LOCK_NB);  /* same open file description as the parent's flock */
  say("  flock inherited description: %s\n", r == 0 ? "granted" : errno == EWOULDBLOCK ? "conflict" : errname(errno));
  if (write(ready, "r", 1) != 1) return 1;
  char c;
  if (read(go, &c, 1) != 1) return 1;
  close(fd);
  return 0;
}

/* mmap-write FD PATH: write through the inherited fd, through a fresh open,
 * and read what the parent wrote into its shared mapping. */
static int role_mmap_write(char **a) {
  int fd = atoi(a[1]);
  char buf[32] = {0};
  ssize_t n = pread(fd, buf, 15, 300);
  say("  child sees parent's map write: %zd \"%s\"\n", n, n > 0 ? buf : "");
  if (lseek(fd, 100, SEEK_SET) != 100 || write(fd, "via-inherited", 13) != 13)
    say("  write inherited: %s\n", errname(errno));
  int f2 = open(a[2], O_WRONLY);
  if (f2 < 0 || pwrite(f2, "via-fresh-open", 14, 200) != 14) say("  write fresh: %s\n", errname(errno));
  if (f2 >= 0) close(f2);
  /* A mapping of its own in the child, written and msync'd. */
  char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) say("  child mmap: %s\n", errname(errno));
  else {
    memcpy(m + 400, "child-map", 9);
    msync(m, 4096, MS_SYNC);
    munmap(m, 4096);
  }
  return 0;
}

/* read-fd FD: read what a posix_spawn file action opened. */
static int role_read_fd(char **a) {
  int fd = atoi(a[1]);
  char buf[64] = {0};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n < 0) say("  read fd: %s\n", errname(errno));
  else say("  read fd: %zd \"%s\"\n", n, buf);
  struct stat st;
  if (fstat(fd, &st) == 0) say("  fstat: %s nlink=%lu size=%lld\n", kind(st.st_mode),
                               (unsigned long)st.st_nlink, (long long)st.st_size);
  return 0;
}

static int child_main(char **a) {
  const char *r = a[0];
  if (!strcmp(r, "write-fd")) return role_write_fd(a);
  if (!strcmp(r, "fdflags")) return role_fdflags(a);
  if (!strcmp(r, "fstat")) return role_fstat(a);
  if (!strcmp(r, "cwd")) return role_cwd(a);
  if (!strcmp(r, "dirfd")) return role_dirfd(a);
  if (!strcmp(r, "locks")) return role_locks(a);
  if (!strcmp(r, "mmap-write")) return role_mmap_write(a);
  if (!strcmp(r, "read-fd")) return role_read_fd(a);
  say("unknown role %s\n", r);
  return 3;
}

/* ---------------------------------------------------------------------
 * Starting children. */

enum method { M_FORK, M_FORK_EXEC, M_VFORK_EXEC, M_SPAWN, M_FORK_EXEC_COPY, M_SPAWN_COPY, M_COUNT };
static const char *method_names[] = {"fork", "fork+execve", "vfork+execve", "posix_spawn",
                                     "fork+execve(copy in base)", "posix_spawn(copy in base)"};
static char copy_path[4096];

static int is_exec(int m) { return m != M_FORK; }

/* Starts a child in ROLE with ARGS (NULL-terminated, role first) by method
 * M; returns its pid. FA: optional spawn file actions (posix_spawn only). */
static pid_t start_child(int m, char **args, posix_spawn_file_actions_t *fa) {
  char *argv[32];
  int k = 0;
  const char *exe = (m == M_FORK_EXEC_COPY || m == M_SPAWN_COPY) ? copy_path : self_exe;
  argv[k++] = (char *)exe;
  argv[k++] = "--child";
  for (int i = 0; args[i] && k < 31; i++) argv[k++] = args[i];
  argv[k] = NULL;
  pid_t pid;
  switch (m) {
    case M_FORK:
      pid = fork();
      if (pid == 0) _exit(child_main(args));
      return pid;
    case M_FORK_EXEC:
    case M_FORK_EXEC_COPY:
      pid = fork();
      if (pid == 0) {
        execve(exe, argv, environ);
        say("  execve: %s\n", errname(errno));
        _exit(127);
      }
      return pid;
    case M_VFORK_EXEC:
      pid = vfork();
      if (pid == 0) {
        execve(exe, argv, environ);
        _exit(127);
      }
      return pid;
    case M_SPAWN:
    case M_SPAWN_COPY: {
      int e = posix_spawn(&pid, exe, fa, NULL, argv, environ);
      if (e != 0) { say("  posix_spawn: %s\n", errname(e)); return -1; }
      return pid;
    }
  }
  return -1;
}

static void reap(pid_t pid) {
  int st;
  if (pid < 0) return;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    say("  child status: %s %d\n", WIFEXITED(st) ? "exit" : "signal",
        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static void run(int m, char **args) { reap(start_child(m, args, NULL)); }

static char *num(int v) {
  static char bufs[16][16];
  static int i;
  char *b = bufs[i++ % 16];
  snprintf(b, 16, "%d", v);
  return b;
}

static void write_file(const char *rel, const char *content) {
  char p[4096];
  path_in_base(p, sizeof p, rel);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die(rel);
  if (write(fd, content, strlen(content)) != (ssize_t)strlen(content)) die("write");
  close(fd);
}

static void show_file(const char *label, const char *path) {
  char buf[256] = {0};
  int fd = open(path, O_RDONLY);
  if (fd < 0) { say("  %s: open %s\n", label, errname(errno)); return; }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  say("  %s: \"%s\"\n", label, n > 0 ? buf : "");
}

/* ---------------------------------------------------------------------
 * Scenarios, each run for every method. */

static void scenario_offsets(int m) {
  char p[4096];
  path_in_base(p, sizeof p, "offset.txt");
  int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open offset.txt");
  if (write(fd, "parent1;", 8) != 8) die("write");
  char *args[] = {"write-fd", num(fd), NULL};
  run(m, args);
  say("  parent offset after child: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
  if (write(fd, "parent2;", 8) != 8) die("write");
  close(fd);
  show_file("final content", p);
}

static void scenario_fdflags(int m) {
  char p[4096], dp[4096];
  path_in_base(p, sizeof p, "flags.txt");
  path_in_base(dp, sizeof dp, "dir");
  write_file("flags.txt", "flags-content");
  int plain = open(p, O_RDONLY);
  int cloexec = open(p, O_RDONLY | O_CLOEXEC);
  int set_later = open(p, O_RDONLY);
  fcntl(set_later, F_SETFD, FD_CLOEXEC);
  int cleared = open(p, O_RDONLY | O_CLOEXEC);
  fcntl(cleared, F_SETFD, 0);
  int dup_plain = dup2(cloexec, 40);      /* dup2 clears close-on-exec */
  int dup_cloexec = dup3(plain, 41, O_CLOEXEC);
  int fdcloexec = fcntl(plain, F_DUPFD_CLOEXEC, 42);
  int dir_cloexec = open(dp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (plain < 0 || cloexec < 0 || set_later < 0 || cleared < 0 || dup_plain < 0 || dup_cloexec < 0 ||
      fdcloexec < 0 || dir_cloexec < 0)
    die("fdflags open");
  say("  fds: 1 plain, 2 O_CLOEXEC, 3 F_SETFD later, 4 cleared, 5 dup2, 6 dup3 O_CLOEXEC, 7 F_DUPFD_CLOEXEC, 8 dir O_CLOEXEC\n");
  char *args[] = {"fdflags", p, num(plain), num(cloexec), num(set_later), num(cleared),
                  num(dup_plain), num(dup_cloexec), num(fdcloexec), num(dir_cloexec), NULL};
  run(m, args);
  close(plain); close(cloexec); close(set_later); close(cleared);
  close(dup_plain); close(dup_cloexec); close(fdcloexec); close(dir_cloexec);
}

static void scenario_fstat(int m) {
  char p[4096], l[4096], dp[4096];
  path_in_base(p, sizeof p, "ident.txt");
  path_in_base(l, sizeof l, "ident-link.txt");
  path_in_base(dp, sizeof dp, "dir");
  write_file("ident.txt", "identity!");
  unlink(l);
  if (link(p, l) != 0) die("link");
  int fd = open(p, O_RDWR);
  if (fd < 0) die("open ident");
  fchmod(fd, 0640);
  lseek(fd, 0, SEEK_END);  /* the child's pread must not depend on the offset */
  char *args[] = {"fstat", num(fd), p, NULL};
  run(m, args);
  int dfd = open(dp, O_RDONLY | O_DIRECTORY);
  char *dargs[] = {"fstat", num(dfd), dp, NULL};
  run(m, dargs);
  /* The file unlinked after the child was given the fd: the identity holds. */
  close(fd);
  close(dfd);
  unlink(l);
}

static void scenario_cwd(int m) {
  char dp[4096], old[4096];
  path_in_base(dp, sizeof dp, "dir");
  if (!getcwd(old, sizeof old)) die("getcwd");
  if (chdir(dp) != 0) die("chdir");
  char *args[] = {"cwd", base, NULL};
  run(m, args);
  if (chdir(old) != 0) die("chdir back");
}

static void scenario_dirfd(int m) {
  char dp[4096];
  path_in_base(dp, sizeof dp, "dir");
  int dfd = open(dp, O_RDONLY | O_DIRECTORY);
  if (dfd < 0) die("open dir");
  char *args[] = {"dirfd", num(dfd), NULL};
  run(m, args);
  close(dfd);
}

static void scenario_locks(int m) {
  char p[4096];
  path_in_base(p, sizeof p, "locks.txt");
  write_file("locks.txt", "0123456789012345678901234567890123456789");
  int fd = open(p, O_RDWR);
  if (fd < 0) die("open locks");
  struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
  if (fcntl(fd, F_SETLK, &l) != 0) die("F_SETLK");
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) die("flock");
  int ready[2], go[2];
  if (pipe(ready) || pipe(go)) die("pipe");
  char *args[] = {"locks", num(fd), p, num(ready[1]), num(go[0]), NULL};
  pid_t pid = start_child(m, args, NULL);
  close(ready[1]);
  close(go[0]);
  char c;
  if (read(ready[0], &c, 1) == 1) {
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 10};
    fcntl(fd, F_GETLK, &q);
    say("  parent F_GETLK [20,30): %s%s\n", q.l_type == F_UNLCK ? "unlocked" : q.l_pid == pid ? "other:child" : q.l_pid == getpid() ? "self" : "other:unknown", "");
    struct flock own = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    fcntl(fd, F_GETLK, &own);
    say("  parent F_GETLK [0,10) own lock: %s\n", own.l_type == F_UNLCK ? "unlocked" : "locked");
    int lf = open(p, O_RDONLY);
    int r = flock(lf, LOCK_SH | LOCK_NB);
    say("  parent flock fresh open while child holds LOCK_SH on shared description: %s\n",
        r == 0 ? "granted" : errno == EWOULDBLOCK ? "conflict" : errname(errno));
    close(lf);
  } else {
    say("  child never reported ready\n");
  }
  if (write(go[1], "g", 1) != 1) {}
  close(go[1]);
  close(ready[0]);
  reap(pid);
  struct flock after = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 10};
  fcntl(fd, F_GETLK, &after);
  say("  parent F_GETLK [20,30) after child exit: %s\n", after.l_type == F_UNLCK ? "unlocked" : "locked");
  close(fd);
}

static void scenario_mmap(int m) {
  char p[4096];
  path_in_base(p, sizeof p, "mapped.bin");
  int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open mapped");
  if (ftruncate(fd, 4096) != 0) die("ftruncate");
  char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) die("mmap");
  memcpy(map + 300, "from-parent-map", 15);
  char *args[] = {"mmap-write", num(fd), p, NULL};
  run(m, args);
  say("  parent map @100: \"%.13s\" @200: \"%.14s\" @400: \"%.9s\"\n", map + 100, map + 200, map + 400);
  struct stat st;
  fstat(fd, &st);
  say("  size %lld\n", (long long)st.st_size);
  munmap(map, 4096);
  close(fd);
}

/* posix_spawn file actions naming mount paths and fds: glibc performs them
 * in the child, before the exec. Each prints its own section header. */
static void scenario_spawn_actions(int m) {
  char p[4096], dp[4096];
  path_in_base(p, sizeof p, "dir/sub/f.txt");
  path_in_base(dp, sizeof dp, "dir");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 30, p, O_RDONLY, 0);
  char *args[] = {"read-fd", "30", NULL};
  say("[%s] spawn file action addopen(30, BASE/dir/sub/f.txt)\n", method_name);
  reap(start_child(m, args, &fa));
  posix_spawn_file_actions_destroy(&fa);

  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addchdir_np(&fa, dp);
  char *cargs[] = {"cwd", base, NULL};
  say("[%s] spawn file action addchdir_np(BASE/dir)\n", method_name);
  reap(start_child(m, cargs, &fa));
  posix_spawn_file_actions_destroy(&fa);

  int dfd = open(dp, O_RDONLY | O_DIRECTORY);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addfchdir_np(&fa, dfd);
  say("[%s] spawn file action addfchdir_np(fd of BASE/dir)\n", method_name);
  reap(start_child(m, cargs, &fa));
  posix_spawn_file_actions_destroy(&fa);
  close(dfd);

  /* addclose and adddup2 of a mount fd. */
  int fd = open(p, O_RDONLY);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, 31);
  posix_spawn_file_actions_addclose(&fa, fd);
  char *dargs[] = {"read-fd", "31", NULL};
  say("[%s] spawn file action adddup2(mount fd, 31) + addclose\n", method_name);
  reap(start_child(m, dargs, &fa));
  posix_spawn_file_actions_destroy(&fa);
  close(fd);
}

static void copy_self(void) {
  path_in_base(copy_path, sizeof copy_path, "matrix-copy");
  int in = open(self_exe, O_RDONLY);
  int out = open(copy_path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  if (in < 0 || out < 0) die("copy self");
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, n) != n) die("copy write");
  close(in);
  if (fchmod(out, 0755) != 0) die("fchmod");
  close(out);
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "--child")) return child_main(argv + 2);
  if (argc != 2) {
    fprintf(stderr, "usage: %s BASE\n", argv[0]);
    return 2;
  }
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n <= 0) die("readlink /proc/self/exe");
  self_exe[n] = 0;
  snprintf(base, sizeof base, "%s", argv[1]);
  setvbuf(stdout, NULL, _IONBF, 0);

  char p[4096];
  path_in_base(p, sizeof p, "dir");
  if (mkdir(p, 0755) != 0) die("mkdir dir");
  path_in_base(p, sizeof p, "dir/sub");
  if (mkdir(p, 0755) != 0) die("mkdir sub");
  write_file("dir/sub/f.txt", "in-sub");
  write_file("dir/rel.txt", "relative");
  copy_self();

  static void (*const scenarios[])(int) = {scenario_offsets, scenario_fdflags, scenario_fstat, scenario_cwd,
                                           scenario_dirfd, scenario_locks, scenario_mmap,
                                           scenario_spawn_actions};
  static const char *const scenario_names[] = {"shared offset", "fd flags", "fstat identity", "cwd",
                                               "dir fd + *at", "locks", "MAP_SHARED coherence",
                                               "spawn file actions"};
  for (int m = 0; m < M_COUNT; m++) {
    method_name = method_names[m];
    for (size_t s = 0; s < sizeof scenarios / sizeof *scenarios; s++) {
      if (scenarios[s] == scenario_spawn_actions) {
        if (m == M_SPAWN || m == M_SPAWN_COPY) scenario_spawn_actions(m);
        continue;
      }
      say("[%s] %s (exec=%d)\n", method_name, scenario_names[s], is_exec(m));
      scenarios[s](m);
    }
  }
  say("done\n");
  return 0;
}
