/* Coherence across processes: a writer process changes the namespace and
 * then tells readers through a pipe; each reader's very next call must see
 * the change. Any cache that lets a process see the namespace as it was a
 * moment ago fails here. Readers are threads of a second process, so one
 * process's calls from several threads are covered too.
 *
 * After each change a reader looks at what changed every way a program
 * can: stat, lstat, fstatat and faccessat from a directory fd, access with
 * F_OK, R_OK, W_OK and X_OK, and open(O_RDONLY) with fstat and a read of
 * the whole file; each must agree with the change (the right errno for
 * something missing or not permitted). Permission results follow the
 * mode bits for the reader's own uid (the files are its own), or root's
 * rules when it runs as root (read and write always allowed, execute with
 * any x bit, search always).
 *
 * Usage: coherence DIR ITERATIONS THREADS
 * Exit 0 when every check held; prints each failure (up to 20) otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum step {
  STEP_RENAME,       /* a/<i> renamed to b/<i> */
  STEP_CHMOD,        /* b/<i> chmod to a mode that encodes i */
  STEP_WRITE,        /* b/<i> grows to a size that encodes i (opened, written, closed) */
  STEP_TRUNC,        /* b/<i> emptied by an open with O_TRUNC */
  STEP_GROW_OPEN,    /* b/<i> opened for appending and written; the writer keeps it open */
  STEP_GROW_MORE,    /* the open file renamed to b/<i>.w, then more appended through the same fd */
  STEP_CLOSE_WRITER, /* that fd closed */
  STEP_NOREAD,       /* b/<i>.w chmod to a mode without read (x bit by i) */
  STEP_SEARCH_OFF,   /* directory s chmod without search: s/f unreachable (not for root) */
  STEP_SEARCH_ON,    /* s searchable again */
  STEP_REPLACE,      /* c (the shared name) replaced by a file holding i */
  STEP_REPLACE_OPEN, /* o, held open by every reader, replaced by a file holding i */
  STEP_RETARGET,     /* symlink l now points at t<i> */
  STEP_MKDIR,        /* directory d<i> made */
  STEP_RMDIR,        /* directory d<i> removed */
  STEP_UNLINK,       /* b/<i>.w unlinked */
  STEP_COUNT
};

struct message {
  uint32_t step;
  uint32_t i;
};

static const char *dir;
static int iterations, threads;
static atomic_int failures;
static int as_root;

static void failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failure(const char *fmt, ...) {
  if (atomic_fetch_add(&failures, 1) >= 20) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("coherence: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void path_of(char *buf, size_t cap, const char *fmt, unsigned i) {
  int n = snprintf(buf, cap, "%s/", dir);
  snprintf(buf + n, cap - (size_t)n, fmt, i);
}

static void must(int ok, const char *what, unsigned i) {
  if (!ok) {
    fprintf(stderr, "coherence: writer: %s (%u): %s\n", what, i, strerror(errno));
    exit(2);
  }
}

static void write_file(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  must(fd >= 0, "create", 0);
  must(write(fd, data, len) == (ssize_t)len, "write", 0);
  must(close(fd) == 0, "close", 0);
}

/* The modes and sizes that encode iteration i, so a reader seeing a
 * neighbour iteration's value is caught. */
static mode_t mode_for(unsigned i) { return 0600 | (i % 64); }
static off_t size_for(unsigned i) { return 1 + (off_t)(i % 4096) * 7; }
static mode_t noread_mode_for(unsigned i) { return 0200 | (i % 2 ? 0111 : 0); }
static mode_t search_off_mode_for(unsigned i) { return 0600 | (i % 2 ? 0044 : 0); }
static mode_t search_on_mode_for(unsigned i) { return 0700 | (i % 2 ? 0055 : 0); }
static size_t grow1_for(unsigned i) { return 10 + i % 50; }
static size_t grow2_for(unsigned i) { return 5 + i % 13; }

/* The writer's fd kept open from STEP_GROW_OPEN to STEP_CLOSE_WRITER. */
static int held_writer = -1;

static void append(int fd, char c, size_t n, unsigned i) {
  char buf[64];
  memset(buf, c, sizeof buf);
  must(n <= sizeof buf && write(fd, buf, n) == (ssize_t)n, "append", i);
}

static void apply(enum step s, unsigned i) {
  char p[4096], q[4096];
  switch (s) {
    case STEP_RENAME:
      path_of(p, sizeof p, "a/%u", i);
      path_of(q, sizeof q, "b/%u", i);
      must(rename(p, q) == 0, "rename", i);
      break;
    case STEP_CHMOD:
      path_of(p, sizeof p, "b/%u", i);
      must(chmod(p, mode_for(i)) == 0, "chmod", i);
      break;
    case STEP_WRITE: {
      path_of(p, sizeof p, "b/%u", i);
      int fd = open(p, O_WRONLY);
      must(fd >= 0, "open for write", i);
      must(ftruncate(fd, size_for(i)) == 0, "ftruncate", i);
      must(pwrite(fd, "x", 1, size_for(i) - 1) == 1, "pwrite", i);
      must(close(fd) == 0, "close", i);
      break;
    }
    case STEP_TRUNC: {
      path_of(p, sizeof p, "b/%u", i);
      int fd = open(p, O_WRONLY | O_TRUNC);
      must(fd >= 0, "open with O_TRUNC", i);
      must(close(fd) == 0, "close", i);
      break;
    }
    case STEP_GROW_OPEN:
      path_of(p, sizeof p, "b/%u", i);
      held_writer = open(p, O_WRONLY | O_APPEND);
      must(held_writer >= 0, "open for appending", i);
      append(held_writer, 'g', grow1_for(i), i);
      break;
    case STEP_GROW_MORE:
      path_of(p, sizeof p, "b/%u", i);
      path_of(q, sizeof q, "b/%u.w", i);
      must(rename(p, q) == 0, "rename of the file open for writing", i);
      append(held_writer, 'h', grow2_for(i), i);
      break;
    case STEP_CLOSE_WRITER:
      must(close(held_writer) == 0, "close the appending fd", i);
      held_writer = -1;
      break;
    case STEP_NOREAD:
      path_of(p, sizeof p, "b/%u.w", i);
      must(chmod(p, noread_mode_for(i)) == 0, "chmod without read", i);
      break;
    case STEP_SEARCH_OFF:
      path_of(p, sizeof p, "s", 0);
      must(chmod(p, search_off_mode_for(i)) == 0, "chmod s without search", i);
      break;
    case STEP_SEARCH_ON:
      path_of(p, sizeof p, "s", 0);
      must(chmod(p, search_on_mode_for(i)) == 0, "chmod s with search", i);
      break;
    case STEP_REPLACE: {
      char text[32];
      int n = snprintf(text, sizeof text, "%u\n", i);
      path_of(p, sizeof p, "c.%u.tmp", i);
      path_of(q, sizeof q, "c", 0);
      write_file(p, text, (size_t)n);
      must(rename(p, q) == 0, "rename over c", i);
      break;
    }
    case STEP_REPLACE_OPEN: {
      char text[32];
      int n = snprintf(text, sizeof text, "o%u\n", i);
      path_of(p, sizeof p, "o.%u.tmp", i);
      path_of(q, sizeof q, "o", 0);
      write_file(p, text, (size_t)n);
      must(rename(p, q) == 0, "rename over o", i);
      break;
    }
    case STEP_RETARGET: {
      char target[32];
      snprintf(target, sizeof target, "t%u", i);
      path_of(p, sizeof p, "l.%u.tmp", i);
      path_of(q, sizeof q, "l", 0);
      must(symlink(target, p) == 0, "symlink", i);
      must(rename(p, q) == 0, "rename over l", i);
      break;
    }
    case STEP_MKDIR:
      path_of(p, sizeof p, "d%u", i);
      must(mkdir(p, 0755) == 0, "mkdir", i);
      break;
    case STEP_RMDIR:
      path_of(p, sizeof p, "d%u", i);
      must(rmdir(p) == 0, "rmdir", i);
      break;
    case STEP_UNLINK:
      path_of(p, sizeof p, "b/%u.w", i);
      must(unlink(p) == 0, "unlink", i);
      break;
    default:
      break;
  }
}

/* One reader thread's own state. */
struct reader {
  int in;      /* messages from the writer */
  int ack;     /* one byte back per message */
  int id;
  int dirfd;   /* DIR, for the *at calls */
  int held;    /* o, opened before its latest replacement */
  ino_t held_ino;
  char held_text[32];
};

/* What a path must show now. */
struct want {
  int exists;        /* 0: every look fails with `err` */
  int err;           /* ENOENT; EACCES for a walk through a directory without search */
  mode_t mode;       /* st_mode, type included */
  off_t size;        /* -1: any */
  const char *data;  /* a regular file's whole content (NULL: not read) */
  size_t data_len;
};

/* Whether the reader (the files' owner, or root) may access a file of
 * mode `mode` with `mask` (R_OK|W_OK|X_OK). */
static int permitted(mode_t mode, int mask) {
  if (as_root) {
    if ((mask & X_OK) != 0) return S_ISDIR(mode) || (mode & 0111) != 0;
    return 1;
  }
  int bits = (int)((mode >> 6) & 7); /* owner rwx: R_OK 4, W_OK 2, X_OK 1 */
  return (bits & mask) == mask;
}

static const char *mask_name(int mask) {
  switch (mask) {
    case F_OK: return "F_OK";
    case R_OK: return "R_OK";
    case W_OK: return "W_OK";
    case X_OK: return "X_OK";
    default: return "?";
  }
}

/* A call's result against what it should be: 0, or -1 with `err`. */
static void expect_rc(struct reader *r, unsigned i, const char *what, const char *call, const char *rel, int rc,
                      int want_ok, int err) {
  if (want_ok && rc != 0)
    failure("[%d] %u after %s: %s(%s) failed: %s", r->id, i, what, call, rel, strerror(errno));
  else if (!want_ok && rc == 0)
    failure("[%d] %u after %s: %s(%s) succeeded, expected %s", r->id, i, what, call, rel, strerror(err));
  else if (!want_ok && errno != err)
    failure("[%d] %u after %s: %s(%s): %s, expected %s", r->id, i, what, call, rel, strerror(errno), strerror(err));
}

static void expect_stat(struct reader *r, unsigned i, const char *what, const char *call, const char *rel,
                        const struct stat *st, const struct want *w) {
  if (st->st_mode != w->mode)
    failure("[%d] %u after %s: %s(%s): mode %06o, expected %06o", r->id, i, what, call, rel, (unsigned)st->st_mode,
            (unsigned)w->mode);
  if (w->size >= 0 && st->st_size != w->size)
    failure("[%d] %u after %s: %s(%s): size %lld, expected %lld", r->id, i, what, call, rel, (long long)st->st_size,
            (long long)w->size);
  if (S_ISREG(w->mode) && st->st_nlink != 1)
    failure("[%d] %u after %s: %s(%s): %lu links, expected 1", r->id, i, what, call, rel,
            (unsigned long)st->st_nlink);
}

/* `rel` (relative to DIR) looked at every way, each compared with `w`. */
static void observe(struct reader *r, unsigned i, const char *what, const char *rel, const struct want *w) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  struct stat st;
  int rc;

  errno = 0;
  rc = stat(path, &st);
  expect_rc(r, i, what, "stat", rel, rc, w->exists, w->err);
  if (rc == 0 && w->exists) expect_stat(r, i, what, "stat", rel, &st, w);

  errno = 0;
  rc = lstat(path, &st);
  expect_rc(r, i, what, "lstat", rel, rc, w->exists, w->err);
  if (rc == 0 && w->exists) expect_stat(r, i, what, "lstat", rel, &st, w);

  errno = 0;
  rc = fstatat(r->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW);
  expect_rc(r, i, what, "fstatat", rel, rc, w->exists, w->err);
  if (rc == 0 && w->exists) expect_stat(r, i, what, "fstatat", rel, &st, w);

  static const int masks[] = {F_OK, R_OK, W_OK, X_OK};
  for (size_t k = 0; k < sizeof masks / sizeof masks[0]; k++) {
    const int mask = masks[k];
    const int ok = w->exists && (mask == F_OK || permitted(w->mode, mask));
    const int err = w->exists ? EACCES : w->err;
    char call[32];
    snprintf(call, sizeof call, "access %s", mask_name(mask));
    errno = 0;
    expect_rc(r, i, what, call, rel, access(path, mask), ok, err);
    snprintf(call, sizeof call, "faccessat %s", mask_name(mask));
    errno = 0;
    expect_rc(r, i, what, call, rel, faccessat(r->dirfd, rel, mask, 0), ok, err);
  }
  errno = 0;
  expect_rc(r, i, what, "faccessat AT_EACCESS R_OK", rel, faccessat(AT_FDCWD, path, R_OK, AT_EACCESS),
            w->exists && permitted(w->mode, R_OK), w->exists ? EACCES : w->err);

  /* open for reading, fstat, and the whole content */
  const int readable = w->exists && permitted(w->mode, R_OK);
  errno = 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    expect_rc(r, i, what, "open O_RDONLY", rel, -1, readable, w->exists ? EACCES : w->err);
    return;
  }
  expect_rc(r, i, what, "open O_RDONLY", rel, 0, readable, w->exists ? EACCES : w->err);
  if (!readable) {
    close(fd);
    return;
  }
  if (fstat(fd, &st) != 0)
    failure("[%d] %u after %s: fstat(%s): %s", r->id, i, what, rel, strerror(errno));
  else
    expect_stat(r, i, what, "fstat of open", rel, &st, w);
  if (S_ISREG(w->mode) && w->data != NULL) {
    static __thread char got[32768];
    size_t len = 0;
    for (;;) {
      ssize_t n = read(fd, got + len, sizeof got - len);
      if (n < 0) {
        failure("[%d] %u after %s: read(%s): %s", r->id, i, what, rel, strerror(errno));
        break;
      }
      if (n == 0 || len + (size_t)n == sizeof got) {
        len += (size_t)n;
        break;
      }
      len += (size_t)n;
    }
    if (len != w->data_len || memcmp(got, w->data, len) != 0)
      failure("[%d] %u after %s: read(%s): %zu bytes, not the %zu expected", r->id, i, what, rel, len,
              w->data_len);
  }
  close(fd);
}

static void hold_o(struct reader *r, unsigned i) {
  char p[4096];
  path_of(p, sizeof p, "o", 0);
  r->held = open(p, O_RDONLY);
  struct stat st;
  if (r->held < 0 || fstat(r->held, &st) != 0) {
    failure("[%d] %u: cannot open and fstat o: %s", r->id, i, strerror(errno));
    if (r->held >= 0) close(r->held);
    r->held = -1;
    return;
  }
  r->held_ino = st.st_ino;
  ssize_t n = pread(r->held, r->held_text, sizeof r->held_text - 1, 0);
  r->held_text[n > 0 ? n : 0] = '\0';
}

/* What a reader must see right after step s of iteration i. */
static void verify(struct reader *r, enum step s, unsigned i) {
  char p[4096], rel[64], what[32];
  struct stat st;
  const int t = r->id;
  struct want gone = {0, ENOENT, 0, -1, NULL, 0};
  struct want w = {1, 0, 0, -1, NULL, 0};
  static const char empty[1];
  static __thread char buf[32768];
  snprintf(rel, sizeof rel, "b/%u", i);
  switch (s) {
    case STEP_RENAME: {
      snprintf(rel, sizeof rel, "a/%u", i);
      observe(r, i, "rename (old name)", rel, &gone);
      snprintf(rel, sizeof rel, "b/%u", i);
      w.mode = S_IFREG | 0644, w.size = 0, w.data = empty, w.data_len = 0;
      observe(r, i, "rename (new name)", rel, &w);
      break;
    }
    case STEP_CHMOD:
      w.mode = S_IFREG | mode_for(i), w.size = 0, w.data = empty, w.data_len = 0;
      observe(r, i, "chmod", rel, &w);
      break;
    case STEP_WRITE:
      memset(buf, 0, (size_t)size_for(i));
      buf[size_for(i) - 1] = 'x';
      w.mode = S_IFREG | mode_for(i), w.size = size_for(i), w.data = buf, w.data_len = (size_t)size_for(i);
      observe(r, i, "write", rel, &w);
      break;
    case STEP_TRUNC:
      w.mode = S_IFREG | mode_for(i), w.size = 0, w.data = empty, w.data_len = 0;
      observe(r, i, "O_TRUNC open", rel, &w);
      break;
    case STEP_GROW_OPEN:
    case STEP_GROW_MORE:
    case STEP_CLOSE_WRITER: {
      size_t n = grow1_for(i);
      memset(buf, 'g', n);
      if (s != STEP_GROW_OPEN) {
        memset(buf + n, 'h', grow2_for(i));
        n += grow2_for(i);
      }
      w.mode = S_IFREG | mode_for(i), w.size = (off_t)n, w.data = buf, w.data_len = n;
      if (s != STEP_GROW_OPEN) {
        observe(r, i, "rename of a file open for writing (old name)", rel, &gone);
        snprintf(rel, sizeof rel, "b/%u.w", i);
      }
      observe(r, i,
              s == STEP_GROW_OPEN   ? "a write (fd kept open)"
              : s == STEP_GROW_MORE ? "rename and another write (fd kept open)"
                                    : "close of the writer",
              rel, &w);
      break;
    }
    case STEP_NOREAD: {
      const size_t n = grow1_for(i) + grow2_for(i);
      memset(buf, 'g', grow1_for(i));
      memset(buf + grow1_for(i), 'h', grow2_for(i));
      w.mode = S_IFREG | noread_mode_for(i), w.size = (off_t)n, w.data = buf, w.data_len = n;
      snprintf(rel, sizeof rel, "b/%u.w", i);
      observe(r, i, "chmod without read", rel, &w);
      break;
    }
    case STEP_SEARCH_OFF:
    case STEP_SEARCH_ON: {
      const int on = s == STEP_SEARCH_ON;
      snprintf(what, sizeof what, "chmod s %s search", on ? "with" : "without");
      w.mode = S_IFDIR | (on ? search_on_mode_for(i) : search_off_mode_for(i));
      observe(r, i, what, "s", &w);
      /* s/f: reachable only through a searchable s (root may always search) */
      struct want f = {1, 0, S_IFREG | 0644, 3, "sf\n", 3};
      if (!on && !as_root) f = (struct want){0, EACCES, 0, -1, NULL, 0};
      observe(r, i, what, "s/f", &f);
      break;
    }
    case STEP_REPLACE: {
      char want[32];
      const int n = snprintf(want, sizeof want, "%u\n", i);
      w.mode = S_IFREG | 0644, w.size = n, w.data = want, w.data_len = (size_t)n;
      observe(r, i, "replace", "c", &w);
      snprintf(rel, sizeof rel, "c.%u.tmp", i);
      observe(r, i, "replace (temporary name)", rel, &gone);
      break;
    }
    case STEP_REPLACE_OPEN: {
      char want[32];
      const int n = snprintf(want, sizeof want, "o%u\n", i);
      w.mode = S_IFREG | 0644, w.size = n, w.data = want, w.data_len = (size_t)n;
      observe(r, i, "rename over an open file", "o", &w);
      path_of(p, sizeof p, "o", 0);
      if (stat(p, &st) == 0 && st.st_ino == r->held_ino)
        failure("[%d] %u: o still has the replaced file's inode %lu", t, i, (unsigned long)st.st_ino);
      /* The open fd still reaches the replaced file, now without a name. */
      if (r->held >= 0) {
        char got[32] = {0};
        ssize_t got_n = pread(r->held, got, sizeof got - 1, 0);
        if (got_n < 0 || strcmp(got, r->held_text) != 0)
          failure("[%d] %u: the replaced o reads '%s' through an open fd, expected '%s'", t, i, got, r->held_text);
        if (fstat(r->held, &st) != 0)
          failure("[%d] %u: fstat of the replaced o: %s", t, i, strerror(errno));
        else if (st.st_ino != r->held_ino || st.st_nlink != 0 || !S_ISREG(st.st_mode))
          failure("[%d] %u: fstat of the replaced o: inode %lu (expected %lu), %lu links (expected 0)", t, i,
                  (unsigned long)st.st_ino, (unsigned long)r->held_ino, (unsigned long)st.st_nlink);
        close(r->held);
        r->held = -1;
      }
      hold_o(r, i);
      if (r->held >= 0 && strcmp(r->held_text, want) != 0)
        failure("[%d] %u: o opened after the replacement reads '%s'", t, i, r->held_text);
      break;
    }
    case STEP_RETARGET: {
      char want[32], got[64];
      snprintf(want, sizeof want, "t%u", i);
      path_of(p, sizeof p, "l", 0);
      ssize_t n = readlink(p, got, sizeof got - 1);
      if (n < 0) {
        failure("[%d] %u: readlink after retarget: %s", t, i, strerror(errno));
        break;
      }
      got[n] = '\0';
      if (strcmp(got, want) != 0) failure("[%d] %u: l -> %s after retarget to %s", t, i, got, want);
      if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode) || st.st_size != (off_t)strlen(want))
        failure("[%d] %u: lstat of l after retarget: size %lld, expected %zu", t, i, (long long)st.st_size,
                strlen(want));
      /* t<i> does not exist: following l finds nothing */
      errno = 0;
      if (stat(p, &st) == 0 || errno != ENOENT) failure("[%d] %u: stat follows l to an existing t%u", t, i, i);
      errno = 0;
      if (access(p, F_OK) == 0 || errno != ENOENT) failure("[%d] %u: access follows l to an existing t%u", t, i, i);
      break;
    }
    case STEP_MKDIR:
      snprintf(rel, sizeof rel, "d%u", i);
      w.mode = S_IFDIR | 0755;
      observe(r, i, "mkdir", rel, &w);
      break;
    case STEP_RMDIR:
      snprintf(rel, sizeof rel, "d%u", i);
      observe(r, i, "rmdir", rel, &gone);
      break;
    case STEP_UNLINK:
      snprintf(rel, sizeof rel, "b/%u.w", i);
      observe(r, i, "unlink", rel, &gone);
      break;
    default:
      break;
  }
}

static void *reader_main(void *arg) {
  struct reader *r = arg;
  struct message m;
  r->dirfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (r->dirfd < 0) failure("[%d] open %s: %s", r->id, dir, strerror(errno));
  hold_o(r, 0);
  while (read(r->in, &m, sizeof m) == (ssize_t)sizeof m) {
    verify(r, (enum step)m.step, m.i);
    char c = 0;
    if (write(r->ack, &c, 1) != 1) break;
  }
  if (r->held >= 0) close(r->held);
  if (r->dirfd >= 0) close(r->dirfd);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: coherence DIR ITERATIONS THREADS\n");
    return 2;
  }
  dir = argv[1];
  iterations = atoi(argv[2]);
  threads = atoi(argv[3]);
  if (iterations <= 0 || threads <= 0 || threads > 64) return 2;
  as_root = geteuid() == 0;
  umask(022);

  char p[4096];
  path_of(p, sizeof p, "a", 0);
  if (mkdir(p, 0755) != 0) return perror("mkdir a"), 2;
  path_of(p, sizeof p, "b", 0);
  if (mkdir(p, 0755) != 0) return perror("mkdir b"), 2;
  path_of(p, sizeof p, "s", 0);
  if (mkdir(p, 0755) != 0) return perror("mkdir s"), 2;
  path_of(p, sizeof p, "s/f", 0);
  write_file(p, "sf\n", 3);
  path_of(p, sizeof p, "o", 0);
  write_file(p, "o-init\n", 7);
  for (int i = 0; i < iterations; i++) {
    path_of(p, sizeof p, "a/%u", (unsigned)i);
    write_file(p, "", 0);
  }

  int to_reader[64][2], from_reader[2];
  for (int t = 0; t < threads; t++)
    if (pipe(to_reader[t]) != 0) return perror("pipe"), 2;
  if (pipe(from_reader) != 0) return perror("pipe"), 2;

  pid_t child = fork();
  if (child < 0) return perror("fork"), 2;
  if (child == 0) {
    pthread_t tid[64];
    static struct reader r[64];
    close(from_reader[0]);
    for (int t = 0; t < threads; t++) {
      close(to_reader[t][1]);
      r[t] = (struct reader){.in = to_reader[t][0], .ack = from_reader[1], .id = t, .dirfd = -1, .held = -1};
      pthread_create(&tid[t], NULL, reader_main, &r[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    _exit(atomic_load(&failures) == 0 ? 0 : 1);
  }
  close(from_reader[1]);
  for (int t = 0; t < threads; t++) close(to_reader[t][0]);

  for (int i = 0; i < iterations; i++) {
    for (int s = 0; s < STEP_COUNT; s++) {
      apply((enum step)s, (unsigned)i);
      struct message m = {(uint32_t)s, (uint32_t)i};
      for (int t = 0; t < threads; t++)
        if (write(to_reader[t][1], &m, sizeof m) != (ssize_t)sizeof m) return perror("write to reader"), 2;
      /* Wait for every reader before the next change, so each check is
       * made against exactly one known state. */
      for (int t = 0; t < threads; t++) {
        char c;
        if (read(from_reader[0], &c, 1) != 1) {
          fprintf(stderr, "coherence: a reader died\n");
          return 2;
        }
      }
    }
  }
  for (int t = 0; t < threads; t++) close(to_reader[t][1]);
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "coherence: readers saw a stale namespace (status %d)\n", status);
    return 1;
  }
  printf("coherence: %d iterations x %d steps x %d readers (%s), all fresh\n", iterations, STEP_COUNT, threads,
         as_root ? "as root" : "as the files' owner");
  return 0;
}
