/* stress_worker DIR ID THREADS SECONDS|until-dead
 *
 * THREADS threads doing mixed file operations under DIR (normally a userfs
 * mount directory):
 *  - in a private directory DIR/p<ID>t<T> whose contents each thread knows
 *    exactly: create, write, append, read back and verify, rename, unlink,
 *    stat, mkdir, rmdir, readdir compared with the expected names. Every
 *    error there is unexpected.
 *  - in DIR/shared, where all threads of all processes race on a few names:
 *    create O_EXCL, unlink, rename, mkdir, rmdir, stat, readdir. The errors
 *    the race makes legitimate (EEXIST, ENOENT, ENOTEMPTY) are expected;
 *    anything else is not.
 *
 * SECONDS: run that long, clean the private directories up and exit.
 * until-dead: run until an operation fails with EIO or ENOTCONN (the server
 * is gone); each thread stops at its first such error. The process exits
 * when all threads stopped (or after 120 s, which the caller's timeout
 * treats as a hang).
 *
 * Last line on stdout: "proc ID ops=N unexpected=U gone=G threads=T corrupt=C"
 * and, before it, one line per unexpected error (at most 20). Exit status 0
 * when unexpected == 0 and corrupt == 0 (and, in until-dead mode, every
 * thread ended on EIO/ENOTCONN), else 1. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static int proc_id;
static int until_dead;
static double seconds;
static atomic_long total_ops, unexpected, corrupt, gone_threads, reported;
static atomic_long gone_errno_count[2];  /* EIO, ENOTCONN */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct file_rec { int name; long len; unsigned char byte; };
struct thread_state {
  int id;
  unsigned seed;
  char priv[512];
  struct file_rec files[8];
  int nfiles;
  int dirs[4];
  int ndirs;
  int counter;
  int gone;   /* saw EIO/ENOTCONN */
};

/* Classifies an error: returns 1 when the thread must stop. */
static int bad(struct thread_state *t, const char *op, const char *path, int e) {
  if (e == EIO || e == ENOTCONN) {
    if (until_dead) {
      t->gone = 1;
      atomic_fetch_add(&gone_errno_count[e == EIO ? 0 : 1], 1);
      return 1;
    }
  }
  atomic_fetch_add(&unexpected, 1);
  if (atomic_fetch_add(&reported, 1) < 20) {
    const char *rel = path;
    size_t dl = strlen(dir);
    if (strncmp(path, dir, dl) == 0) rel = path + dl;
    printf("unexpected: proc %d thread %d %s $DIR%s: %s\n", proc_id, t->id, op, rel, strerror(e));
    fflush(stdout);
  }
  return 1;
}

static void data_error(struct thread_state *t, const char *what, const char *path) {
  atomic_fetch_add(&corrupt, 1);
  if (atomic_fetch_add(&reported, 1) < 20) {
    printf("corrupt: proc %d thread %d %s %s\n", proc_id, t->id, what, path + strlen(dir));
    fflush(stdout);
  }
}

static void fpath(struct thread_state *t, char *out, size_t n, char kind, int name) {
  snprintf(out, n, "%s/%c%d", t->priv, kind, name);
}

static int write_all(int fd, unsigned char byte, long len) {
  char buf[4096];
  memset(buf, byte, sizeof buf);
  while (len > 0) {
    long k = len < (long)sizeof buf ? len : (long)sizeof buf;
    ssize_t w = write(fd, buf, k);
    if (w < 0) return -1;
    len -= w;
  }
  return 0;
}

/* One private operation; returns 1 when the thread must stop. */
static int private_op(struct thread_state *t) {
  char p[600], q[600];
  int r = rand_r(&t->seed) % 10;
  if (t->nfiles == 0) r = 0;
  switch (r) {
    case 0: case 1: {  /* create */
      if (t->nfiles >= 8) return 0;
      struct file_rec f = {.name = t->counter++, .len = rand_r(&t->seed) % 9000,
                           .byte = 'a' + rand_r(&t->seed) % 26};
      fpath(t, p, sizeof p, 'f', f.name);
      int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0) return bad(t, "create", p, errno);
      if (write_all(fd, f.byte, f.len) != 0) { int e = errno; close(fd); return bad(t, "write", p, e); }
      if (close(fd) != 0) return bad(t, "close", p, errno);
      t->files[t->nfiles++] = f;
      return 0;
    }
    case 2: case 3: {  /* read back and verify, through a fresh open */
      struct file_rec *f = &t->files[rand_r(&t->seed) % t->nfiles];
      fpath(t, p, sizeof p, 'f', f->name);
      int fd = open(p, O_RDONLY);
      if (fd < 0) return bad(t, "open", p, errno);
      char buf[4096];
      long got = 0;
      ssize_t n;
      int ok = 1;
      while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) if ((unsigned char)buf[i] != f->byte) ok = 0;
        got += n;
      }
      int e = errno;
      close(fd);
      if (n < 0) return bad(t, "read", p, e);
      if (!ok || got != f->len) data_error(t, "content", p);
      return 0;
    }
    case 4: {  /* append */
      struct file_rec *f = &t->files[rand_r(&t->seed) % t->nfiles];
      fpath(t, p, sizeof p, 'f', f->name);
      int fd = open(p, O_WRONLY | O_APPEND);
      if (fd < 0) return bad(t, "open append", p, errno);
      long more = rand_r(&t->seed) % 3000;
      if (write_all(fd, f->byte, more) != 0) { int e = errno; close(fd); return bad(t, "append", p, e); }
      close(fd);
      f->len += more;
      return 0;
    }
    case 5: {  /* rename to a new name; the old one is gone */
      struct file_rec *f = &t->files[rand_r(&t->seed) % t->nfiles];
      fpath(t, p, sizeof p, 'f', f->name);
      int nn = t->counter++;
      fpath(t, q, sizeof q, 'f', nn);
      if (rename(p, q) != 0) return bad(t, "rename", p, errno);
      f->name = nn;
      struct stat st;
      if (lstat(p, &st) == 0) data_error(t, "old name still there after rename", p);
      else if (errno != ENOENT) return bad(t, "lstat old", p, errno);
      return 0;
    }
    case 6: {  /* unlink */
      int i = rand_r(&t->seed) % t->nfiles;
      fpath(t, p, sizeof p, 'f', t->files[i].name);
      if (unlink(p) != 0) return bad(t, "unlink", p, errno);
      t->files[i] = t->files[--t->nfiles];
      return 0;
    }
    case 7: {  /* stat */
      struct file_rec *f = &t->files[rand_r(&t->seed) % t->nfiles];
      fpath(t, p, sizeof p, 'f', f->name);
      struct stat st;
      if (stat(p, &st) != 0) return bad(t, "stat", p, errno);
      if (!S_ISREG(st.st_mode) || st.st_size != f->len || st.st_nlink != 1) data_error(t, "stat", p);
      return 0;
    }
    case 8: {  /* mkdir / rmdir */
      if (t->ndirs < 4 && (t->ndirs == 0 || rand_r(&t->seed) % 2)) {
        int nn = t->counter++;
        fpath(t, p, sizeof p, 'd', nn);
        if (mkdir(p, 0755) != 0) return bad(t, "mkdir", p, errno);
        t->dirs[t->ndirs++] = nn;
      } else {
        int i = rand_r(&t->seed) % t->ndirs;
        fpath(t, p, sizeof p, 'd', t->dirs[i]);
        if (rmdir(p) != 0) return bad(t, "rmdir", p, errno);
        t->dirs[i] = t->dirs[--t->ndirs];
      }
      return 0;
    }
    case 9: {  /* readdir: exactly the expected names */
      DIR *d = opendir(t->priv);
      if (!d) return bad(t, "opendir", t->priv, errno);
      int seen = 0, wrong = 0;
      struct dirent *e;
      errno = 0;
      while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        seen++;
        int num = atoi(e->d_name + 1), found = 0;
        if (e->d_name[0] == 'f') {
          for (int i = 0; i < t->nfiles; i++) if (t->files[i].name == num) found = 1;
        } else if (e->d_name[0] == 'd') {
          for (int i = 0; i < t->ndirs; i++) if (t->dirs[i] == num) found = 1;
        }
        if (!found) wrong++;
      }
      int err = errno;
      closedir(d);
      if (err) return bad(t, "readdir", t->priv, err);
      if (wrong || seen != t->nfiles + t->ndirs) data_error(t, "readdir names", t->priv);
      return 0;
    }
  }
  return 0;
}

static int expected_shared(int e) { return e == EEXIST || e == ENOENT || e == ENOTEMPTY; }

static int shared_op(struct thread_state *t) {
  char p[600], q[600];
  int a = rand_r(&t->seed) % 12, b = rand_r(&t->seed) % 12;
  snprintf(p, sizeof p, "%s/shared/f%d", dir, a);
  snprintf(q, sizeof q, "%s/shared/f%d", dir, b);
  int r = rand_r(&t->seed) % 7;
  int e = 0;
  const char *op = "";
  switch (r) {
    case 0: {
      op = "create excl";
      int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0) e = errno;
      else {
        if (write(fd, "x", 1) != 1) e = errno;
        close(fd);
      }
      break;
    }
    case 1: op = "unlink"; if (unlink(p) != 0) e = errno; break;
    case 2: op = "rename"; if (rename(p, q) != 0) e = errno; break;
    case 3:
      op = "mkdir";
      snprintf(p, sizeof p, "%s/shared/d%d", dir, a);
      if (mkdir(p, 0755) != 0) e = errno;
      break;
    case 4:
      op = "rmdir";
      snprintf(p, sizeof p, "%s/shared/d%d", dir, a);
      if (rmdir(p) != 0) e = errno;
      break;
    case 5: {
      op = "stat";
      struct stat st;
      if (stat(p, &st) != 0) e = errno;
      else if (!S_ISREG(st.st_mode)) data_error(t, "shared stat type", p);
      break;
    }
    case 6: {
      op = "readdir";
      snprintf(p, sizeof p, "%s/shared", dir);
      DIR *d = opendir(p);
      if (!d) { e = errno; break; }
      struct dirent *de;
      errno = 0;
      while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
        if ((n[0] != 'f' && n[0] != 'd') || atoi(n + 1) >= 12) data_error(t, "shared readdir name", p);
      }
      e = errno;
      closedir(d);
      break;
    }
  }
  if (e == 0 || expected_shared(e)) return 0;
  return bad(t, op, p, e);
}

static void *worker(void *arg) {
  struct thread_state *t = arg;
  snprintf(t->priv, sizeof t->priv, "%s/p%dt%d", dir, proc_id, t->id);
  if (mkdir(t->priv, 0755) != 0) {
    bad(t, "mkdir private", t->priv, errno);
    return NULL;
  }
  double end = now() + seconds;
  long ops = 0;
  for (;;) {
    if (!until_dead && now() >= end) break;
    if (until_dead && now() >= end) break;  /* safety bound */
    int stop = (rand_r(&t->seed) % 10 < 3) ? shared_op(t) : private_op(t);
    ops++;
    if (stop) break;
  }
  atomic_fetch_add(&total_ops, ops);
  if (t->gone) {
    atomic_fetch_add(&gone_threads, 1);
    return NULL;
  }
  if (!until_dead) {  /* clean up: the private dir must end empty and go */
    char p[600];
    for (int i = 0; i < t->nfiles; i++) {
      fpath(t, p, sizeof p, 'f', t->files[i].name);
      if (unlink(p) != 0) bad(t, "cleanup unlink", p, errno);
    }
    for (int i = 0; i < t->ndirs; i++) {
      fpath(t, p, sizeof p, 'd', t->dirs[i]);
      if (rmdir(p) != 0) bad(t, "cleanup rmdir", p, errno);
    }
    if (rmdir(t->priv) != 0) bad(t, "cleanup rmdir private", t->priv, errno);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s DIR ID THREADS SECONDS|until-dead\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  proc_id = atoi(argv[2]);
  int nthreads = atoi(argv[3]);
  if (!strcmp(argv[4], "until-dead")) {
    until_dead = 1;
    seconds = 120;
  } else {
    seconds = atof(argv[4]);
  }
  if (nthreads < 1 || nthreads > 256) return 2;
  pthread_t *th = calloc(nthreads, sizeof *th);
  struct thread_state *ts = calloc(nthreads, sizeof *ts);
  for (int i = 0; i < nthreads; i++) {
    ts[i].id = i;
    ts[i].seed = 1000u * proc_id + i + 1;
    if (pthread_create(&th[i], NULL, worker, &ts[i]) != 0) {
      perror("pthread_create");
      return 2;
    }
  }
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  printf("proc %d ops=%ld unexpected=%ld gone=%ld threads=%d corrupt=%ld eio=%ld enotconn=%ld\n", proc_id,
         (long)total_ops, (long)unexpected, (long)gone_threads, nthreads, (long)corrupt,
         (long)gone_errno_count[0], (long)gone_errno_count[1]);
  int ok = unexpected == 0 && corrupt == 0 && (!until_dead || gone_threads == nthreads);
  return ok ? 0 : 1;
}
