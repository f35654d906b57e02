/* Permission checks as a POSIX filesystem makes them, observed call by
   call: run natively on a temp dir and in the mount, as root and as an
   unprivileged user; the transcripts must agree.

     perm_suite setup DIR UID GID   (as root) fixtures owned by uid 1234 and
                                    by UID:GID, the user who will probe
     perm_suite probe DIR           (as that user) one line per call

   The fixtures: other/ (0755, uid 1234) with f (0644) and secret (0600);
   private/ (0700, 1234) with x; sticky/ (1777, root) with theirs (0666,
   1234); open/ (0777, 1234) with theirs; sgid/ (2777, 1234:1234);
   noexec/ (0766, 1234) with y; wonly/ (0733, 1234); grp (0060,
   1234:GID); world (0666, 1234); mine/ (0755, UID:GID). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OTHER 1234

static void result(const char* what, int rc) {
  printf("%-40s %s\n", what, rc < 0 ? strerrorname_np(errno) : "ok");
  errno = 0;
}

static void show(const char* what, const char* path) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    result(what, -1);
    return;
  }
  printf("%-40s mode=%06o uid=%u gid=%u\n", what, (unsigned)st.st_mode, (unsigned)st.st_uid, (unsigned)st.st_gid);
}

static int open_close(const char* path, int flags, mode_t mode) {
  int fd = open(path, flags, mode);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

static int list(const char* path) {
  DIR* d = opendir(path);
  if (d == NULL) return -1;
  errno = 0;
  while (readdir(d) != NULL) {
  }
  int e = errno;
  closedir(d);
  errno = e;
  return e == 0 ? 0 : -1;
}

static void must(int rc, const char* what) {
  if (rc != 0) {
    perror(what);
    exit(2);
  }
}

static void fixture_dir(const char* path, mode_t mode, uid_t uid, gid_t gid) {
  must(mkdir(path, 0700), path);
  must(chown(path, uid, gid), path);
  must(chmod(path, mode), path);
}

static void fixture_file(const char* path, mode_t mode, uid_t uid, gid_t gid) {
  must(open_close(path, O_WRONLY | O_CREAT | O_EXCL, 0600), path);
  must(chown(path, uid, gid), path);
  must(chmod(path, mode), path);
}

static int setup(uid_t uid, gid_t gid) {
  umask(0);
  fixture_dir("other", 0755, OTHER, OTHER);
  fixture_file("other/f", 0644, OTHER, OTHER);
  fixture_file("other/secret", 0600, OTHER, OTHER);
  fixture_dir("private", 0700, OTHER, OTHER);
  fixture_file("private/x", 0644, OTHER, OTHER);
  fixture_dir("sticky", 01777, 0, 0);
  fixture_file("sticky/theirs", 0666, OTHER, OTHER);
  fixture_dir("open", 0777, OTHER, OTHER);
  fixture_file("open/theirs", 0644, OTHER, OTHER);
  fixture_dir("sgid", 02777, OTHER, OTHER);
  fixture_dir("noexec", 0766, OTHER, OTHER);
  fixture_file("noexec/y", 0644, OTHER, OTHER);
  fixture_dir("wonly", 0733, OTHER, OTHER);
  fixture_file("grp", 0060, OTHER, gid);
  fixture_file("world", 0666, OTHER, OTHER);
  fixture_dir("mine", 0755, uid, gid);
  return 0;
}

static const char* g_dir;

/* DIR/rel in one of a few rotating buffers. */
static const char* P(const char* rel) {
  static char bufs[4][4096];
  static int next;
  char* b = bufs[next++ % 4];
  snprintf(b, sizeof bufs[0], "%s/%s", g_dir, rel);
  return b;
}

static int probe(void) {
  const struct timespec explicit_times[2] = {{1000000000, 0}, {1000000000, 0}};
  const struct timespec now_times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  char buf[64];

  /* umask on create */
  umask(022);
  result("create mine/new 0666 (umask 022)", open_close(P("mine/new"), O_WRONLY | O_CREAT | O_EXCL, 0666));
  show("  mine/new", P("mine/new"));
  umask(077);
  result("mkdir mine/d 0777 (umask 077)", mkdir(P("mine/d"), 0777));
  show("  mine/d", P("mine/d"));
  result("mkfile mine/d/g 0666 (umask 077)", open_close(P("mine/d/g"), O_WRONLY | O_CREAT, 0666));
  show("  mine/d/g", P("mine/d/g"));
  umask(022);
  result("create mine/mv, mine/mv2", open_close(P("mine/mv"), O_WRONLY | O_CREAT, 0644) |
                                        open_close(P("mine/mv2"), O_WRONLY | O_CREAT, 0644));

  /* search and read on others' objects */
  result("stat private/x (dir 0700)", stat(P("private/x"), &(struct stat){0}));
  result("open private/x", open_close(P("private/x"), O_RDONLY, 0));
  result("list private/", list(P("private")));
  result("chdir private/", chdir(P("private")) == 0 ? (chdir("/"), 0) : -1);
  if (chdir(P("mine")) == 0) {
    result("chdir mine/, stat new", stat("new", &(struct stat){0}));
    chdir("/");
  } else {
    result("chdir mine/", -1);
  }
  result("stat noexec/y (dir 0766)", stat(P("noexec/y"), &(struct stat){0}));
  result("list noexec/", list(P("noexec")));
  result("list wonly/ (dir 0733)", list(P("wonly")));
  result("create wonly/z", open_close(P("wonly/z"), O_WRONLY | O_CREAT | O_EXCL, 0644));
  result("readlink private/x", readlink(P("private/x"), buf, sizeof buf) < 0 ? -1 : 0);
  result("open other/secret O_RDONLY", open_close(P("other/secret"), O_RDONLY, 0));
  result("open other/f O_RDONLY", open_close(P("other/f"), O_RDONLY, 0));
  result("open other/f O_WRONLY", open_close(P("other/f"), O_WRONLY, 0));
  result("open other/f O_RDWR", open_close(P("other/f"), O_RDWR, 0));
  result("open other/f O_RDONLY|O_TRUNC", open_close(P("other/f"), O_RDONLY | O_TRUNC, 0));
  result("open grp O_RDWR (group rw only)", open_close(P("grp"), O_RDWR, 0));
  result("open world O_RDWR", open_close(P("world"), O_RDWR, 0));

  /* changing others' directories */
  result("create other/new", open_close(P("other/new"), O_WRONLY | O_CREAT, 0644));
  result("mkdir other/sub", mkdir(P("other/sub"), 0755));
  result("symlink other/ln", symlink("f", P("other/ln")));
  result("unlink other/f", unlink(P("other/f")));
  result("rename other/f -> mine/f", rename(P("other/f"), P("mine/f")));
  result("rename mine/mv -> other/new", rename(P("mine/mv"), P("other/new")));
  result("unlink open/theirs (0777, not sticky)", unlink(P("open/theirs")));

  /* the sticky bit */
  result("unlink sticky/theirs", unlink(P("sticky/theirs")));
  result("rename sticky/theirs -> sticky/t2", rename(P("sticky/theirs"), P("sticky/t2")));
  result("rename mine/mv2 over sticky/theirs", rename(P("mine/mv2"), P("sticky/theirs")));
  result("create sticky/own", open_close(P("sticky/own"), O_WRONLY | O_CREAT | O_EXCL, 0644));
  result("rename sticky/own -> sticky/own2", rename(P("sticky/own"), P("sticky/own2")));
  result("unlink sticky/own2", unlink(P("sticky/own2")));
  result("open sticky/theirs O_RDWR", open_close(P("sticky/theirs"), O_RDWR, 0));

  /* chown */
  result("chown mine/new to uid 1234", chown(P("mine/new"), OTHER, (gid_t)-1));
  show("  mine/new", P("mine/new"));
  result("chown mine/new to gid 1234", chown(P("mine/new"), (uid_t)-1, OTHER));
  show("  mine/new", P("mine/new"));
  result("chown mine/new to own uid and gid", chown(P("mine/new"), getuid(), getgid()));
  result("chown mine/new -1 -1", chown(P("mine/new"), (uid_t)-1, (gid_t)-1));
  result("chown other/f to own uid", chown(P("other/f"), getuid(), (gid_t)-1));
  result("chown other/f -1 -1", chown(P("other/f"), (uid_t)-1, (gid_t)-1));
  result("lchown other/f to gid 1234", lchown(P("other/f"), (uid_t)-1, OTHER));

  /* chmod */
  result("chmod other/f 0777 (not owner)", chmod(P("other/f"), 0777));
  show("  other/f", P("other/f"));
  result("chmod mine/new 0600", chmod(P("mine/new"), 0600));
  show("  mine/new", P("mine/new"));

  /* setgid directories */
  result("create sgid/file", open_close(P("sgid/file"), O_WRONLY | O_CREAT | O_EXCL, 0755));
  show("  sgid/file", P("sgid/file"));
  result("mkdir sgid/sub", mkdir(P("sgid/sub"), 0755));
  show("  sgid/sub", P("sgid/sub"));
  result("chmod sgid/file 02755", chmod(P("sgid/file"), 02755));
  show("  sgid/file", P("sgid/file"));
  result("chmod mine/new 04755", chmod(P("mine/new"), 04755));
  show("  mine/new", P("mine/new"));
  result("chown mine/new -1 -1 (set-id bits)", chown(P("mine/new"), (uid_t)-1, (gid_t)-1));
  show("  mine/new", P("mine/new"));

  /* access() */
  result("access other/f R_OK", access(P("other/f"), R_OK));
  result("access other/f W_OK", access(P("other/f"), W_OK));
  result("access other/f X_OK", access(P("other/f"), X_OK));
  result("access other/secret F_OK", access(P("other/secret"), F_OK));
  result("access private/x F_OK", access(P("private/x"), F_OK));
  result("access private X_OK", access(P("private"), X_OK));
  result("access grp R_OK|W_OK", access(P("grp"), R_OK | W_OK));
  result("access world W_OK", access(P("world"), W_OK));
  result("access mine W_OK|X_OK", access(P("mine"), W_OK | X_OK));
  result("faccessat other/f W_OK AT_EACCESS", faccessat(AT_FDCWD, P("other/f"), W_OK, AT_EACCESS));

  /* utimensat */
  result("utimensat other/f explicit", utimensat(AT_FDCWD, P("other/f"), explicit_times, 0));
  result("utimensat other/f UTIME_NOW", utimensat(AT_FDCWD, P("other/f"), now_times, 0));
  result("utimensat other/f NULL", utimensat(AT_FDCWD, P("other/f"), NULL, 0));
  result("utimensat world explicit", utimensat(AT_FDCWD, P("world"), explicit_times, 0));
  result("utimensat world UTIME_NOW", utimensat(AT_FDCWD, P("world"), now_times, 0));
  result("utimensat mine/new explicit", utimensat(AT_FDCWD, P("mine/new"), explicit_times, 0));

  /* truncate */
  result("truncate other/f", truncate(P("other/f"), 0));
  result("truncate world", truncate(P("world"), 0));

  /* protected hardlinks */
  result("link other/secret -> mine/l1", link(P("other/secret"), P("mine/l1")));
  result("link other/f -> mine/l2", link(P("other/f"), P("mine/l2")));
  result("link world -> mine/l3", link(P("world"), P("mine/l3")));
  result("link mine/new -> mine/l4", link(P("mine/new"), P("mine/l4")));

  /* rmdir */
  result("rmdir other (not empty, parent ok?)", rmdir(P("other")));
  result("rmdir wonly", rmdir(P("wonly")));
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "setup") == 0 && argc == 5) {
    must(chdir(argv[2]), argv[2]);
    return setup((uid_t)strtoul(argv[3], NULL, 10), (gid_t)strtoul(argv[4], NULL, 10));
  }
  if (argc == 3 && strcmp(argv[1], "probe") == 0) {
    g_dir = argv[2];
    printf("# uid %u gid %u\n", (unsigned)getuid(), (unsigned)getgid());
    return probe();
  }
  fprintf(stderr, "usage: perm_suite setup DIR UID GID | perm_suite probe DIR\n");
  return 2;
}
