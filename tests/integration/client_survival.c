/* One long-running client across server stops and restarts: it keeps a
 * file fd, a directory fd, a directory stream and a cwd in the mount while
 * the script (client_survival.sh) stops and starts servers between steps.
 *
 * usage: client_survival DIR   (DIR: a directory to create in the mount)
 * Reads one step name per line on stdin, runs it, prints one line per
 * check ("ok WHAT" or "FAIL WHAT: DETAIL") and then "end":
 *   setup  make DIR, DIR/sub, DIR/f ("before\n", xattr user.k=v), keep
 *          fds on DIR/f and DIR, a stream on DIR, chdir to DIR/sub
 *   down   (no server) data calls on the fds work; calls that need the
 *          server fail within 2 s with EIO or ENOTCONN
 *   same   (a server on the same state directory) everything held works,
 *          with the identity it had, and sees what was written while down
 *   fresh  (a new in-memory server) metadata calls on what was held fail
 *          with ESTALE, data calls work, new names work
 *   child-same, child-stale  a child (fork, exec) inheriting the file fd
 *          finds its inode, or ESTALE (run before the parent's own next
 *          call, so the child is the first to meet the new server) */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static char dir[2048];
static int file_fd = -1, dir_fd = -1;
static DIR* stream;
static struct stat first;  /* DIR/f as setup saw it */
static const long kPromptMs = 2000;

static void ok(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("ok ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

static void bad(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

static const char* at(const char* name) {
  static char buf[2][4096];
  static int which;
  which ^= 1;
  snprintf(buf[which], sizeof buf[which], "%s/%s", dir, name);
  return buf[which];
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A call's result, errno and duration, taken right after it returns. */
struct outcome {
  long result;
  int err;
  long ms;
};
#define MEASURE(expr)                                          \
  ({                                                           \
    long start_ = now_ms();                                    \
    errno = 0;                                                 \
    long r_ = (long)(expr);                                    \
    struct outcome o_ = {r_, errno, now_ms() - start_};        \
    o_;                                                        \
  })

static void expect_success(const char* what, struct outcome o) {
  if (o.result >= 0) {
    ok("%s", what);
  } else {
    bad("%s: -1 %s", what, strerrorname_np(o.err));
  }
}

/* Failed with one of the two errnos, promptly. */
static void expect_prompt_failure(const char* what, struct outcome o, int e1, int e2) {
  if (o.result >= 0) {
    bad("%s: succeeded (%ld), expected %s", what, o.result, strerrorname_np(e1));
  } else if (o.err != e1 && o.err != e2) {
    bad("%s: failed with %s, expected %s or %s", what, strerrorname_np(o.err), strerrorname_np(e1),
        strerrorname_np(e2));
  } else if (o.ms > kPromptMs) {
    bad("%s: %s, but after %ld ms", what, strerrorname_np(o.err), o.ms);
  } else {
    ok("%s: %s in %ld ms", what, strerrorname_np(o.err), o.ms);
  }
}

static void expect_stale(const char* what, struct outcome o) { expect_prompt_failure(what, o, ESTALE, ESTALE); }
static void expect_down(const char* what, struct outcome o) { expect_prompt_failure(what, o, EIO, ENOTCONN); }

static void expect_content(const char* what, int fd, const char* want) {
  char buf[256] = {0};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0) {
    ok("%s", what);
  } else {
    bad("%s: read %zd bytes \"%s\", expected \"%s\"", what, n, n > 0 ? buf : "", want);
  }
}

static void step_setup(void) {
  expect_success("mkdir DIR", MEASURE(mkdir(dir, 0755)));
  expect_success("mkdir DIR/sub", MEASURE(mkdir(at("sub"), 0755)));
  file_fd = open(at("f"), O_RDWR | O_CREAT | O_EXCL, 0640);
  expect_success("open DIR/f", (struct outcome){file_fd, errno, 0});
  expect_success("write DIR/f", MEASURE(write(file_fd, "before\n", 7)));
  expect_success("fsync DIR/f", MEASURE(fsync(file_fd)));
  expect_success("fdatasync DIR/f", MEASURE(fdatasync(file_fd)));
  expect_success("syncfs on DIR/f", MEASURE(syncfs(file_fd)));
  expect_success("fsetxattr user.k", MEASURE(fsetxattr(file_fd, "user.k", "v", 1, 0)));
  expect_success("fstat DIR/f", MEASURE(fstat(file_fd, &first)));
  dir_fd = open(dir, O_RDONLY | O_DIRECTORY);
  expect_success("open DIR as a directory", (struct outcome){dir_fd, errno, 0});
  stream = opendir(dir);
  expect_success("opendir DIR", (struct outcome){stream ? 0 : -1, errno, 0});
  expect_success("chdir DIR/sub", MEASURE(chdir(at("sub"))));
}

static void step_down(void) {
  /* Data: real kernel fds, no server involved. */
  expect_success("pwrite on the open fd", MEASURE(pwrite(file_fd, "during\n", 7, 7)));
  expect_content("pread on the open fd", file_fd, "before\nduring\n");
  expect_success("lseek on the open fd", MEASURE(lseek(file_fd, 0, SEEK_END)));
  /* Everything else needs the server. */
  struct stat st;
  expect_down("stat DIR/f", MEASURE(stat(at("f"), &st)));
  expect_down("fstat on the open fd", MEASURE(fstat(file_fd, &st)));
  expect_down("open DIR/g O_CREAT", MEASURE(open(at("g"), O_WRONLY | O_CREAT, 0644)));
  expect_down("mkdir DIR/x", MEASURE(mkdir(at("x"), 0755)));
  expect_down("rename DIR/f DIR/f2", MEASURE(rename(at("f"), at("f2"))));
  expect_down("openat(dirfd, f)", MEASURE(openat(dir_fd, "f", O_RDONLY)));
  expect_down("stat of a path relative to the mount cwd", MEASURE(stat("../f", &st)));
  expect_down("fsync on the open fd", MEASURE(fsync(file_fd)));
  expect_down("syncfs on the open fd", MEASURE(syncfs(file_fd)));
  /* Outside the mount nothing changes. */
  expect_success("stat / (outside the mount)", MEASURE(stat("/", &st)));
}

static void expect_same_identity(const char* what, const struct stat* a, const struct stat* b) {
  if (a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_mode == b->st_mode && a->st_nlink == b->st_nlink &&
      a->st_size == b->st_size) {
    ok("%s", what);
  } else {
    bad("%s: ino %llu/%llu mode %o/%o nlink %lu/%lu size %lld/%lld", what, (unsigned long long)a->st_ino,
        (unsigned long long)b->st_ino, a->st_mode, b->st_mode, (unsigned long)a->st_nlink,
        (unsigned long)b->st_nlink, (long long)a->st_size, (long long)b->st_size);
  }
}

static int stream_lists(DIR* d, const char* name) {
  struct dirent* e;
  int found = 0;
  errno = 0;
  while ((e = readdir(d)) != NULL) found |= strcmp(e->d_name, name) == 0;
  return errno == 0 ? found : -1;
}

static void step_same(void) {
  struct stat by_path, by_fd;
  expect_success("stat DIR/f after the restart", MEASURE(stat(at("f"), &by_path)));
  expect_success("fstat on the old fd", MEASURE(fstat(file_fd, &by_fd)));
  expect_same_identity("old fd and path agree", &by_fd, &by_path);
  if (by_fd.st_ino == first.st_ino && by_fd.st_mode == first.st_mode) {
    ok("old fd keeps its inode and mode");
  } else {
    bad("old fd keeps its inode and mode: %llu %o, was %llu %o", (unsigned long long)by_fd.st_ino, by_fd.st_mode,
        (unsigned long long)first.st_ino, first.st_mode);
  }
  int fresh = open(at("f"), O_RDONLY);
  expect_success("open DIR/f again", (struct outcome){fresh, errno, 0});
  if (fresh >= 0) {
    expect_content("a new open sees what was written while the server was down", fresh, "before\nduring\n");
    close(fresh);
  }
  char v[8] = {0};
  struct outcome o = MEASURE(fgetxattr(file_fd, "user.k", v, sizeof v));
  if (o.result == 1 && v[0] == 'v') {
    ok("fgetxattr on the old fd");
  } else {
    bad("fgetxattr on the old fd: %ld %s \"%s\"", o.result, strerrorname_np(o.err), v);
  }
  expect_success("fchmod on the old fd", MEASURE(fchmod(file_fd, 0600)));
  if (stat(at("f"), &by_path) == 0 && (by_path.st_mode & 07777) == 0600) {
    first.st_mode = by_path.st_mode;
    ok("the fchmod shows by path");
  } else {
    bad("the fchmod shows by path: mode %o", by_path.st_mode);
  }
  rewinddir(stream);
  int listed = stream_lists(stream, "f");
  if (listed == 1) {
    ok("readdir on the old stream lists f");
  } else {
    bad("readdir on the old stream lists f: %s", listed < 0 ? strerrorname_np(errno) : "not listed");
  }
  int h = openat(dir_fd, "h", O_WRONLY | O_CREAT, 0644);
  expect_success("openat(old dirfd, h, O_CREAT)", (struct outcome){h, errno, 0});
  if (h >= 0) close(h);
  expect_success("stat DIR/h", MEASURE(stat(at("h"), &by_path)));
  expect_success("stat ../f from the old cwd", MEASURE(stat("../f", &by_path)));
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) != NULL && strcmp(cwd, at("sub")) == 0) {
    ok("getcwd in the old cwd");
  } else {
    bad("getcwd in the old cwd: %s", strerrorname_np(errno));
  }
  static int restarts;
  char name[32];
  snprintf(name, sizeof name, "new%d", ++restarts);
  expect_success("mkdir DIR/newN", MEASURE(mkdir(at(name), 0755)));
  expect_success("fsync on the old fd", MEASURE(fsync(file_fd)));
  expect_success("fchdir to the old dirfd", MEASURE(fchdir(dir_fd)));
  expect_success("stat f from there", MEASURE(stat("f", &by_path)));
  expect_success("chdir DIR/sub again", MEASURE(chdir(at("sub"))));
}

static void step_fresh(void) {
  struct stat st;
  /* Metadata of what was held: another namespace, so none of it. */
  expect_stale("fstat on the old fd", MEASURE(fstat(file_fd, &st)));
  expect_stale("fchmod on the old fd", MEASURE(fchmod(file_fd, 0644)));
  expect_stale("futimens on the old fd", MEASURE(futimens(file_fd, NULL)));
  struct statfs sfs;
  expect_stale("fstatfs on the old fd", MEASURE(fstatfs(file_fd, &sfs)));
  char v[8];
  expect_stale("fgetxattr on the old fd", MEASURE(fgetxattr(file_fd, "user.k", v, sizeof v)));
  expect_stale("fsync on the old fd", MEASURE(fsync(file_fd)));
  expect_stale("fdatasync on the old fd", MEASURE(fdatasync(file_fd)));
  expect_stale("syncfs on the old fd", MEASURE(syncfs(file_fd)));
  expect_stale("openat(old dirfd, z, O_CREAT)", MEASURE(openat(dir_fd, "z", O_WRONLY | O_CREAT, 0644)));
  expect_stale("fstatat(old dirfd, f)", MEASURE(fstatat(dir_fd, "f", &st, 0)));
  rewinddir(stream);
  errno = 0;
  struct dirent* e = readdir(stream);
  expect_stale("readdir on the old stream", (struct outcome){e ? 0 : -1, e ? 0 : errno, 0});
  int copy = dup(dir_fd);
  DIR* again = fdopendir(copy);
  expect_stale("fdopendir on a dup of the old dirfd", (struct outcome){again ? 0 : -1, again ? 0 : errno, 0});
  if (again) closedir(again); else close(copy);
  expect_stale("stat of a path relative to the old cwd", MEASURE(stat("../f", &st)));
  char cwd[4096];
  expect_stale("getcwd in the old cwd", (struct outcome){getcwd(cwd, sizeof cwd) ? 0 : -1, errno, 0});
  expect_stale("fchdir to the old dirfd", MEASURE(fchdir(dir_fd)));
  /* Data: still the same kernel file. */
  expect_content("pread on the old fd", file_fd, "before\nduring\n");
  expect_success("pwrite on the old fd", MEASURE(pwrite(file_fd, "after\n", 6, 14)));
  expect_content("the old fd reads its own write", file_fd, "before\nduring\nafter\n");
  /* The new namespace by absolute paths. */
  expect_success("stat DIR in the new namespace fails: it is empty",
                 (struct outcome){stat(dir, &st) != 0 && errno == ENOENT ? 0 : -1, errno, 0});
  expect_success("mkdir DIR in the new namespace", MEASURE(mkdir(dir, 0755)));
  int fd = open(at("f"), O_RDWR | O_CREAT | O_EXCL, 0644);
  expect_success("create DIR/f in the new namespace", (struct outcome){fd, errno, 0});
  struct stat by_fd, by_path;
  if (fd >= 0) {
    expect_success("fstat on the new fd", MEASURE(fstat(fd, &by_fd)));
    expect_success("stat DIR/f", MEASURE(stat(at("f"), &by_path)));
    expect_same_identity("new fd and path agree", &by_fd, &by_path);
    expect_success("fsync on the new fd", MEASURE(fsync(fd)));
    close(fd);
  }
  expect_success("chdir DIR", MEASURE(chdir(dir)));
  if (getcwd(cwd, sizeof cwd) != NULL && strcmp(cwd, dir) == 0) {
    ok("getcwd after chdir in the new namespace");
  } else {
    bad("getcwd after chdir in the new namespace: %s", strerrorname_np(errno));
  }
  expect_success("stat f relative to the new cwd", MEASURE(stat("f", &st)));
}

/* The child half of "child-same" and "child-stale": fstat on an fd
 * inherited across exec, which must give the inode `want` or ESTALE. */
static int child_fstat(int fd, const char* want) {
  struct stat st;
  struct outcome o = MEASURE(fstat(fd, &st));
  if (strcmp(want, "ESTALE") == 0) {
    expect_stale("exec'd child: fstat on an inherited fd", o);
  } else if (o.result == 0 && st.st_ino == strtoull(want, NULL, 10)) {
    ok("exec'd child: fstat on an inherited fd gives its inode");
  } else {
    bad("exec'd child: fstat on an inherited fd: %ld %s, inode %llu, expected %s", o.result, strerrorname_np(o.err),
        (unsigned long long)st.st_ino, want);
  }
  return 0;
}

/* Runs this program again in a child (fork, exec) that inherits the file fd. */
static void exec_child(const char* want) {
  char fd_arg[16];
  snprintf(fd_arg, sizeof fd_arg, "%d", file_fd);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/proc/self/exe", "client_survival", "--fstat", fd_arg, want, (char*)NULL);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad("exec'd child exits 0: status %d", status);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 4 && strcmp(argv[1], "--fstat") == 0) return child_fstat(atoi(argv[2]), argv[3]);
  if (argc != 2) {
    fprintf(stderr, "usage: client_survival DIR\n");
    return 2;
  }
  snprintf(dir, sizeof dir, "%s", argv[1]);
  char line[64];
  while (fgets(line, sizeof line, stdin) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    if (strcmp(line, "setup") == 0) {
      step_setup();
    } else if (strcmp(line, "down") == 0) {
      step_down();
    } else if (strcmp(line, "same") == 0) {
      step_same();
    } else if (strcmp(line, "fresh") == 0) {
      step_fresh();
    } else if (strcmp(line, "child-same") == 0) {
      char ino[24];
      snprintf(ino, sizeof ino, "%llu", (unsigned long long)first.st_ino);
      exec_child(ino);
    } else if (strcmp(line, "child-stale") == 0) {
      exec_child("ESTALE");
    } else {
      bad("unknown step \"%s\"", line);
    }
    printf("end\n");
  }
  return 0;
}
