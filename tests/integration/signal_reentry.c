/* A signal handler that does mount I/O while the thread it interrupted is
 * inside the shim (holding the process's connection) must not deadlock,
 * and no signal may be lost.
 *
 * usage: signal_reentry DIR SECONDS
 * Main threads loop on stat/open/close of DIR/main-N; a 1 ms interval timer
 * fires SIGALRM, whose handler appends one byte to DIR/handler with
 * open/write/close (async-signal-safe calls, routed to the mount). At the
 * end the file's size must equal the number of handler runs, and every
 * call must have succeeded. Prints "ok handlers=N calls=M" or the first
 * failure; exits non-zero on failure. A deadlock shows as the test's
 * timeout. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char handler_path[4096];
static atomic_long handler_runs;
static atomic_int handler_errno;

static void on_alarm(int sig) {
  (void)sig;
  int saved = errno;
  int fd = open(handler_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0 || write(fd, "x", 1) != 1) atomic_store(&handler_errno, errno ? errno : EIO);
  if (fd >= 0) close(fd);
  atomic_fetch_add(&handler_runs, 1);
  errno = saved;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s DIR SECONDS\n", argv[0]);
    return 2;
  }
  snprintf(handler_path, sizeof handler_path, "%s/handler", argv[1]);
  char path[4096];
  snprintf(path, sizeof path, "%s/main", argv[1]);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    perror("create main");
    return 1;
  }
  close(fd);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 1000}, {0, 1000}};
  setitimer(ITIMER_REAL, &it, NULL);

  time_t end = time(NULL) + atoi(argv[2]);
  long calls = 0;
  while (time(NULL) < end) {
    struct stat st;
    if (stat(path, &st) != 0) {
      fprintf(stderr, "stat failed: %s\n", strerror(errno));
      return 1;
    }
    int f = open(path, O_RDONLY);
    if (f < 0) {
      fprintf(stderr, "open failed: %s\n", strerror(errno));
      return 1;
    }
    close(f);
    calls += 2;
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGALRM);
  sigprocmask(SIG_BLOCK, &block, NULL);

  struct stat st;
  if (atomic_load(&handler_errno) != 0) {
    fprintf(stderr, "handler I/O failed: %s\n", strerror(atomic_load(&handler_errno)));
    return 1;
  }
  if (stat(handler_path, &st) != 0) {
    fprintf(stderr, "stat handler file: %s\n", strerror(errno));
    return 1;
  }
  long runs = atomic_load(&handler_runs);
  if (runs == 0 || st.st_size != runs) {
    fprintf(stderr, "handler ran %ld times but wrote %lld bytes\n", runs, (long long)st.st_size);
    return 1;
  }
  printf("ok handlers=%ld calls=%ld\n", runs, calls);
  return 0;
}
