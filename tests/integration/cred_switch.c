/* A root process that changes who it is part-way, as a daemon dropping
   privileges does: what it creates afterwards must belong to its new
   identity, and what the new identity may not do must be refused. Run as
   root with DIR an empty directory; prints one line per observation (the
   same natively and in the mount).

     cred_switch DIR UID    setuid() to UID, from another thread too
     cred_switch DIR UID e  seteuid() to UID and back to root */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char* g_dir;
static int g_go[2];

static const char* at(const char* rel) {
  static char bufs[2][4096];
  static int next;
  char* b = bufs[next++ % 2];
  snprintf(b, sizeof bufs[0], "%s/%s", g_dir, rel);
  return b;
}

static void create(const char* label, const char* rel) {
  int fd = open(at(rel), O_WRONLY | O_CREAT | O_EXCL, 0644);
  printf("%-28s %s\n", label, fd < 0 ? strerrorname_np(errno) : "ok");
  if (fd >= 0) close(fd);
}

static void owner(const char* rel) {
  struct stat st;
  if (stat(at(rel), &st) != 0)
    printf("  %-26s %s\n", rel, strerrorname_np(errno));
  else
    printf("  %-26s uid=%u gid=%u\n", rel, (unsigned)st.st_uid, (unsigned)st.st_gid);
}

/* Waits for the main thread's setuid, then acts: glibc changed this
   thread's credentials too. */
static void* other_thread(void* arg) {
  (void)arg;
  char byte;
  if (read(g_go[0], &byte, 1) != 1) return NULL;
  create("create by_thread", "work/by_thread");
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3 || getuid() != 0) {
    fprintf(stderr, "usage (as root): cred_switch DIR UID [e]\n");
    return 2;
  }
  g_dir = argv[1];
  const uid_t uid = (uid_t)strtoul(argv[2], NULL, 10);
  const int effective_only = argc > 3 && strcmp(argv[3], "e") == 0;
  umask(022);
  /* As root: the connection (in the mount) is made with root's ids. */
  if (mkdir(at("work"), 0777) != 0 || chmod(at("work"), 0777) != 0 || mkdir(at("root_only"), 0700) != 0) {
    perror("setup");
    return 2;
  }
  create("create by_root", "work/by_root");

  if (effective_only) {
    printf("%-28s %s\n", "setegid, seteuid",
           setegid((gid_t)uid) == 0 && seteuid(uid) == 0 ? "ok" : strerrorname_np(errno));
    create("create by_euid", "work/by_euid");
    create("create root_only/x", "root_only/x");
    printf("%-28s %s\n", "seteuid(0), setegid(0)", seteuid(0) == 0 && setegid(0) == 0 ? "ok" : strerrorname_np(errno));
    create("create by_root_again", "work/by_root_again");
    create("create root_only/y", "root_only/y");
    owner("work/by_root");
    owner("work/by_euid");
    owner("work/by_root_again");
    return 0;
  }

  pthread_t t;
  if (pipe(g_go) != 0 || pthread_create(&t, NULL, other_thread, NULL) != 0) return 2;
  printf("%-28s %s\n", "setgroups, setgid, setuid",
         setgroups(0, NULL) == 0 && setgid((gid_t)uid) == 0 && setuid(uid) == 0 ? "ok" : strerrorname_np(errno));
  create("create by_user", "work/by_user");
  create("create root_only/x", "root_only/x");
  printf("%-28s %s\n", "setuid(0) back", setuid(0) == 0 ? "ok" : strerrorname_np(errno));
  if (write(g_go[1], "g", 1) != 1) return 2;
  pthread_join(t, NULL);
  owner("work/by_root");
  owner("work/by_user");
  owner("work/by_thread");
  return 0;
}
