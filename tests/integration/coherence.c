/* Coherence across processes: a writer process changes the namespace and
 * then tells readers through a pipe; each reader's very next call must see
 * the change. Any cache that lets a process see the namespace as it was a
 * moment ago fails here. Readers are threads of a second process, so one
 * process's calls from several threads are covered too.
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
  STEP_WRITE,        /* b/<i> grows to a size that encodes i */
  STEP_REPLACE,      /* c (the shared name) replaced by a file holding i */
  STEP_RETARGET,     /* symlink l now points at t<i> */
  STEP_MKDIR,        /* directory d<i> made */
  STEP_RMDIR,        /* directory d<i> removed */
  STEP_UNLINK,       /* b/<i> unlinked */
  STEP_COUNT
};

struct message {
  uint32_t step;
  uint32_t i;
};

static const char *dir;
static int iterations, threads;
static atomic_int failures;

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

/* The mode and size that encode iteration i, so a reader seeing a neighbour
 * iteration's value is caught. */
static mode_t mode_for(unsigned i) { return 0600 | (i % 64); }
static off_t size_for(unsigned i) { return 1 + (off_t)(i % 4096) * 7; }

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
    case STEP_REPLACE: {
      char text[32];
      int n = snprintf(text, sizeof text, "%u\n", i);
      path_of(p, sizeof p, "c.%u.tmp", i);
      path_of(q, sizeof q, "c", 0);
      write_file(p, text, (size_t)n);
      must(rename(p, q) == 0, "rename over c", i);
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
      path_of(p, sizeof p, "b/%u", i);
      must(unlink(p) == 0, "unlink", i);
      break;
    default:
      break;
  }
}

/* What a reader must see right after step s of iteration i. */
static void verify(enum step s, unsigned i, int t) {
  char p[4096], q[4096];
  struct stat st;
  switch (s) {
    case STEP_RENAME:
      path_of(p, sizeof p, "a/%u", i);
      path_of(q, sizeof q, "b/%u", i);
      if (lstat(p, &st) == 0 || errno != ENOENT) failure("[%d] %u: old name still there after rename", t, i);
      if (lstat(q, &st) != 0) failure("[%d] %u: new name missing after rename: %s", t, i, strerror(errno));
      break;
    case STEP_CHMOD:
      path_of(p, sizeof p, "b/%u", i);
      if (stat(p, &st) != 0)
        failure("[%d] %u: stat after chmod: %s", t, i, strerror(errno));
      else if ((st.st_mode & 07777) != mode_for(i))
        failure("[%d] %u: mode %04o after chmod to %04o", t, i, st.st_mode & 07777, mode_for(i));
      break;
    case STEP_WRITE:
      path_of(p, sizeof p, "b/%u", i);
      if (stat(p, &st) != 0)
        failure("[%d] %u: stat after write: %s", t, i, strerror(errno));
      else if (st.st_size != size_for(i))
        failure("[%d] %u: size %lld after growing to %lld", t, i, (long long)st.st_size, (long long)size_for(i));
      break;
    case STEP_REPLACE: {
      char want[32], got[32] = {0};
      snprintf(want, sizeof want, "%u\n", i);
      path_of(p, sizeof p, "c", 0);
      int fd = open(p, O_RDONLY);
      if (fd < 0) {
        failure("[%d] %u: open c after replace: %s", t, i, strerror(errno));
        break;
      }
      ssize_t n = read(fd, got, sizeof got - 1);
      close(fd);
      if (n < 0 || strcmp(got, want) != 0) failure("[%d] %u: c holds '%.*s' after replace", t, i, (int)strcspn(got, "\n"), got);
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
      break;
    }
    case STEP_MKDIR:
      path_of(p, sizeof p, "d%u", i);
      if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) failure("[%d] %u: directory missing after mkdir", t, i);
      break;
    case STEP_RMDIR:
      path_of(p, sizeof p, "d%u", i);
      if (stat(p, &st) == 0 || errno != ENOENT) failure("[%d] %u: directory still there after rmdir", t, i);
      break;
    case STEP_UNLINK:
      path_of(p, sizeof p, "b/%u", i);
      if (open(p, O_RDONLY) >= 0 || errno != ENOENT) failure("[%d] %u: file still opens after unlink", t, i);
      break;
    default:
      break;
  }
}

struct reader {
  int in;   /* messages from the writer */
  int ack;  /* one byte back per message */
  int id;
};

static void *reader_main(void *arg) {
  struct reader *r = arg;
  struct message m;
  while (read(r->in, &m, sizeof m) == (ssize_t)sizeof m) {
    verify((enum step)m.step, m.i, r->id);
    char c = 0;
    if (write(r->ack, &c, 1) != 1) break;
  }
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

  char p[4096];
  path_of(p, sizeof p, "a", 0);
  if (mkdir(p, 0755) != 0) return perror("mkdir a"), 2;
  path_of(p, sizeof p, "b", 0);
  if (mkdir(p, 0755) != 0) return perror("mkdir b"), 2;
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
    struct reader r[64];
    close(from_reader[0]);
    for (int t = 0; t < threads; t++) {
      close(to_reader[t][1]);
      r[t] = (struct reader){to_reader[t][0], from_reader[1], t};
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
  printf("coherence: %d iterations x %d steps x %d readers, all fresh\n", iterations, STEP_COUNT, threads);
  return 0;
}
