/* NULL and bad path pointers, as programs probe them: every call must fail
   (or, for the AT_EMPTY_PATH forms the kernel accepts with NULL, succeed)
   exactly as libc does natively. Bad pointers: one into the never-mapped
   first page and one above every user address; the kernel answers EFAULT
   for both. Run with the cwd in the directory under test and argv[1]
   naming it; prints one line per call. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char* pointer_kind;

static void report(const char* what, long rc) {
  printf("%-6s %-32s %ld %s\n", pointer_kind, what, rc, rc < 0 ? strerrorname_np(errno) : "");
  errno = 0;
}

static void probe(const char* np, int dirfd, const struct stat* dir) {
  struct stat st;
  struct statx stx;
  struct statfs sfs;
  char buf[64];
  errno = 0;
  report("stat", stat(np, &st));
  report("lstat", lstat(np, &st));
  report("fstatat AT_FDCWD", fstatat(AT_FDCWD, np, &st, 0));
  report("fstatat dirfd", fstatat(dirfd, np, &st, 0));
  memset(&st, 0, sizeof st);
  long rc = fstatat(dirfd, np, &st, AT_EMPTY_PATH);
  report("fstatat dirfd EMPTY_PATH", rc);
  printf("  same inode as fstat: %d\n", rc == 0 && st.st_ino == dir->st_ino && st.st_dev == dir->st_dev);
  report("statx AT_FDCWD", statx(AT_FDCWD, np, 0, STATX_BASIC_STATS, &stx));
  report("statx dirfd", statx(dirfd, np, 0, STATX_BASIC_STATS, &stx));
  memset(&stx, 0, sizeof stx);
  rc = statx(dirfd, np, AT_EMPTY_PATH, STATX_BASIC_STATS, &stx);
  report("statx dirfd EMPTY_PATH", rc);
  printf("  same inode as fstat: %d\n", rc == 0 && stx.stx_ino == dir->st_ino);
  report("open", open(np, O_RDONLY));
  report("open O_CREAT", open(np, O_WRONLY | O_CREAT, 0644));
  report("openat dirfd", openat(dirfd, np, O_RDONLY));
  report("creat", creat(np, 0644));
  report("access", access(np, F_OK));
  report("faccessat dirfd", faccessat(dirfd, np, F_OK, 0));
  report("mkdir", mkdir(np, 0755));
  report("mkdirat dirfd", mkdirat(dirfd, np, 0755));
  report("rmdir", rmdir(np));
  report("unlink", unlink(np));
  report("unlinkat dirfd", unlinkat(dirfd, np, 0));
  report("rename NULL->x", rename(np, "x"));
  report("rename x->NULL", rename("x", np));
  report("link", link(np, "y"));
  report("symlink target NULL", symlink(np, "z"));
  report("symlink path NULL", symlink("t", np));
  report("readlink", readlink(np, buf, sizeof buf));
  report("chmod", chmod(np, 0644));
  report("fchmodat dirfd", fchmodat(dirfd, np, 0644, 0));
  report("chown", chown(np, getuid(), getgid()));
  report("truncate", truncate(np, 0));
  report("statfs", statfs(np, &sfs));
  report("getxattr", getxattr(np, "user.x", buf, sizeof buf));
  report("listxattr", listxattr(np, buf, sizeof buf));
  report("chdir", chdir(np));
  if (np == NULL) {  /* glibc's realpath reads a non-NULL path itself */
    errno = 0;
    char* r = realpath(np, NULL);
    report("realpath", r == NULL ? -1 : 0);
    free(r);
  }
  report("euidaccess", euidaccess(np, F_OK));
  /* utimensat(fd, NULL) is futimens(fd); with AT_FDCWD it is an error. */
  report("utimensat dirfd", utimensat(dirfd, np, NULL, 0));
  report("utimensat AT_FDCWD", utimensat(AT_FDCWD, np, NULL, 0));
  report("futimesat dirfd", futimesat(dirfd, np, NULL));
}

int main(int argc, char** argv) {
  if (argc != 2 || chdir(argv[1]) != 0) {
    fprintf(stderr, "usage: null_paths DIR (a directory to chdir to)\n");
    return 2;
  }
  /* The compiler must not assume these are non-null or valid: the point is
     to pass them to nonnull-declared parameters. */
  const char* volatile bad[3] = {NULL, (const char*)16, (const char*)0xdead000000000000ull};
  const char* kinds[3] = {"null", "page0", "high"};
  struct stat dir_st;
  int dirfd = open(".", O_RDONLY | O_DIRECTORY);
  if (dirfd < 0 || fstat(dirfd, &dir_st) != 0) {
    perror("open .");
    return 2;
  }
  for (int i = 0; i < 3; i++) {
    pointer_kind = kinds[i];
    probe(bad[i], dirfd, &dir_st);
  }
  return 0;
}
