// Conformance suite: one program, run natively against a temp dir and under
// the shim against a dir in the mount; the two transcripts must be identical.
//
//   conformance [--relative] [--nofork] [--only PREFIX] DIR
//
// Every case runs in a forked child (so a crash or a hang shows up as one
// line, and chdir stays local), in a fresh subdirectory of DIR, and prints one
// line per observation: `family.case.what: value`. Nothing machine-specific
// is printed: no inode or device numbers, no absolute times, no DIR path
// (paths are shown relative, as $A for the case dir and $ROOT for DIR).
//
// With --relative the program chdirs into DIR first and every case uses a
// relative path for its dir, so the whole suite also checks relative-path
// resolution against a cwd inside the mount.
#include <dirent.h>
#include <fcntl.h>
#include <fts.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <set>
#include <string>
#include <vector>

#pragma GCC diagnostic ignored "-Wunused-result"

namespace {

// ---------------------------------------------------------------------------
// Harness.

struct Case {
  const char* name;
  void (*fn)();
};
std::vector<Case>& cases() {
  static std::vector<Case> v;
  return v;
}
struct Reg {
  Reg(const char* n, void (*f)()) { cases().push_back({n, f}); }
};
#define CASE(fam, nm)                                             \
  void fam##_##nm();                                              \
  const Reg reg_##fam##_##nm(#fam "." #nm, fam##_##nm);           \
  void fam##_##nm()

std::string g_root;     // DIR, absolute
std::string g_abs;      // this case's dir, absolute
std::string g_dir;      // this case's dir as used by the case (abs or relative)
std::string g_case;     // this case's name
bool g_relative = false;

void emit(const std::string& line) {
  std::string l = line + "\n";
  ssize_t off = 0;
  while (off < static_cast<ssize_t>(l.size())) {
    ssize_t n = ::write(1, l.data() + off, l.size() - off);
    if (n <= 0) break;
    off += n;
  }
}
void say(const std::string& what, const std::string& value) {
  emit(g_case + "." + what + ": " + value);
}

std::string ename(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : ("E#" + std::to_string(e));
}
// A return value: the number, or `-1 ENAME`.
std::string R(long rc) {
  if (rc < 0) return "-1 " + ename(errno);
  return std::to_string(rc);
}
// A return value that is an fd (whose number is not portable): ok or -1 ENAME.
std::string F(long fd) {
  if (fd < 0) return "-1 " + ename(errno);
  return "fd";
}
// A function that returns an error number instead of setting errno.
std::string RE(int err) { return err == 0 ? "0" : ename(err); }
std::string yn(bool b) { return b ? "yes" : "no"; }

std::string P(const std::string& name) { return g_dir + "/" + name; }
std::string AP(const std::string& name) { return g_abs + "/" + name; }

// Shows a path relative to the case dir or DIR.
std::string rel(const std::string& p) {
  if (p == g_abs) return "$A";
  if (p.rfind(g_abs + "/", 0) == 0) return "$A" + p.substr(g_abs.size());
  if (p == g_root) return "$ROOT";
  if (p.rfind(g_root + "/", 0) == 0) return "$ROOT" + p.substr(g_root.size());
  return p;
}

const char* type_name(mode_t m) {
  switch (m & S_IFMT) {
    case S_IFREG: return "reg";
    case S_IFDIR: return "dir";
    case S_IFLNK: return "lnk";
    case S_IFIFO: return "fifo";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFSOCK: return "sock";
  }
  return "?";
}
const char* dtype_name(unsigned char t) {
  switch (t) {
    case DT_REG: return "reg";
    case DT_DIR: return "dir";
    case DT_LNK: return "lnk";
    case DT_FIFO: return "fifo";
    case DT_CHR: return "chr";
    case DT_BLK: return "blk";
    case DT_SOCK: return "sock";
    case DT_UNKNOWN: return "unknown";
  }
  return "?";
}
std::string octal(unsigned m) {
  char b[16];
  snprintf(b, sizeof b, "%04o", m);
  return b;
}
// type, mode, nlink, and the size for non-directories (directory sizes are
// filesystem-specific).
std::string S(const struct stat& st) {
  std::string s = std::string("type=") + type_name(st.st_mode);
  if (!S_ISDIR(st.st_mode)) s += " size=" + std::to_string(st.st_size);
  s += " nlink=" + std::to_string(st.st_nlink) + " mode=" + octal(st.st_mode & 07777);
  return s;
}
std::string stat_of(const std::string& p) {
  struct stat st;
  if (stat(p.c_str(), &st) != 0) return "-1 " + ename(errno);
  return S(st);
}
std::string lstat_of(const std::string& p) {
  struct stat st;
  if (lstat(p.c_str(), &st) != 0) return "-1 " + ename(errno);
  return S(st);
}
std::string fstat_of(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return "-1 " + ename(errno);
  return S(st);
}
bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}
// yes/no, or the error of whichever stat failed.
std::string same_path(const std::string& a, const std::string& b, bool follow = true) {
  struct stat sa, sb;
  int ra = follow ? stat(a.c_str(), &sa) : lstat(a.c_str(), &sa);
  if (ra != 0) return "first: -1 " + ename(errno);
  int rb = follow ? stat(b.c_str(), &sb) : lstat(b.c_str(), &sb);
  if (rb != 0) return "second: -1 " + ename(errno);
  return yn(same_file(sa, sb));
}
int64_t ns(const struct timespec& t) { return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; }

// Creates (truncates) a file with the given content.
bool wfile(const std::string& p, const std::string& content, mode_t mode = 0644) {
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) {
    say("setup.create " + rel(p), "-1 " + ename(errno));
    return false;
  }
  ssize_t n = write(fd, content.data(), content.size());
  close(fd);
  return n == static_cast<ssize_t>(content.size());
}
bool mkd(const std::string& p, mode_t mode = 0755) {
  if (mkdir(p.c_str(), mode) != 0) {
    say("setup.mkdir " + rel(p), "-1 " + ename(errno));
    return false;
  }
  return true;
}
std::string fd_content(int fd) {
  std::string s;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return s + "<read -1 " + ename(errno) + ">";
    if (n == 0) break;
    s.append(buf, n);
  }
  return s;
}
// The file's content, or `<open -1 ENAME>`.
std::string rfile(const std::string& p) {
  int fd = open(p.c_str(), O_RDONLY);
  if (fd < 0) return "<open -1 " + ename(errno) + ">";
  std::string s = fd_content(fd);
  close(fd);
  return s;
}
// Printable content: escapes NULs and newlines.
std::string show(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '\0') o += "\\0";
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o + "\"";
}
std::string join(const std::vector<std::string>& v, const char* sep = " ") {
  std::string o;
  for (size_t i = 0; i < v.size(); i++) o += (i ? sep : "") + v[i];
  return o;
}
// Sorted `name:type` of a directory, through opendir/readdir.
std::string listing(const std::string& p) {
  DIR* d = opendir(p.c_str());
  if (!d) return "opendir -1 " + ename(errno);
  std::vector<std::string> v;
  errno = 0;
  while (struct dirent* e = readdir(d)) v.push_back(std::string(e->d_name) + ":" + dtype_name(e->d_type));
  int err = errno;
  closedir(d);
  std::sort(v.begin(), v.end());
  std::string s = join(v);
  if (err) s += " (readdir -1 " + ename(err) + ")";
  return s;
}
// Number of path components of an absolute path.
int depth(const std::string& abs) {
  int n = 0;
  bool in = false;
  for (char c : abs) {
    if (c == '/') in = false;
    else if (!in) { in = true; n++; }
  }
  return n;
}
std::string dotdots(int n) {
  std::string s;
  for (int i = 0; i < n; i++) s += (i ? "/.." : "..");
  return s;
}
std::string cwd() {
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof buf)) return "getcwd -1 " + ename(errno);
  return rel(buf);
}
// Runs argv in a child with stdout captured; returns output + exit status.
std::string run_capture(const std::vector<std::string>& argv) {
  int p[2];
  if (pipe(p) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  close(p[1]);
  std::string out = fd_content(p[0]);
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  std::string res;
  size_t start = 0;
  // Make every line relative.
  for (;;) {
    size_t nl = out.find('\n', start);
    std::string line = out.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    res += (start ? "|" : "") + rel(line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return res + " (status " + std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)) + ")";
}

// ===========================================================================
// paths: absolute, relative, *at with a dir fd / AT_FDCWD / AT_EMPTY_PATH.

CASE(paths, absolute) {
  wfile(P("f"), "hello");
  say("stat", stat_of(AP("f")));
  say("read", show(rfile(AP("f"))));
  say("stat_dotted", stat_of(g_abs + "/./f"));
  say("stat_double_slash", stat_of(g_abs + "//f"));
  say("stat_trailing_slash_on_file", stat_of(AP("f") + "/"));
  say("stat_through_file", stat_of(AP("f") + "/x"));
  say("stat_missing", stat_of(AP("missing")));
  say("stat_empty", stat_of(""));
  say("stat_long_name", stat_of(AP(std::string(300, 'n'))));
}

CASE(paths, relative_after_chdir) {
  mkd(P("sub"));
  wfile(P("sub/f"), "abc");
  say("chdir", R(chdir(AP("sub").c_str())));
  say("stat_rel", stat_of("f"));
  say("stat_dot_rel", stat_of("./f"));
  say("stat_dotdot_rel", stat_of("../sub/f"));
  say("create_rel", R(wfile("g", "xyz") ? 0 : -1));
  say("abs_sees_rel_create", stat_of(AP("sub/g")));
  say("mkdir_rel", R(mkdir("d", 0755)));
  say("abs_sees_rel_mkdir", stat_of(AP("sub/d")));
  say("rename_rel", R(rename("g", "d/g")));
  say("unlink_rel", R(unlink("d/g")));
  say("rmdir_rel", R(rmdir("d")));
  say("listing_dot", listing("."));
}

CASE(paths, at_dirfd) {
  mkd(P("sub"));
  int dfd = open(P("sub").c_str(), O_RDONLY | O_DIRECTORY);
  say("open_dir", F(dfd));
  int fd = openat(dfd, "f", O_WRONLY | O_CREAT | O_EXCL, 0640);
  say("openat_create", F(fd));
  say("write", R(write(fd, "12345", 5)));
  close(fd);
  struct stat st;
  say("fstatat", fstatat(dfd, "f", &st, 0) == 0 ? S(st) : "-1 " + ename(errno));
  say("openat_excl_again", F(openat(dfd, "f", O_WRONLY | O_CREAT | O_EXCL, 0640)));
  say("mkdirat", R(mkdirat(dfd, "d", 0700)));
  say("stat_d", stat_of(P("sub/d")));
  say("faccessat", R(faccessat(dfd, "f", R_OK | W_OK, 0)));
  say("fchmodat", R(fchmodat(dfd, "f", 0600, 0)));
  say("stat_f", stat_of(P("sub/f")));
  say("symlinkat", R(symlinkat("f", dfd, "l")));
  char buf[64] = {};
  { std::string r_ = R(readlinkat(dfd, "l", buf, sizeof buf - 1)); say("readlinkat", r_ + " " + buf); }
  say("linkat", R(linkat(dfd, "f", dfd, "h", 0)));
  say("renameat", R(renameat(dfd, "h", dfd, "d/h")));
  say("stat_f_after_link", stat_of(P("sub/f")));
  say("unlinkat", R(unlinkat(dfd, "d/h", 0)));
  say("unlinkat_dir", R(unlinkat(dfd, "d", AT_REMOVEDIR)));
  struct timespec ts[2] = {{1000000000, 0}, {1000000000, 500}};
  say("utimensat", R(utimensat(dfd, "f", ts, 0)));
  if (stat(P("sub/f").c_str(), &st) == 0)
    say("mtime", std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
  int fd2 = openat(dfd, "..", O_RDONLY | O_DIRECTORY);
  say("openat_dotdot", F(fd2));
  say("openat_dotdot_sub", F(openat(fd2, "sub/f", O_RDONLY)));
  say("listing", listing(P("sub")));
}

CASE(paths, at_dirfd_errors) {
  wfile(P("f"), "x");
  int ffd = open(P("f").c_str(), O_RDONLY);
  say("openat_file_dirfd", F(openat(ffd, "x", O_RDONLY)));
  struct stat st;
  say("fstatat_file_dirfd", R(fstatat(ffd, "x", &st, 0)));
  say("mkdirat_file_dirfd", R(mkdirat(ffd, "x", 0755)));
  say("openat_bad_dirfd", F(openat(999, "x", O_RDONLY)));
  int dfd = open(P(".").c_str(), O_RDONLY | O_DIRECTORY);
  say("fstatat_missing", R(fstatat(dfd, "missing", &st, 0)));
  say("fstatat_empty_no_flag", R(fstatat(dfd, "", &st, 0)));
  say("fstatat_bad_flag", R(fstatat(dfd, "f", &st, 0x40000000)));
}

CASE(paths, at_absolute_ignores_dirfd) {
  wfile(P("f"), "abs");
  int rootfd = open("/", O_RDONLY | O_DIRECTORY);
  int fd = openat(rootfd, AP("f").c_str(), O_RDONLY);
  say("openat_root_fd_abs_path", F(fd));
  if (fd >= 0) say("read", show(fd_content(fd)));
  int dfd = open(P(".").c_str(), O_RDONLY | O_DIRECTORY);
  struct stat a, b;
  say("fstatat_mount_fd_outside_abs", R(fstatat(dfd, "/", &a, 0)));
  stat("/", &b);
  say("same_as_root", yn(same_file(a, b)));
  say("openat_badfd_abs", F(openat(999, AP("f").c_str(), O_RDONLY)));
}

CASE(paths, at_fdcwd) {
  mkd(P("sub"));
  chdir(AP("sub").c_str());
  int fd = openat(AT_FDCWD, "f", O_RDWR | O_CREAT, 0644);
  say("openat", F(fd));
  write(fd, "abc", 3);
  close(fd);
  struct stat st;
  say("fstatat", fstatat(AT_FDCWD, "f", &st, 0) == 0 ? S(st) : "-1 " + ename(errno));
  say("mkdirat", R(mkdirat(AT_FDCWD, "d", 0755)));
  say("renameat", R(renameat(AT_FDCWD, "f", AT_FDCWD, "d/f")));
  say("faccessat", R(faccessat(AT_FDCWD, "d/f", F_OK, 0)));
  say("unlinkat", R(unlinkat(AT_FDCWD, "d/f", 0)));
  say("unlinkat_dir", R(unlinkat(AT_FDCWD, "d", AT_REMOVEDIR)));
  say("listing", listing(AP("sub")));
}

CASE(paths, at_empty_path) {
  wfile(P("f"), "12345");
  mkd(P("d"));
  int fd = open(P("f").c_str(), O_RDONLY);
  struct stat st;
  say("fstatat_empty", fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 ? S(st) : "-1 " + ename(errno));
  int dfd = open(P("d").c_str(), O_RDONLY | O_DIRECTORY);
  say("fstatat_empty_dir", fstatat(dfd, "", &st, AT_EMPTY_PATH) == 0 ? S(st) : "-1 " + ename(errno));
  struct statx sx;
  int rc = statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx);
  say("statx_empty", R(rc) + (rc == 0 ? " size=" + std::to_string(sx.stx_size) : ""));
  int pfd = open(P("f").c_str(), O_PATH);
  say("open_path", F(pfd));
  say("fstatat_empty_opath", fstatat(pfd, "", &st, AT_EMPTY_PATH) == 0 ? S(st) : "-1 " + ename(errno));
  say("fstat_opath", fstat_of(pfd));
  say("fstatat_empty_fdcwd", R(fstatat(AT_FDCWD, "", &st, AT_EMPTY_PATH)));
  chdir(P("d").c_str());
  struct stat st2;
  fstatat(AT_FDCWD, "", &st2, AT_EMPTY_PATH);
  fstatat(dfd, "", &st, AT_EMPTY_PATH);
  say("fstatat_empty_fdcwd_is_cwd", yn(same_file(st, st2)));
  say("fchownat_empty", R(fchownat(fd, "", getuid(), getgid(), AT_EMPTY_PATH)));
  say("linkat_empty", R(linkat(fd, "", AT_FDCWD, AP("hard").c_str(), AT_EMPTY_PATH)));
  say("stat_hard", stat_of(AP("hard")));
}

CASE(paths, symlink_nofollow) {
  wfile(P("f"), "abc");
  symlink("f", P("l").c_str());
  int dfd = open(P(".").c_str(), O_RDONLY | O_DIRECTORY);
  struct stat st;
  say("fstatat_follow", fstatat(dfd, "l", &st, 0) == 0 ? S(st) : "-1 " + ename(errno));
  say("fstatat_nofollow", fstatat(dfd, "l", &st, AT_SYMLINK_NOFOLLOW) == 0 ? S(st) : "-1 " + ename(errno));
  say("lstat", lstat_of(P("l")));
  say("stat", stat_of(P("l")));
  struct statx sx;
  int rc = statx(dfd, "l", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx);
  say("statx_nofollow", R(rc) + (rc == 0 ? std::string(" type=") + type_name(sx.stx_mode) + " size=" + std::to_string(sx.stx_size) : ""));
  rc = statx(dfd, "l", 0, STATX_BASIC_STATS, &sx);
  say("statx_follow", R(rc) + (rc == 0 ? std::string(" type=") + type_name(sx.stx_mode) + " size=" + std::to_string(sx.stx_size) : ""));
  say("open_nofollow", F(open(P("l").c_str(), O_RDONLY | O_NOFOLLOW)));
  say("open_nofollow_regular", F(open(P("f").c_str(), O_RDONLY | O_NOFOLLOW)));
  say("faccessat_nofollow", R(faccessat(dfd, "l", F_OK, AT_SYMLINK_NOFOLLOW)));
  say("fchownat_nofollow", R(fchownat(dfd, "l", getuid(), getgid(), AT_SYMLINK_NOFOLLOW)));
}

CASE(paths, dotdot_out_of_mount) {
  // From the case dir, enough `..` reach `/`, whatever the depth.
  int n = depth(g_abs);
  say("up_to_root", same_path(g_abs + "/" + dotdots(n), "/"));
  say("up_past_root", same_path(g_abs + "/" + dotdots(n + 3), "/"));
  say("up_then_usr", same_path(g_abs + "/" + dotdots(n) + "/usr", "/usr"));
  say("up_then_back", same_path(g_abs + "/" + dotdots(n) + g_abs, g_abs));
  mkd(P("sub"));
  chdir(AP("sub").c_str());
  say("rel_up_to_root", same_path(dotdots(n + 1), "/"));
  say("rel_up_then_usr", same_path(dotdots(n + 1) + "/usr", "/usr"));
  say("rel_up_read_outside", yn(rfile(dotdots(n + 1) + "/etc/passwd") == rfile("/etc/passwd")));
  say("chdir_up_to_root", R(chdir(dotdots(n + 1).c_str())));
  say("getcwd", cwd());
  int dfd = open(g_abs.c_str(), O_RDONLY | O_DIRECTORY);
  int rfd = openat(dfd, (dotdots(n) + "/usr").c_str(), O_RDONLY | O_DIRECTORY);
  struct stat a, b;
  fstat(rfd, &a);
  stat("/usr", &b);
  say("openat_dirfd_up_then_usr", F(rfd) + " same=" + yn(rfd >= 0 && same_file(a, b)));
}

CASE(paths, dotdot_into_mount) {
  wfile(P("f"), "in");
  say("via_etc_dotdot", same_path("/etc/.." + g_abs + "/f", AP("f")));
  say("read_via_etc_dotdot", show(rfile("/etc/.." + g_abs + "/f")));
  chdir("/usr");
  say("rel_from_usr", same_path(".." + g_abs + "/f", AP("f")));
  say("create_rel_from_usr", R(wfile(".." + g_abs + "/g", "g") ? 0 : -1));
  say("stat_g", stat_of(AP("g")));
  chdir("/");
  say("rel_from_root", stat_of(g_abs.substr(1) + "/f"));
  say("chdir_rel_from_root", R(chdir(g_abs.substr(1).c_str())));
  say("getcwd", cwd());
  say("stat_rel", stat_of("f"));
  int rootfd = open("/", O_RDONLY | O_DIRECTORY);
  say("openat_root_rel_into_mount", F(openat(rootfd, (g_abs.substr(1) + "/f").c_str(), O_RDONLY)));
  // The mount's own top: its `..` is the host's parent dir.
  say("root_parent", same_path(g_root + "/..", g_root.substr(0, g_root.rfind('/')).empty() ? "/" : g_root.substr(0, g_root.rfind('/'))));
}

// ===========================================================================
// cwd: chdir, fchdir, getcwd, inheritance by fork and exec.

CASE(cwd, chdir_getcwd) {
  mkd(P("sub"));
  say("chdir", R(chdir(AP("sub").c_str())));
  say("getcwd", cwd());
  char* g = getcwd(nullptr, 0);
  say("getcwd_alloc", g ? rel(g) : "-1 " + ename(errno));
  free(g);
  char* gd = get_current_dir_name();
  say("get_current_dir_name", gd ? rel(gd) : "-1 " + ename(errno));
  free(gd);
  char small[2];
  say("getcwd_small", getcwd(small, sizeof small) ? "ok" : "-1 " + ename(errno));
  say("chdir_dotdot", R(chdir("..")));
  say("getcwd_after_dotdot", cwd());
  say("chdir_missing", R(chdir("missing")));
  wfile(AP("f"), "");
  say("chdir_file", R(chdir(AP("f").c_str())));
  say("getcwd_unchanged", cwd());
  say("chdir_dot", R(chdir(".")));
  say("getcwd_dot", cwd());
}

CASE(cwd, chdir_through_symlink) {
  mkd(P("real"));
  symlink("real", P("link").c_str());
  say("chdir", R(chdir(AP("link").c_str())));
  say("getcwd", cwd());
  say("chdir_dotdot", R(chdir("..")));
  say("getcwd_after", cwd());
}

CASE(cwd, fchdir) {
  mkd(P("sub"));
  int dfd = open(P("sub").c_str(), O_RDONLY | O_DIRECTORY);
  say("fchdir", R(fchdir(dfd)));
  say("getcwd", cwd());
  say("create_rel", R(wfile("f", "x") ? 0 : -1));
  say("abs_sees", stat_of(AP("sub/f")));
  int ffd = open(AP("sub/f").c_str(), O_RDONLY);
  say("fchdir_file", R(fchdir(ffd)));
  say("fchdir_badfd", R(fchdir(999)));
  int out = open("/", O_RDONLY | O_DIRECTORY);
  say("fchdir_out", R(fchdir(out)));
  say("getcwd_out", cwd());
  say("fchdir_back", R(fchdir(dfd)));
  say("getcwd_back", cwd());
  int pfd = open(AP("sub").c_str(), O_PATH | O_DIRECTORY);
  chdir("/");
  say("fchdir_opath", R(fchdir(pfd)));
  say("getcwd_opath", cwd());
}

CASE(cwd, fork_child) {
  mkd(P("sub"));
  chdir(AP("sub").c_str());
  int p[2];
  pipe(p);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    std::string s = cwd();
    s += wfile("child", "c") ? " create=0" : " create=-1";
    s += " stat_parent_file=" + std::string(access("../sub", F_OK) == 0 ? "0" : "-1");
    write(p[1], s.data(), s.size());
    _exit(0);
  }
  close(p[1]);
  say("child", fd_content(p[0]));
  waitpid(pid, nullptr, 0);
  say("parent_sees", stat_of("child"));
  say("parent_sees_abs", stat_of(AP("sub/child")));
}

CASE(cwd, exec_child) {
  mkd(P("sub"));
  wfile(P("sub/f"), "content\n");
  chdir(AP("sub").c_str());
  say("sh_pwd", run_capture({"/bin/sh", "-c", "pwd; pwd -P; cat f; echo new > g; ls"}));
  say("bin_pwd", run_capture({"/bin/pwd"}));
  say("bin_cat_rel", run_capture({"/bin/cat", "f"}));
  say("parent_sees_g", show(rfile("g")));
  int dfd = open(AP("sub").c_str(), O_RDONLY | O_DIRECTORY);
  chdir("/");
  fchdir(dfd);
  say("after_fchdir_sh_pwd", run_capture({"/bin/sh", "-c", "pwd; ls"}));
}

CASE(cwd, removed_cwd) {
  mkd(P("sub"));
  chdir(AP("sub").c_str());
  say("rmdir_cwd", R(rmdir(AP("sub").c_str())));
  char buf[PATH_MAX];
  say("getcwd", getcwd(buf, sizeof buf) ? rel(buf) : "-1 " + ename(errno));
  say("create_in_removed", F(open("f", O_WRONLY | O_CREAT, 0644)));
  say("stat_dot", stat_of("."));
  say("chdir_dotdot", R(chdir("..")));
}

// ===========================================================================
// realpath and canonicalize_file_name.

CASE(realpath, basic) {
  mkd(P("sub"));
  wfile(P("f"), "x");
  symlink("f", P("l").c_str());
  symlink("sub", P("ls").c_str());
  symlink("missing", P("dangling").c_str());
  char buf[PATH_MAX];
  auto rp = [&](const std::string& p) {
    char* r = realpath(p.c_str(), buf);
    return r ? rel(r) : "-1 " + ename(errno);
  };
  say("file", rp(AP("f")));
  say("dotdot", rp(AP("sub/../f")));
  say("dot_slashes", rp(g_abs + "/./sub//./"));
  say("symlink", rp(AP("l")));
  say("dir_symlink", rp(AP("ls/../f")));
  say("dangling", rp(AP("dangling")));
  say("missing", rp(AP("missing")));
  say("through_file", rp(AP("f/x")));
  say("root", rp(g_root));
  char* c = canonicalize_file_name(AP("ls").c_str());
  say("canonicalize", c ? rel(c) : "-1 " + ename(errno));
  free(c);
  char* a = realpath(AP("sub/../l").c_str(), nullptr);
  say("alloc", a ? rel(a) : "-1 " + ename(errno));
  free(a);
  chdir(AP("sub").c_str());
  say("relative", rp("../l"));
  say("relative_dot", rp("."));
  say("relative_missing", rp("nothing"));
}

CASE(realpath, out_of_mount) {
  symlink("/usr/bin", P("out").c_str());
  char buf[PATH_MAX], want[PATH_MAX];
  realpath("/usr/bin", want);
  char* r = realpath(AP("out").c_str(), buf);
  say("link_out", r ? yn(strcmp(r, want) == 0) : "-1 " + ename(errno));
  r = realpath(AP("out/..").c_str(), buf);
  realpath("/usr", want);
  say("link_out_dotdot", r ? yn(strcmp(r, want) == 0) : "-1 " + ename(errno));
  int n = depth(g_abs);
  r = realpath((g_abs + "/" + dotdots(n) + "/usr").c_str(), buf);
  say("dotdot_out", r ? yn(strcmp(r, want) == 0) : "-1 " + ename(errno));
  r = realpath(("/usr/.." + g_abs).c_str(), buf);
  say("dotdot_in", r ? rel(r) : "-1 " + ename(errno));
}

// ===========================================================================
// symlinks.

CASE(symlink, create_readlink) {
  say("symlink", R(symlink("target/x", P("l").c_str())));
  char buf[64] = {};
  ssize_t n = readlink(P("l").c_str(), buf, sizeof buf);
  say("readlink", R(n) + " " + std::string(buf, n > 0 ? n : 0));
  char small[4];
  n = readlink(P("l").c_str(), small, sizeof small);
  say("readlink_small", R(n) + " " + std::string(small, n > 0 ? n : 0));
  say("lstat", lstat_of(P("l")));
  say("symlink_existing", R(symlink("other", P("l").c_str())));
  wfile(P("f"), "");
  say("readlink_regular", R(readlink(P("f").c_str(), buf, sizeof buf)));
  say("readlink_missing", R(readlink(P("missing").c_str(), buf, sizeof buf)));
  say("readlink_dir", R(readlink(g_dir.c_str(), buf, sizeof buf)));
  say("symlink_empty_target", R(symlink("", P("e").c_str())));
  say("symlink_missing_parent", R(symlink("x", P("no/l").c_str())));
  say("symlink_abs_target", R(symlink(AP("f").c_str(), P("la").c_str())));
  memset(buf, 0, sizeof buf);
  char big[PATH_MAX] = {};
  n = readlink(P("la").c_str(), big, sizeof big);
  say("readlink_abs", R(n >= 0 ? 0 : -1) + " " + (n > 0 ? rel(std::string(big, n)) : ""));
  say("readlink_trailing_slash", R(readlink((P("l") + "/").c_str(), buf, sizeof buf)));
  say("unlink_link", R(unlink(P("l").c_str())));
  say("listing", listing(g_dir));
}

CASE(symlink, resolution_inside) {
  mkd(P("d"));
  wfile(P("d/f"), "data");
  symlink("d/f", P("lf").c_str());
  symlink("d", P("ld").c_str());
  symlink("ld", P("lld").c_str());
  symlink(AP("d").c_str(), P("abs").c_str());
  say("read_lf", show(rfile(P("lf"))));
  say("read_through_dirlink", show(rfile(P("ld/f"))));
  say("read_chain", show(rfile(P("lld/f"))));
  say("read_abs", show(rfile(P("abs/f"))));
  say("stat_ld", stat_of(P("ld")));
  say("stat_ld_slash", stat_of(P("ld") + "/"));
  say("lstat_ld_slash", lstat_of(P("ld") + "/"));
  say("lstat_ld_dot", lstat_of(P("ld") + "/."));
  say("mkdir_through", R(mkdir(P("ld/sub").c_str(), 0755)));
  say("stat_sub", stat_of(P("d/sub")));
  symlink("../f", P("d/up").c_str());
  wfile(P("f"), "top");
  say("read_relative_up", show(rfile(P("d/up"))));
  say("write_through", R(wfile(P("lf"), "new") ? 0 : -1));
  say("read_after_write", show(rfile(P("d/f"))));
  say("lstat_lf_still_link", lstat_of(P("lf")));
  say("rmdir_link_to_dir", R(rmdir(P("ld").c_str())));
  say("unlink_dir_slash", R(unlink((P("ld") + "/").c_str())));
}

CASE(symlink, dangling_and_create) {
  symlink("target", P("l").c_str());
  say("stat", stat_of(P("l")));
  say("lstat", lstat_of(P("l")));
  say("open_creat", F(open(P("l").c_str(), O_WRONLY | O_CREAT, 0644)));
  say("target_created", stat_of(P("target")));
  unlink(P("target").c_str());
  say("open_creat_excl", F(open(P("l").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644)));
  say("open_noflag", F(open(P("l").c_str(), O_RDONLY)));
  say("mkdir_on_link", R(mkdir(P("l").c_str(), 0755)));
  say("rename_link", R(rename(P("l").c_str(), P("l2").c_str())));
  say("readlink_renamed", [&] { char b[32] = {}; return R(readlink(P("l2").c_str(), b, 31)) + " " + b; }());
}

CASE(symlink, points_out_of_mount) {
  symlink("/usr/bin", P("bin").c_str());
  symlink("/etc/passwd", P("pw").c_str());
  int n = depth(g_abs);
  symlink((dotdots(n) + "/usr").c_str(), P("relout").c_str());
  say("stat_bin_is_usr_bin", same_path(P("bin"), "/usr/bin"));
  say("stat_bin_sh", same_path(P("bin/sh"), "/usr/bin/sh"));
  say("read_pw", yn(rfile(P("pw")) == rfile("/etc/passwd")));
  say("relout_is_usr", same_path(P("relout"), "/usr"));
  say("relout_bin", same_path(P("relout/bin"), "/usr/bin"));
  say("opendir_through", [&] {
    DIR* d = opendir(P("bin").c_str());
    if (!d) return "-1 " + ename(errno);
    int c = 0;
    while (readdir(d)) c++;
    closedir(d);
    return std::string(c > 2 ? "entries" : "empty");
  }());
  // And into the mount from outside: a link in a host dir is not ours to
  // create here, so use a link in the mount that points back into the mount.
  symlink((g_abs + "/x").c_str(), P("back").c_str());
  wfile(P("x"), "back");
  say("read_back", show(rfile(P("back"))));
}

CASE(symlink, loops) {
  symlink("b", P("a").c_str());
  symlink("a", P("b").c_str());
  symlink("self", P("self").c_str());
  say("stat_loop", stat_of(P("a")));
  say("lstat_loop", lstat_of(P("a")));
  say("open_loop", F(open(P("a").c_str(), O_RDONLY)));
  say("open_creat_loop", F(open(P("a").c_str(), O_WRONLY | O_CREAT, 0644)));
  say("stat_self", stat_of(P("self")));
  say("stat_through_loop", stat_of(P("a/x")));
  say("chdir_loop", R(chdir(P("self").c_str())));
  say("access_loop", R(access(P("a").c_str(), F_OK)));
  char buf[PATH_MAX];
  say("realpath_loop", realpath(P("a").c_str(), buf) ? "ok" : "-1 " + ename(errno));
  // A long chain: 40 links is the limit.
  wfile(P("end"), "end");
  std::string prev = "end";
  for (int i = 0; i < 45; i++) {
    std::string name = "c" + std::to_string(i);
    symlink(prev.c_str(), P(name).c_str());
    prev = name;
  }
  say("chain_39", show(rfile(P("c39"))));
  say("chain_40", show(rfile(P("c40"))));
  say("chain_44", show(rfile(P("c44"))));
}

// ===========================================================================
// hard links.

CASE(link, basic) {
  wfile(P("f"), "one");
  say("link", R(link(P("f").c_str(), P("g").c_str())));
  say("stat_f", stat_of(P("f")));
  say("stat_g", stat_of(P("g")));
  say("same_inode", same_path(P("f"), P("g")));
  int fd = open(P("g").c_str(), O_WRONLY | O_APPEND);
  write(fd, "two", 3);
  close(fd);
  say("read_f", show(rfile(P("f"))));
  say("fstat_nlink", [&] { int f = open(P("f").c_str(), O_RDONLY); std::string s = fstat_of(f); close(f); return s; }());
  say("unlink_f", R(unlink(P("f").c_str())));
  say("stat_g_after", stat_of(P("g")));
  say("link_existing", R(link(P("g").c_str(), P("g").c_str())));
  say("link_missing", R(link(P("missing").c_str(), P("h").c_str())));
  mkd(P("d"));
  say("link_dir", R(link(P("d").c_str(), P("dl").c_str())));
  say("link_missing_parent", R(link(P("g").c_str(), P("no/h").c_str())));
  say("link_into_subdir", R(link(P("g").c_str(), P("d/h").c_str())));
  say("stat_g_3", stat_of(P("g")));
  say("rename_link_over_other_link", R(rename(P("g").c_str(), P("d/h").c_str())));
  say("listing", listing(g_dir));
  say("stat_d_h", stat_of(P("d/h")));
}

CASE(link, linkat_flags) {
  wfile(P("f"), "x");
  symlink("f", P("l").c_str());
  int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY);
  say("linkat_symlink_nofollow", R(linkat(dfd, "l", dfd, "h1", 0)));
  say("h1_lstat", lstat_of(P("h1")));
  say("h1_same_as_l", same_path(P("h1"), P("l"), false));
  say("l_nlink", lstat_of(P("l")));
  say("linkat_follow", R(linkat(dfd, "l", dfd, "h2", AT_SYMLINK_FOLLOW)));
  say("h2_lstat", lstat_of(P("h2")));
  say("h2_same_as_f", same_path(P("h2"), P("f"), false));
  say("linkat_bad_flag", R(linkat(dfd, "f", dfd, "h3", 0x1)));
  mkd(P("sub"));
  int sfd = open(P("sub").c_str(), O_RDONLY | O_DIRECTORY);
  say("linkat_across_dirfds", R(linkat(dfd, "f", sfd, "h4", 0)));
  say("f_nlink", stat_of(P("f")));
}

CASE(link, dir_nlink) {
  mkd(P("d"));
  say("new_dir", stat_of(P("d")));
  mkd(P("d/a"));
  mkd(P("d/b"));
  wfile(P("d/f"), "");
  say("with_two_subdirs", stat_of(P("d")));
  rmdir(P("d/a").c_str());
  say("after_rmdir", stat_of(P("d")));
  rename(P("d/b").c_str(), P("b").c_str());
  say("after_move_out", stat_of(P("d")));
  say("parent_after_move_in", stat_of(g_dir));
}

// ===========================================================================
// special files: the mount refuses FIFOs and devices with EPERM (documented),
// so for those the line is normalised to `0|EPERM` when either happens.

std::string normalised_special(int rc) {
  if (rc == 0 || errno == EPERM) return "0|EPERM";
  return "-1 " + ename(errno);
}

CASE(special, mkfifo_mknod) {
  say("mkfifo", normalised_special(mkfifo(P("fifo").c_str(), 0644)));
  say("mknod_fifo", normalised_special(mknod(P("fifo2").c_str(), S_IFIFO | 0644, 0)));
  say("mknod_chr", normalised_special(mknod(P("null").c_str(), S_IFCHR | 0644, makedev(1, 3))));
  int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY);
  say("mkfifoat", normalised_special(mkfifoat(dfd, "fifo3", 0644)));
  // Regular files through mknod are ordinary files: must match exactly.
  say("mknod_reg", R(mknod(P("reg").c_str(), S_IFREG | 0640, 0)));
  say("stat_reg", stat_of(P("reg")));
  say("mknodat_reg", R(mknodat(dfd, "reg2", S_IFREG | 0600, 0)));
  say("stat_reg2", stat_of(P("reg2")));
  wfile(P("f"), "");
  say("mkfifo_existing", R(mkfifo(P("f").c_str(), 0644)));
  say("mknod_existing", R(mknod(P("f").c_str(), S_IFREG | 0644, 0)));
  say("mkfifo_missing_parent", R(mkfifo(P("no/fifo").c_str(), 0644)));
  say("mknod_bad_type", R(mknod(P("bad").c_str(), 0170000 | 0644, 0)));
}

// ===========================================================================
// stat family: stat/lstat/fstat/fstatat/statx agree, and follow writes.

CASE(stat, after_write) {
  int fd = open(P("f").c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
  say("fstat_new", fstat_of(fd));
  write(fd, "hello", 5);
  say("stat", stat_of(P("f")));
  say("lstat", lstat_of(P("f")));
  say("fstat", fstat_of(fd));
  struct stat st;
  say("fstatat", fstatat(AT_FDCWD, P("f").c_str(), &st, 0) == 0 ? S(st) : "-1 " + ename(errno));
  struct statx sx;
  int rc = statx(AT_FDCWD, P("f").c_str(), 0, STATX_BASIC_STATS, &sx);
  say("statx", R(rc) + " size=" + std::to_string(sx.stx_size) + " nlink=" + std::to_string(sx.stx_nlink) +
                  " mode=" + octal(sx.stx_mode & 07777) + " type=" + type_name(sx.stx_mode));
  say("statx_basic_mask", yn((sx.stx_mask & STATX_BASIC_STATS) == STATX_BASIC_STATS));
  stat(P("f").c_str(), &st);
  say("statx_agrees", yn(sx.stx_ino == st.st_ino && makedev(sx.stx_dev_major, sx.stx_dev_minor) == st.st_dev &&
                         sx.stx_mtime.tv_sec == st.st_mtim.tv_sec && sx.stx_mtime.tv_nsec == st.st_mtim.tv_nsec &&
                         sx.stx_uid == st.st_uid && sx.stx_gid == st.st_gid));
  say("uid_is_mine", yn(st.st_uid == getuid() && st.st_gid == getgid()));
  say("blksize_positive", yn(st.st_blksize > 0));
  say("blocks_cover_size", yn(st.st_blocks * 512 >= st.st_size));
  struct stat d, dd;
  stat(g_dir.c_str(), &d);
  say("same_dev_as_dir", yn(d.st_dev == st.st_dev));
  say("distinct_ino_from_dir", yn(d.st_ino != st.st_ino));
  stat((g_dir + "/.").c_str(), &dd);
  say("dot_is_dir", yn(same_file(d, dd)));
  mkd(P("sub"));
  stat(P("sub/..").c_str(), &dd);
  say("sub_dotdot_is_dir", yn(same_file(d, dd)));
  close(fd);
}

CASE(stat, size_through_other_fds) {
  int a = open(P("f").c_str(), O_RDWR | O_CREAT, 0644);
  int b = open(P("f").c_str(), O_RDONLY);
  write(a, "0123456789", 10);
  say("fstat_other_fd", fstat_of(b));
  say("stat_path", stat_of(P("f")));
  char buf[16] = {};
  { std::string r_ = R(read(b, buf, sizeof buf)); say("read_other_fd", r_ + " " + buf); }
  pwrite(a, "X", 1, 99);
  say("after_pwrite_far", stat_of(P("f")));
  ftruncate(a, 3);
  say("after_ftruncate", fstat_of(b));
  void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
  if (m != MAP_FAILED) {
    memcpy(m, "mm", 2);
    munmap(m, 4096);
  }
  lseek(b, 0, SEEK_SET);
  say("read_after_mmap", show(fd_content(b)));
  // A write from another process.
  pid_t pid = fork();
  if (pid == 0) {
    int c = open(P("f").c_str(), O_WRONLY | O_APPEND);
    write(c, "child", 5);
    _exit(0);
  }
  waitpid(pid, nullptr, 0);
  say("after_child_append", stat_of(P("f")));
  lseek(b, 0, SEEK_SET);
  say("content", show(fd_content(b)));
}

CASE(stat, times_follow_writes) {
  wfile(P("f"), "x");
  struct timespec past[2] = {{1000000000, 0}, {1000000000, 0}};
  utimensat(AT_FDCWD, P("f").c_str(), past, 0);
  struct stat before, after;
  stat(P("f").c_str(), &before);
  say("mtime_set", std::to_string(before.st_mtim.tv_sec));
  int fd = open(P("f").c_str(), O_WRONLY | O_APPEND);
  write(fd, "y", 1);
  fstat(fd, &after);
  say("mtime_advanced_fstat", yn(ns(after.st_mtim) > ns(before.st_mtim)));
  stat(P("f").c_str(), &after);
  say("mtime_advanced_stat", yn(ns(after.st_mtim) > ns(before.st_mtim)));
  say("ctime_advanced", yn(ns(after.st_ctim) >= ns(before.st_ctim)));
  say("mtime_recent", yn(labs(after.st_mtim.tv_sec - time(nullptr)) < 60));
  close(fd);
  // Directory times follow entry changes.
  struct timespec dpast[2] = {{1000000000, 0}, {1000000000, 0}};
  utimensat(AT_FDCWD, g_dir.c_str(), dpast, 0);
  wfile(P("g"), "");
  struct stat d;
  stat(g_dir.c_str(), &d);
  say("dir_mtime_after_create", yn(d.st_mtim.tv_sec > 1000000000));
  utimensat(AT_FDCWD, g_dir.c_str(), dpast, 0);
  unlink(P("g").c_str());
  stat(g_dir.c_str(), &d);
  say("dir_mtime_after_unlink", yn(d.st_mtim.tv_sec > 1000000000));
  utimensat(AT_FDCWD, g_dir.c_str(), dpast, 0);
  rename(P("f").c_str(), P("f2").c_str());
  stat(g_dir.c_str(), &d);
  say("dir_mtime_after_rename", yn(d.st_mtim.tv_sec > 1000000000));
  // ctime moves on chmod and link.
  struct stat c1, c2;
  stat(P("f2").c_str(), &c1);
  struct timespec sl = {0, 20000000};
  nanosleep(&sl, nullptr);
  chmod(P("f2").c_str(), 0600);
  stat(P("f2").c_str(), &c2);
  say("ctime_after_chmod", yn(ns(c2.st_ctim) > ns(c1.st_ctim)));
  nanosleep(&sl, nullptr);
  link(P("f2").c_str(), P("f3").c_str());
  stat(P("f2").c_str(), &c1);
  say("ctime_after_link", yn(ns(c1.st_ctim) > ns(c2.st_ctim)));
  say("mtime_unchanged_by_link", yn(ns(c1.st_mtim) == ns(c2.st_mtim)));
}

CASE(stat, statx_fields) {
  wfile(P("f"), "abc");
  struct statx sx;
  say("statx_zero_mask", R(statx(AT_FDCWD, P("f").c_str(), 0, 0, &sx)));
  { std::string r_ = R(statx(AT_FDCWD, P("f").c_str(), 0, STATX_SIZE, &sx)); say("statx_size_only", r_ + " size=" + std::to_string(sx.stx_size)); }
  say("statx_missing", R(statx(AT_FDCWD, P("missing").c_str(), 0, STATX_BASIC_STATS, &sx)));
  say("statx_bad_flags", R(statx(AT_FDCWD, P("f").c_str(), 0x7fffffff, STATX_BASIC_STATS, &sx)));
  say("statx_sync", R(statx(AT_FDCWD, P("f").c_str(), AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &sx)));
  int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY);
  int rc = statx(dfd, "f", 0, STATX_ALL, &sx);
  say("statx_dirfd", R(rc) + std::string(" type=") + type_name(sx.stx_mode) + " blocks_cover=" + yn(sx.stx_blocks * 512 >= sx.stx_size));
  rc = statx(dfd, ".", 0, STATX_BASIC_STATS, &sx);
  say("statx_dir", R(rc) + std::string(" type=") + type_name(sx.stx_mode) + " nlink=" + std::to_string(sx.stx_nlink));
}

// ===========================================================================
// chmod family.

CASE(chmod, basic) {
  wfile(P("f"), "");
  mkd(P("d"));
  symlink("f", P("l").c_str());
  say("chmod", R(chmod(P("f").c_str(), 0600)));
  say("stat", stat_of(P("f")));
  say("chmod_suid", R(chmod(P("f").c_str(), 04755)));
  say("stat_suid", stat_of(P("f")));
  say("chmod_sticky_dir", R(chmod(P("d").c_str(), 01777)));
  say("stat_d", stat_of(P("d")));
  say("chmod_through_link", R(chmod(P("l").c_str(), 0640)));
  say("stat_f_after_link_chmod", stat_of(P("f")));
  say("lstat_link", lstat_of(P("l")));
  int fd = open(P("f").c_str(), O_RDONLY);
  say("fchmod", R(fchmod(fd, 0444)));
  say("fstat", fstat_of(fd));
  int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY);
  say("fchmodat", R(fchmodat(dfd, "f", 0755, 0)));
  say("stat_after_fchmodat", stat_of(P("f")));
  say("fchmodat_nofollow_link", R(fchmodat(dfd, "l", 0700, AT_SYMLINK_NOFOLLOW)));
  say("fchmodat_nofollow_file", R(fchmodat(dfd, "f", 0700, AT_SYMLINK_NOFOLLOW)));
  say("stat_after_nofollow", stat_of(P("f")));
  say("chmod_missing", R(chmod(P("missing").c_str(), 0644)));
  say("fchmod_dir_fd", R(fchmod(dfd, 0700)));
  say("stat_dir", stat_of(g_dir));
  int pfd = open(P("f").c_str(), O_PATH);
  say("fchmod_opath", R(fchmod(pfd, 0644)));
  fchmod(dfd, 0755);
}

CASE(chmod, mode_and_access_root) {
  // As root, access ignores r/w bits but X needs some x bit.
  wfile(P("f"), "", 0000);
  say("stat", stat_of(P("f")));
  say("access_r", R(access(P("f").c_str(), R_OK)));
  say("access_w", R(access(P("f").c_str(), W_OK)));
  say("access_x", R(access(P("f").c_str(), X_OK)));
  chmod(P("f").c_str(), 0100);
  say("access_x_after", R(access(P("f").c_str(), X_OK)));
}

// ===========================================================================
// chown family (to our own uid/gid only: changing to another uid as root is
// a documented difference and is not tried).

CASE(chown, own_ids) {
  wfile(P("f"), "");
  symlink("f", P("l").c_str());
  uid_t u = getuid();
  gid_t g = getgid();
  say("chown", R(chown(P("f").c_str(), u, g)));
  say("chown_noop", R(chown(P("f").c_str(), -1, -1)));
  say("lchown", R(lchown(P("l").c_str(), u, g)));
  int fd = open(P("f").c_str(), O_RDONLY);
  say("fchown", R(fchown(fd, u, g)));
  int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY);
  say("fchownat", R(fchownat(dfd, "f", u, g, 0)));
  say("fchownat_nofollow", R(fchownat(dfd, "l", u, g, AT_SYMLINK_NOFOLLOW)));
  say("chown_missing", R(chown(P("missing").c_str(), u, g)));
  say("lchown_missing", R(lchown(P("missing").c_str(), u, g)));
  struct stat st;
  stat(P("f").c_str(), &st);
  say("owner_is_mine", yn(st.st_uid == u && st.st_gid == g));
  chmod(P("f").c_str(), 06755);
  say("chown_clears_suid", R(chown(P("f").c_str(), u, g)));
  say("stat_after", stat_of(P("f")));
  chmod(P("f").c_str(), 06755);
  say("chown_noop_keeps_suid", R(chown(P("f").c_str(), -1, -1)));
  say("stat_after_noop", stat_of(P("f")));
}

// ===========================================================================
// utimensat, futimens, utimes, utime, lutimes.

std::string times_of(const std::string& p, bool follow = true) {
  struct stat st;
  if ((follow ? stat(p.c_str(), &st) : lstat(p.c_str(), &st)) != 0) return "-1 " + ename(errno);
  return "atime=" + std::to_string(st.st_atim.tv_sec) + "." + std::to_string(st.st_atim.tv_nsec) +
         " mtime=" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

CASE(utime, explicit_times) {
  wfile(P("f"), "");
  struct timespec ts[2] = {{1000000001, 123456789}, {1100000000, 987654321}};
  say("utimensat", R(utimensat(AT_FDCWD, P("f").c_str(), ts, 0)));
  say("times", times_of(P("f")));
  int fd = open(P("f").c_str(), O_RDONLY);
  struct timespec ts2[2] = {{1200000000, 5}, {1300000000, 6}};
  say("futimens", R(futimens(fd, ts2)));
  say("times_futimens", times_of(P("f")));
  struct timeval tv[2] = {{1400000000, 7}, {1500000000, 8}};
  say("utimes", R(utimes(P("f").c_str(), tv)));
  say("times_utimes", times_of(P("f")));
  struct utimbuf ub = {1600000000, 1700000000};
  say("utime", R(utime(P("f").c_str(), &ub)));
  say("times_utime", times_of(P("f")));
  struct timeval tv2[2] = {{1000000000, 1}, {1000000000, 2}};
  say("futimes", R(futimes(fd, tv2)));
  say("times_futimes", times_of(P("f")));
  say("futimesat", R(futimesat(AT_FDCWD, P("f").c_str(), tv)));
  say("times_futimesat", times_of(P("f")));
  say("utimensat_missing", R(utimensat(AT_FDCWD, P("missing").c_str(), ts, 0)));
  struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
  say("utimensat_bad_nsec", R(utimensat(AT_FDCWD, P("f").c_str(), bad, 0)));
}

CASE(utime, now_and_omit) {
  wfile(P("f"), "");
  struct timespec past[2] = {{1000000000, 0}, {1000000000, 0}};
  utimensat(AT_FDCWD, P("f").c_str(), past, 0);
  struct timespec t[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
  say("now_omit", R(utimensat(AT_FDCWD, P("f").c_str(), t, 0)));
  struct stat st;
  stat(P("f").c_str(), &st);
  time_t now = time(nullptr);
  say("atime_now", yn(labs(st.st_atim.tv_sec - now) < 60));
  say("mtime_kept", std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
  struct timespec t2[2] = {{0, UTIME_OMIT}, {1234567890, 0}};
  say("omit_set", R(utimensat(AT_FDCWD, P("f").c_str(), t2, 0)));
  stat(P("f").c_str(), &st);
  say("atime_kept_now", yn(labs(st.st_atim.tv_sec - now) < 60));
  say("mtime_set", std::to_string(st.st_mtim.tv_sec));
  say("null_times", R(utimensat(AT_FDCWD, P("f").c_str(), nullptr, 0)));
  stat(P("f").c_str(), &st);
  say("both_now", yn(labs(st.st_atim.tv_sec - now) < 60 && labs(st.st_mtim.tv_sec - now) < 60));
  struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
  struct stat c1, c2;
  stat(P("f").c_str(), &c1);
  say("both_omit", R(utimensat(AT_FDCWD, P("f").c_str(), omit, 0)));
  stat(P("f").c_str(), &c2);
  say("both_omit_ctime_unchanged", yn(ns(c1.st_ctim) == ns(c2.st_ctim)));
  int fd = open(P("f").c_str(), O_RDONLY);
  utimensat(AT_FDCWD, P("f").c_str(), past, 0);
  struct timespec t3[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  say("futimens_now", R(futimens(fd, t3)));
  stat(P("f").c_str(), &st);
  say("futimens_mtime_now", yn(labs(st.st_mtim.tv_sec - now) < 60) + " atime=" + std::to_string(st.st_atim.tv_sec));
  say("utimes_null", R(utimes(P("f").c_str(), nullptr)));
  say("utime_null", R(utime(P("f").c_str(), nullptr)));
}

CASE(utime, symlinks) {
  wfile(P("f"), "");
  symlink("f", P("l").c_str());
  struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
  utimensat(AT_FDCWD, P("f").c_str(), ts, 0);
  struct timespec tl[2] = {{1111111111, 0}, {1222222222, 0}};
  say("nofollow", R(utimensat(AT_FDCWD, P("l").c_str(), tl, AT_SYMLINK_NOFOLLOW)));
  say("link_times", times_of(P("l"), false));
  say("target_times", times_of(P("f")));
  say("follow", R(utimensat(AT_FDCWD, P("l").c_str(), tl, 0)));
  say("target_times_after", times_of(P("f")));
  struct timeval tv[2] = {{1333333333, 0}, {1444444444, 0}};
  say("lutimes", R(lutimes(P("l").c_str(), tv)));
  say("link_times_lutimes", times_of(P("l"), false));
}

// ===========================================================================
// truncate / ftruncate.

CASE(truncate, basic) {
  wfile(P("f"), "0123456789");
  say("truncate_shrink", R(truncate(P("f").c_str(), 4)));
  say("content", show(rfile(P("f"))));
  say("truncate_extend", R(truncate(P("f").c_str(), 8)));
  say("content_ext", show(rfile(P("f"))));
  say("stat", stat_of(P("f")));
  int fd = open(P("f").c_str(), O_RDWR);
  say("ftruncate", R(ftruncate(fd, 2)));
  say("fstat", fstat_of(fd));
  say("ftruncate_negative", R(ftruncate(fd, -1)));
  say("truncate_negative", R(truncate(P("f").c_str(), -1)));
  int ro = open(P("f").c_str(), O_RDONLY);
  say("ftruncate_rdonly", R(ftruncate(ro, 0)));
  mkd(P("d"));
  say("truncate_dir", R(truncate(P("d").c_str(), 0)));
  int dfd = open(P("d").c_str(), O_RDONLY | O_DIRECTORY);
  say("ftruncate_dir", R(ftruncate(dfd, 0)));
  say("truncate_missing", R(truncate(P("missing").c_str(), 0)));
  symlink("f", P("l").c_str());
  say("truncate_through_link", R(truncate(P("l").c_str(), 1)));
  say("stat_after_link", stat_of(P("f")));
  struct timespec past[2] = {{1000000000, 0}, {1000000000, 0}};
  utimensat(AT_FDCWD, P("f").c_str(), past, 0);
  truncate(P("f").c_str(), 100);
  struct stat st;
  stat(P("f").c_str(), &st);
  say("mtime_advanced", yn(st.st_mtim.tv_sec > 1000000000));
  say("truncate64", R(truncate64(P("f").c_str(), 5)));
  say("ftruncate64", R(ftruncate64(fd, 6)));
  say("size", stat_of(P("f")));
  int afd = open(P("f").c_str(), O_WRONLY | O_APPEND);
  say("ftruncate_append", R(ftruncate(afd, 1)));
  say("open_trunc", F(open(P("f").c_str(), O_WRONLY | O_TRUNC)));
  say("size_after_otrunc", stat_of(P("f")));
}

// ===========================================================================
// access / faccessat / euidaccess.

CASE(access, basic) {
  wfile(P("f"), "", 0644);
  wfile(P("x"), "", 0755);
  mkd(P("d"));
  say("f_ok", R(access(P("f").c_str(), F_OK)));
  say("rw_ok", R(access(P("f").c_str(), R_OK | W_OK)));
  say("x_ok_noexec", R(access(P("f").c_str(), X_OK)));
  say("x_ok_exec", R(access(P("x").c_str(), X_OK)));
  say("dir_x", R(access(P("d").c_str(), X_OK)));
  say("missing", R(access(P("missing").c_str(), F_OK)));
  say("through_file", R(access(P("f/x").c_str(), F_OK)));
  say("bad_mode", R(access(P("f").c_str(), 0100)));
  int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY);
  say("faccessat", R(faccessat(dfd, "f", R_OK, 0)));
  say("faccessat_eaccess", R(faccessat(dfd, "x", X_OK, AT_EACCESS)));
  say("faccessat_eaccess_noexec", R(faccessat(dfd, "f", X_OK, AT_EACCESS)));
  say("faccessat_bad_flag", R(faccessat(dfd, "f", F_OK, 0x1)));
  say("euidaccess", R(euidaccess(P("f").c_str(), R_OK | W_OK)));
  say("euidaccess_x", R(euidaccess(P("f").c_str(), X_OK)));
  say("eaccess", R(eaccess(P("x").c_str(), X_OK)));
  say("euidaccess_missing", R(euidaccess(P("missing").c_str(), F_OK)));
  symlink("missing", P("dl").c_str());
  say("dangling", R(access(P("dl").c_str(), F_OK)));
  say("dangling_nofollow", R(faccessat(dfd, "dl", F_OK, AT_SYMLINK_NOFOLLOW)));
}

// ===========================================================================
// statfs / statvfs: sanity only, figures differ by design.

template <class T>
std::string statfs_sane(const T& s) {
  std::vector<std::string> bad;
  if (!(s.f_bsize > 0)) bad.push_back("bsize");
  if (!(s.f_blocks >= s.f_bfree)) bad.push_back("blocks<bfree");
  if (!(s.f_bfree >= s.f_bavail)) bad.push_back("bfree<bavail");
  if (!(s.f_files >= s.f_ffree)) bad.push_back("files<ffree");
  return bad.empty() ? "sane" : "insane:" + join(bad, ",");
}

CASE(statfs, sanity) {
  wfile(P("f"), "");
  struct statfs sf;
  int rc = statfs(P("f").c_str(), &sf);
  say("statfs", R(rc) + " " + (rc == 0 ? statfs_sane(sf) + " namelen_ok=" + yn(sf.f_namelen >= 255) : ""));
  int fd = open(P("f").c_str(), O_RDONLY);
  rc = fstatfs(fd, &sf);
  say("fstatfs", R(rc) + " " + (rc == 0 ? statfs_sane(sf) : ""));
  struct statvfs sv;
  rc = statvfs(g_dir.c_str(), &sv);
  say("statvfs", R(rc) + " " + (rc == 0 ? statfs_sane(sv) + " namemax_ok=" + yn(sv.f_namemax >= 255) + " frsize_ok=" + yn(sv.f_frsize > 0) : ""));
  rc = fstatvfs(fd, &sv);
  say("fstatvfs", R(rc) + " " + (rc == 0 ? statfs_sane(sv) : ""));
  say("statfs_missing", R(statfs(P("missing").c_str(), &sf)));
  say("statvfs_missing", R(statvfs(P("missing").c_str(), &sv)));
  struct statfs64 sf64;
  say("statfs64", R(statfs64(g_dir.c_str(), &sf64)));
  say("rdonly_flag", yn(sv.f_flag & ST_RDONLY));
}

// ===========================================================================
// xattrs (user.*).

std::string xlist(ssize_t n, const char* buf) {
  if (n < 0) return "-1 " + ename(errno);
  std::vector<std::string> v;
  for (ssize_t i = 0; i < n;) {
    std::string s(buf + i);
    if (s.rfind("user.", 0) == 0) v.push_back(s);
    i += s.size() + 1;
  }
  std::sort(v.begin(), v.end());
  return "[" + join(v, ",") + "]";
}

CASE(xattr, path_calls) {
  wfile(P("f"), "");
  char buf[256] = {};
  say("get_unset", R(getxattr(P("f").c_str(), "user.a", buf, sizeof buf)));
  say("set", R(setxattr(P("f").c_str(), "user.a", "value", 5, 0)));
  { std::string r_ = R(getxattr(P("f").c_str(), "user.a", buf, sizeof buf)); say("get", r_ + " " + std::string(buf, 5)); }
  say("get_size", R(getxattr(P("f").c_str(), "user.a", nullptr, 0)));
  say("get_small", R(getxattr(P("f").c_str(), "user.a", buf, 2)));
  say("set_create_existing", R(setxattr(P("f").c_str(), "user.a", "v", 1, XATTR_CREATE)));
  say("set_replace_missing", R(setxattr(P("f").c_str(), "user.b", "v", 1, XATTR_REPLACE)));
  say("set_replace", R(setxattr(P("f").c_str(), "user.a", "vv", 2, XATTR_REPLACE)));
  { std::string r_ = R(getxattr(P("f").c_str(), "user.a", buf, sizeof buf)); say("get_replaced", r_ + " " + std::string(buf, 2)); }
  say("set_b", R(setxattr(P("f").c_str(), "user.b", "", 0, 0)));
  say("get_empty", R(getxattr(P("f").c_str(), "user.b", buf, sizeof buf)));
  char lbuf[1024];
  say("list", xlist(listxattr(P("f").c_str(), lbuf, sizeof lbuf), lbuf));
  ssize_t need = listxattr(P("f").c_str(), nullptr, 0);
  ssize_t have = listxattr(P("f").c_str(), lbuf, sizeof lbuf);
  say("list_size_matches", yn(need == have));
  say("list_small", R(listxattr(P("f").c_str(), lbuf, 1)));
  say("remove", R(removexattr(P("f").c_str(), "user.a")));
  say("get_removed", R(getxattr(P("f").c_str(), "user.a", buf, sizeof buf)));
  say("remove_missing", R(removexattr(P("f").c_str(), "user.a")));
  say("list_after", xlist(listxattr(P("f").c_str(), lbuf, sizeof lbuf), lbuf));
  say("set_bad_namespace", R(setxattr(P("f").c_str(), "bogus.a", "v", 1, 0)));
  say("get_bad_namespace", R(getxattr(P("f").c_str(), "bogus.a", buf, sizeof buf)));
  say("set_bad_flags", R(setxattr(P("f").c_str(), "user.c", "v", 1, 0x100)));
  say("set_missing_file", R(setxattr(P("missing").c_str(), "user.a", "v", 1, 0)));
  say("get_missing_file", R(getxattr(P("missing").c_str(), "user.a", buf, sizeof buf)));
  say("list_missing_file", R(listxattr(P("missing").c_str(), lbuf, sizeof lbuf)));
  std::string big(300, 'n');
  say("set_long_name", R(setxattr(P("f").c_str(), ("user." + big).c_str(), "v", 1, 0)));
  mkd(P("d"));
  say("set_dir", R(setxattr(P("d").c_str(), "user.d", "dv", 2, 0)));
  say("list_dir", xlist(listxattr(P("d").c_str(), lbuf, sizeof lbuf), lbuf));
  // Attributes travel with the inode: hard link and rename.
  link(P("f").c_str(), P("g").c_str());
  rename(P("g").c_str(), P("h").c_str());
  say("list_via_link", xlist(listxattr(P("h").c_str(), lbuf, sizeof lbuf), lbuf));
}

CASE(xattr, fd_and_link_calls) {
  wfile(P("f"), "");
  symlink("f", P("l").c_str());
  int fd = open(P("f").c_str(), O_RDONLY);
  char buf[64] = {};
  char lbuf[512];
  say("fset", R(fsetxattr(fd, "user.x", "fx", 2, 0)));
  { std::string r_ = R(fgetxattr(fd, "user.x", buf, sizeof buf)); say("fget", r_ + " " + buf); }
  say("get_via_path", R(getxattr(P("f").c_str(), "user.x", buf, sizeof buf)));
  say("get_via_link", R(getxattr(P("l").c_str(), "user.x", buf, sizeof buf)));
  say("lget_link", R(lgetxattr(P("l").c_str(), "user.x", buf, sizeof buf)));
  say("flist", xlist(flistxattr(fd, lbuf, sizeof lbuf), lbuf));
  say("llist_link", xlist(llistxattr(P("l").c_str(), lbuf, sizeof lbuf), lbuf));
  say("lset_link_user", R(lsetxattr(P("l").c_str(), "user.y", "v", 1, 0)));
  say("lset_file", R(lsetxattr(P("f").c_str(), "user.y", "ly", 2, 0)));
  say("lremove_file", R(lremovexattr(P("f").c_str(), "user.y")));
  say("fremove", R(fremovexattr(fd, "user.x")));
  say("fget_removed", R(fgetxattr(fd, "user.x", buf, sizeof buf)));
  say("fremove_missing", R(fremovexattr(fd, "user.x")));
  say("fget_badfd", R(fgetxattr(999, "user.x", buf, sizeof buf)));
  int wfd = open(P("f").c_str(), O_WRONLY);
  say("fset_wronly_fd", R(fsetxattr(wfd, "user.w", "w", 1, 0)));
  int pfd = open(P("f").c_str(), O_PATH);
  say("fget_opath", R(fgetxattr(pfd, "user.w", buf, sizeof buf)));
  say("fset_opath", R(fsetxattr(pfd, "user.p", "p", 1, 0)));
  say("list_final", xlist(listxattr(P("f").c_str(), lbuf, sizeof lbuf), lbuf));
  // Removed with the file: a new file of the same name has none.
  unlink(P("f").c_str());
  wfile(P("f"), "");
  say("list_new_file", xlist(listxattr(P("f").c_str(), lbuf, sizeof lbuf), lbuf));
  say("fget_unlinked_open", R(fgetxattr(fd, "user.w", buf, sizeof buf)));
}

// ===========================================================================
// rename family.

CASE(rename, files) {
  wfile(P("a"), "A");
  wfile(P("b"), "B");
  struct stat sa;
  stat(P("a").c_str(), &sa);
  say("rename_new", R(rename(P("a").c_str(), P("c").c_str())));
  say("old_gone", stat_of(P("a")));
  say("new_content", show(rfile(P("c"))));
  struct stat sc;
  stat(P("c").c_str(), &sc);
  say("inode_kept", yn(same_file(sa, sc)));
  say("replace_file", R(rename(P("c").c_str(), P("b").c_str())));
  say("replaced_content", show(rfile(P("b"))));
  say("listing", listing(g_dir));
  say("rename_missing", R(rename(P("missing").c_str(), P("x").c_str())));
  say("rename_to_missing_parent", R(rename(P("b").c_str(), P("no/x").c_str())));
  say("rename_self", R(rename(P("b").c_str(), P("b").c_str())));
  link(P("b").c_str(), P("b2").c_str());
  say("rename_hardlink_same_inode", R(rename(P("b").c_str(), P("b2").c_str())));
  say("both_remain", listing(g_dir));
  say("rename_through_file", R(rename(P("b/x").c_str(), P("y").c_str())));
  say("rename_trailing_slash_file", R(rename((P("b") + "/").c_str(), P("y").c_str())));
  int fd = open(P("b").c_str(), O_RDONLY);
  rename(P("b").c_str(), P("moved").c_str());
  say("open_fd_survives", show(fd_content(fd)));
  say("fstat_after_rename", fstat_of(fd));
}

CASE(rename, directories) {
  mkd(P("d1"));
  mkd(P("d1/sub"));
  wfile(P("d1/sub/f"), "deep");
  mkd(P("empty"));
  mkd(P("full"));
  wfile(P("full/x"), "");
  wfile(P("file"), "");
  say("dir_over_empty_dir", R(rename(P("d1").c_str(), P("empty").c_str())));
  say("moved_child", show(rfile(P("empty/sub/f"))));
  say("child_dotdot", same_path(P("empty/sub/.."), P("empty")));
  say("dir_over_nonempty", R(rename(P("empty").c_str(), P("full").c_str())));
  say("dir_over_file", R(rename(P("empty").c_str(), P("file").c_str())));
  say("file_over_dir", R(rename(P("file").c_str(), P("full").c_str())));
  say("dir_into_itself", R(rename(P("empty").c_str(), P("empty/sub/x").c_str())));
  say("dir_into_itself_direct", R(rename(P("empty").c_str(), P("empty/x").c_str())));
  say("dir_onto_own_child", R(rename(P("empty").c_str(), P("empty/sub").c_str())));
  say("child_onto_ancestor", R(rename(P("empty/sub").c_str(), P("empty").c_str())));
  say("rename_dot", R(rename((P("empty") + "/.").c_str(), P("z").c_str())));
  say("rename_dotdot", R(rename((P("empty/sub") + "/..").c_str(), P("z").c_str())));
  say("rename_to_dot", R(rename(P("file").c_str(), (P("full") + "/.").c_str())));
  say("dir_trailing_slash", R(rename((P("empty") + "/").c_str(), (P("e2") + "/").c_str())));
  say("listing", listing(g_dir));
  say("nlink_parent", stat_of(g_dir));
  mkd(P("e2/deeper"));
  say("move_dir_up", R(rename(P("e2/deeper").c_str(), P("deeper").c_str())));
  say("nlink_e2", stat_of(P("e2")));
  say("nlink_parent_after", stat_of(g_dir));
  int dfd = open(P("deeper").c_str(), O_RDONLY | O_DIRECTORY);
  rename(P("deeper").c_str(), P("renamed").c_str());
  say("open_dirfd_follows", F(openat(dfd, "..", O_RDONLY | O_DIRECTORY)));
  say("create_via_old_dirfd", F(openat(dfd, "n", O_WRONLY | O_CREAT, 0644)));
  say("seen_under_new_name", stat_of(P("renamed/n")));
}

CASE(rename, renameat_and_renameat2) {
  mkd(P("s"));
  mkd(P("t"));
  wfile(P("s/a"), "A");
  wfile(P("t/b"), "B");
  int s = open(P("s").c_str(), O_RDONLY | O_DIRECTORY);
  int t = open(P("t").c_str(), O_RDONLY | O_DIRECTORY);
  say("renameat", R(renameat(s, "a", t, "a")));
  say("listing_t", listing(P("t")));
  say("noreplace_existing", R(renameat2(t, "a", t, "b", RENAME_NOREPLACE)));
  say("noreplace_new", R(renameat2(t, "a", s, "a2", RENAME_NOREPLACE)));
  say("listing_s", listing(P("s")));
  say("exchange", R(renameat2(s, "a2", t, "b", RENAME_EXCHANGE)));
  say("content_s_a2", show(rfile(P("s/a2"))));
  say("content_t_b", show(rfile(P("t/b"))));
  say("exchange_missing", R(renameat2(s, "a2", t, "nothing", RENAME_EXCHANGE)));
  mkd(P("s/dir"));
  wfile(P("s/dir/inner"), "I");
  say("exchange_file_dir", R(renameat2(s, "a2", s, "dir", RENAME_EXCHANGE)));
  say("listing_s_after", listing(P("s")));
  say("content_swapped_dir", show(rfile(P("s/a2/inner"))));
  say("noreplace_exchange", R(renameat2(s, "a2", s, "dir", RENAME_NOREPLACE | RENAME_EXCHANGE)));
  say("bad_flags", R(renameat2(s, "a2", s, "q", 0x80)));
  say("exchange_into_own_child", R(renameat2(s, "a2", s, "a2/inner", RENAME_EXCHANGE)));
  say("renameat2_noflags", R(renameat2(s, "dir", s, "dir2", 0)));
  say("renameat_fdcwd", R(renameat(AT_FDCWD, P("s/dir2").c_str(), AT_FDCWD, P("t/dir3").c_str())));
  say("listing_final", listing(P("s")) + " | " + listing(P("t")));
  say("noreplace_dir_over_empty", [&] {
    mkd(P("t/e"));
    return R(renameat2(t, "dir3", t, "e", RENAME_NOREPLACE));
  }());
}

// ===========================================================================
// unlink, rmdir, mkdir.

CASE(namespace, unlink_rmdir_mkdir) {
  wfile(P("f"), "");
  mkd(P("d"));
  mkd(P("full"));
  wfile(P("full/x"), "");
  say("unlink_dir", R(unlink(P("d").c_str())));
  say("unlink_missing", R(unlink(P("missing").c_str())));
  say("unlink_through_file", R(unlink(P("f/x").c_str())));
  say("unlink_trailing_slash_file", R(unlink((P("f") + "/").c_str())));
  say("rmdir_file", R(rmdir(P("f").c_str())));
  say("rmdir_nonempty", R(rmdir(P("full").c_str())));
  say("rmdir_dot", R(rmdir((P("d") + "/.").c_str())));
  say("rmdir_dotdot", R(rmdir((P("full") + "/..").c_str())));
  say("rmdir_missing", R(rmdir(P("missing").c_str())));
  say("rmdir_trailing_slash", R(rmdir((P("d") + "/").c_str())));
  int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY);
  say("unlinkat_dir_noflag", R(unlinkat(dfd, "full", 0)));
  say("unlinkat_removedir_file", R(unlinkat(dfd, "f", AT_REMOVEDIR)));
  say("unlinkat_removedir_nonempty", R(unlinkat(dfd, "full", AT_REMOVEDIR)));
  say("unlinkat_file", R(unlinkat(dfd, "full/x", 0)));
  say("unlinkat_removedir", R(unlinkat(dfd, "full", AT_REMOVEDIR)));
  say("unlinkat_bad_flag", R(unlinkat(dfd, "f", 0x1)));
  say("mkdir_existing", R(mkdir(P("f").c_str(), 0755)));
  say("mkdir_missing_parent", R(mkdir(P("no/d").c_str(), 0755)));
  say("mkdir_through_file", R(mkdir(P("f/d").c_str(), 0755)));
  say("mkdir_trailing_slash", R(mkdir((P("n") + "/").c_str(), 0755)));
  say("mkdir_mode_0700", R(mkdir(P("m").c_str(), 0700)));
  say("stat_m", stat_of(P("m")));
  say("mkdir_mode_umask", R(mkdir(P("u").c_str(), 0777)));
  say("stat_u", stat_of(P("u")));
  say("mkdir_sticky", R(mkdir(P("st").c_str(), 01777)));
  say("stat_st", stat_of(P("st")));
  say("mkdirat", R(mkdirat(dfd, "at", 0750)));
  say("stat_at", stat_of(P("at")));
  say("mkdirat_existing", R(mkdirat(dfd, "at", 0750)));
  say("mkdir_long", R(mkdir(P(std::string(256, 'x')).c_str(), 0755)));
  say("mkdir_255", R(mkdir(P(std::string(255, 'x')).c_str(), 0755)));
  say("listing", listing(g_dir).size() > 0 ? "ok" : "empty");
  say("creat", F(creat(P("c").c_str(), 0600)));
  say("stat_c", stat_of(P("c")));
  umask(077);
  say("creat_umask077", F(creat(P("c2").c_str(), 0666)));
  say("stat_c2", stat_of(P("c2")));
  say("mkdir_umask077", R(mkdir(P("u2").c_str(), 0777)));
  say("stat_u2", stat_of(P("u2")));
  umask(022);
}

CASE(namespace, unlink_open_file) {
  wfile(P("f"), "still here");
  int fd = open(P("f").c_str(), O_RDWR);
  int ro = open(P("f").c_str(), O_RDONLY);
  say("unlink", R(unlink(P("f").c_str())));
  say("stat_path", stat_of(P("f")));
  say("fstat", fstat_of(fd));
  say("read", show(fd_content(ro)));
  say("pwrite", R(pwrite(fd, "!", 1, 10)));
  lseek(ro, 0, SEEK_SET);
  say("read_after_write", show(fd_content(ro)));
  void* m = mmap(nullptr, 11, PROT_READ, MAP_SHARED, ro, 0);
  say("mmap", m == MAP_FAILED ? "-1 " + ename(errno) : std::string(static_cast<char*>(m), 11));
  say("new_file_same_name", R(wfile(P("f"), "new") ? 0 : -1));
  lseek(ro, 0, SEEK_SET);
  say("old_fd_unchanged", show(fd_content(ro)));
  say("new_content", show(rfile(P("f"))));
  int d2 = dup(ro);
  close(ro);
  lseek(d2, 0, SEEK_SET);
  say("dup_of_unlinked", show(fd_content(d2)));
  pid_t pid = fork();
  if (pid == 0) {
    char buf[32] = {};
    pread(fd, buf, sizeof buf - 1, 0);
    _exit(strcmp(buf, "still here!") == 0 ? 0 : 1);
  }
  int st;
  waitpid(pid, &st, 0);
  say("child_reads_unlinked", yn(WIFEXITED(st) && WEXITSTATUS(st) == 0));
  say("listing", listing(g_dir));
}

// ===========================================================================
// open flags.

CASE(open, flags) {
  mkd(P("d"));
  wfile(P("f"), "abc");
  say("creat_excl_new", F(open(P("n").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600)));
  say("stat_n", stat_of(P("n")));
  say("creat_excl_existing", F(open(P("f").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600)));
  say("missing", F(open(P("missing").c_str(), O_RDONLY)));
  say("missing_parent_creat", F(open(P("no/f").c_str(), O_WRONLY | O_CREAT, 0644)));
  say("directory_on_file", F(open(P("f").c_str(), O_RDONLY | O_DIRECTORY)));
  say("dir_wronly", F(open(P("d").c_str(), O_WRONLY)));
  say("dir_rdwr", F(open(P("d").c_str(), O_RDWR)));
  say("dir_creat", F(open(P("d").c_str(), O_RDONLY | O_CREAT, 0644)));
  say("dir_rdonly", F(open(P("d").c_str(), O_RDONLY)));
  say("file_trailing_slash", F(open((P("f") + "/").c_str(), O_RDONLY)));
  say("creat_trailing_slash", F(open((P("x") + "/").c_str(), O_WRONLY | O_CREAT, 0644)));
  say("directory_creat", F(open(P("y").c_str(), O_RDONLY | O_DIRECTORY | O_CREAT, 0644)));
  int fd = open(P("f").c_str(), O_RDONLY);
  say("write_on_rdonly", R(write(fd, "x", 1)));
  int w = open(P("f").c_str(), O_WRONLY);
  char c;
  say("read_on_wronly", R(read(w, &c, 1)));
  int dfd = open(P("d").c_str(), O_RDONLY);
  say("read_on_dir", R(read(dfd, &c, 1)));
  int a = open(P("f").c_str(), O_WRONLY | O_APPEND);
  lseek(a, 0, SEEK_SET);
  write(a, "Z", 1);
  say("append_writes_at_end", show(rfile(P("f"))));
  say("append_offset", R(lseek(a, 0, SEEK_CUR)));
  say("creat_mode_umask", F(open(P("m").c_str(), O_WRONLY | O_CREAT, 0777)));
  say("stat_m", stat_of(P("m")));
  say("creat_existing_keeps_mode", F(open(P("m").c_str(), O_WRONLY | O_CREAT, 0600)));
  say("stat_m_after", stat_of(P("m")));
  say("open64", F(open64(P("f").c_str(), O_RDONLY)));
  say("openat64", F(openat64(AT_FDCWD, P("f").c_str(), O_RDONLY)));
  say("creat64", F(creat64(P("c64").c_str(), 0644)));
  int cl = open(P("f").c_str(), O_RDONLY | O_CLOEXEC);
  say("cloexec_flag", yn(fcntl(cl, F_GETFD) & FD_CLOEXEC));
  int tmp = open(g_dir.c_str(), O_RDWR | O_TMPFILE, 0600);
  say("tmpfile", F(tmp));
  if (tmp >= 0) {
    write(tmp, "tmp", 3);
    say("tmpfile_fstat", fstat_of(tmp));
    say("tmpfile_listing", listing(g_dir));
    char pth[64];
    snprintf(pth, sizeof pth, "/proc/self/fd/%d", tmp);
    say("tmpfile_linkat", R(linkat(AT_FDCWD, pth, AT_FDCWD, P("linked").c_str(), AT_SYMLINK_FOLLOW)));
    say("tmpfile_linked", show(rfile(P("linked"))));
  }
  say("path_fd_read", [&] { int p = open(P("f").c_str(), O_PATH); char b; return R(read(p, &b, 1)); }());
  say("bad_accmode", F(open(P("f").c_str(), O_ACCMODE)));
}

CASE(open, io) {
  int fd = open(P("f").c_str(), O_RDWR | O_CREAT, 0644);
  say("write", R(write(fd, "hello world", 11)));
  say("lseek_set", R(lseek(fd, 6, SEEK_SET)));
  char buf[32] = {};
  { std::string r_ = R(read(fd, buf, 5)); say("read", r_ + " " + buf); }
  { std::string r_ = R(pread(fd, buf, 5, 0)); say("pread", r_ + " " + std::string(buf, 5)); }
  say("offset_unchanged", R(lseek(fd, 0, SEEK_CUR)));
  struct iovec iov[2] = {{const_cast<char*>("ab"), 2}, {const_cast<char*>("cd"), 2}};
  say("pwritev", R(pwritev(fd, iov, 2, 0)));
  char b1[3] = {}, b2[3] = {};
  struct iovec riov[2] = {{b1, 2}, {b2, 2}};
  { std::string r_ = R(preadv(fd, riov, 2, 0)); say("preadv", r_ + " " + b1 + "|" + b2); }
  lseek(fd, 0, SEEK_END);
  say("writev", R(writev(fd, iov, 2)));
  say("content", show(rfile(P("f"))));
  say("lseek_end", R(lseek(fd, 0, SEEK_END)));
  say("lseek_cur_back", R(lseek(fd, -3, SEEK_CUR)));
  say("lseek_negative", R(lseek(fd, -100, SEEK_SET)));
  say("lseek_bad_whence", R(lseek(fd, 0, 42)));
  say("lseek_past_end", R(lseek(fd, 100, SEEK_SET)));
  say("write_past_end", R(write(fd, "E", 1)));
  say("size_with_hole", stat_of(P("f")));
  char h[4];
  { std::string r_ = R(pread(fd, h, 4, 50)); say("hole_reads_zero", r_ + " " + yn(h[0] == 0 && h[3] == 0)); }
  say("seek_data", R(lseek(fd, 0, SEEK_DATA)));
  say("seek_hole_past_end", R(lseek(fd, 200, SEEK_HOLE)));
  say("seek_data_past_end", R(lseek(fd, 200, SEEK_DATA)));
  say("lseek64", R(lseek64(fd, 1, SEEK_SET)));
  int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY);
  say("lseek_dir", R(lseek(dfd, 0, SEEK_SET)));
  say("write_badfd", R(write(999, "x", 1)));
  say("pread_negative", R(pread(fd, buf, 1, -1)));
  say("mmap_shared_write", [&] {
    void* m = mmap(nullptr, 5, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return "-1 " + ename(errno);
    memcpy(m, "MMAP!", 5);
    msync(m, 5, MS_SYNC);
    munmap(m, 5);
    return show(rfile(P("f")).substr(0, 5));
  }());
  int rfd = open(P("f").c_str(), O_RDONLY);
  say("mmap_write_on_rdonly", mmap(nullptr, 5, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0) == MAP_FAILED ? "-1 " + ename(errno) : "ok");
  say("flock", R(flock(fd, LOCK_EX)));
  say("flock_other_open", R(flock(rfd, LOCK_EX | LOCK_NB)));
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_len = 1;
  int rw = open(P("f").c_str(), O_RDWR);
  say("fcntl_setlk", R(fcntl(rw, F_SETLK, &fl)));
  say("lockf", R(lockf(rw, F_TLOCK, 0)));
}

// ===========================================================================
// directories.

void make_tree() {
  mkd(P("t"));
  mkd(P("t/sub"));
  wfile(P("t/f"), "f");
  wfile(P("t/.hidden"), "h");
  symlink("f", P("t/l").c_str());
  wfile(P("t/sub/g"), "g");
  mkd(P("t/sub/deep"));
  wfile(P("t/sub/deep/h"), "h");
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
CASE(dir, readdir_variants) {
  make_tree();
  say("readdir", listing(P("t")));
  DIR* d = opendir(P("t").c_str());
  std::vector<std::string> v;
  while (struct dirent64* e = readdir64(d)) v.push_back(std::string(e->d_name) + ":" + dtype_name(e->d_type));
  std::sort(v.begin(), v.end());
  say("readdir64", join(v));
  rewinddir(d);
  v.clear();
  struct dirent ent, *res;
  int rc;
  while ((rc = readdir_r(d, &ent, &res)) == 0 && res) v.push_back(ent.d_name);
  std::sort(v.begin(), v.end());
  say("readdir_r", RE(rc) + " " + join(v));
  rewinddir(d);
  v.clear();
  struct dirent64 ent64, *res64;
  while ((rc = readdir64_r(d, &ent64, &res64)) == 0 && res64) v.push_back(ent64.d_name);
  say("readdir64_r_count", RE(rc) + " " + std::to_string(v.size()));
  struct stat a, b;
  int frc = fstat(dirfd(d), &a);
  say("dirfd_fstat", R(frc) + " " + std::string(type_name(a.st_mode)));
  stat(P("t").c_str(), &b);
  say("dirfd_same", yn(same_file(a, b)));
  say("closedir", R(closedir(d)));
  // ino in entries matches stat.
  d = opendir(P("t").c_str());
  bool inos = true;
  while (struct dirent* e = readdir(d)) {
    if (strcmp(e->d_name, "..") == 0) continue;
    struct stat s;
    if (fstatat(dirfd(d), e->d_name, &s, AT_SYMLINK_NOFOLLOW) != 0 || s.st_ino != e->d_ino) inos = false;
  }
  closedir(d);
  say("d_ino_matches_stat", yn(inos));
  say("opendir_file", opendir(P("t/f").c_str()) ? "ok" : "-1 " + ename(errno));
  say("opendir_missing", opendir(P("missing").c_str()) ? "ok" : "-1 " + ename(errno));
  say("opendir_link_to_dir", [&] { symlink("t", P("lt").c_str()); return listing(P("lt")); }());
  say("empty_dir", [&] { mkd(P("e")); return listing(P("e")); }());
}

#pragma GCC diagnostic pop

CASE(dir, seek_tell_rewind) {
  mkd(P("t"));
  for (int i = 0; i < 50; i++) wfile(P("t/f" + std::to_string(i)), "");
  DIR* d = opendir(P("t").c_str());
  int n = 0;
  while (readdir(d)) n++;
  say("count", std::to_string(n));
  say("end_again_null", yn(readdir(d) == nullptr));
  rewinddir(d);
  n = 0;
  while (readdir(d)) n++;
  say("count_after_rewind", std::to_string(n));
  rewinddir(d);
  for (int i = 0; i < 10; i++) readdir(d);
  long pos = telldir(d);
  say("telldir", pos >= 0 ? "ok" : "-1 " + ename(errno));
  std::string next = readdir(d)->d_name;
  for (int i = 0; i < 5; i++) readdir(d);
  seekdir(d, pos);
  struct dirent* e = readdir(d);
  say("seekdir_returns_same", yn(e && next == e->d_name));
  rewinddir(d);
  long p0 = telldir(d);
  readdir(d);
  seekdir(d, p0);
  std::set<std::string> seen;
  int dup = 0;
  while ((e = readdir(d))) if (!seen.insert(e->d_name).second) dup++;
  say("seek_start_all", std::to_string(seen.size()) + " dups=" + std::to_string(dup));
  // A new entry after rewinddir is seen.
  wfile(P("t/late"), "");
  rewinddir(d);
  bool late = false;
  while ((e = readdir(d))) if (strcmp(e->d_name, "late") == 0) late = true;
  say("rewind_sees_new", yn(late));
  closedir(d);
}

CASE(dir, fdopendir) {
  make_tree();
  int fd = open(P("t").c_str(), O_RDONLY | O_DIRECTORY);
  DIR* d = fdopendir(fd);
  say("fdopendir", d ? "ok" : "-1 " + ename(errno));
  if (!d) return;
  say("dirfd_is_fd", yn(dirfd(d) == fd));
  std::vector<std::string> v;
  while (struct dirent* e = readdir(d)) v.push_back(std::string(e->d_name) + ":" + dtype_name(e->d_type));
  std::sort(v.begin(), v.end());
  say("list", join(v));
  closedir(d);
  say("fd_closed_by_closedir", R(fcntl(fd, F_GETFD)));
  int ffd = open(P("t/f").c_str(), O_RDONLY);
  errno = 0;
  say("fdopendir_file", fdopendir(ffd) ? "ok" : "-1 " + ename(errno));
  say("fdopendir_badfd", fdopendir(999) ? "ok" : "-1 " + ename(errno));
  int pfd = open(P("t").c_str(), O_PATH | O_DIRECTORY);
  DIR* pd = fdopendir(pfd);
  say("fdopendir_opath", pd ? (readdir(pd) ? "readable" : "-1 " + ename(errno)) : "-1 " + ename(errno));
  // Reading an fd that was read partly: fdopendir after lseek 0.
  int fd2 = open(P("t").c_str(), O_RDONLY | O_DIRECTORY);
  int fd3 = dup(fd2);
  DIR* d2 = fdopendir(fd2);
  int n = 0;
  while (readdir(d2)) n++;
  lseek(fd3, 0, SEEK_SET);
  DIR* d3 = fdopendir(fd3);
  int m = 0;
  while (d3 && readdir(d3)) m++;
  say("dup_fdopendir_after_lseek", std::to_string(n) + " " + std::to_string(m));
  // openat on dirfd(d).
  DIR* d4 = opendir(P("t").c_str());
  say("openat_dirfd_of_DIR", show(fd_content(openat(dirfd(d4), "sub/g", O_RDONLY))));
}

CASE(dir, scandir) {
  make_tree();
  struct dirent** list;
  int n = scandir(P("t").c_str(), &list, nullptr, alphasort);
  std::vector<std::string> v;
  for (int i = 0; i < n; i++) {
    v.push_back(std::string(list[i]->d_name) + ":" + dtype_name(list[i]->d_type));
    free(list[i]);
  }
  if (n >= 0) free(list);
  say("scandir", R(n) + " " + join(v));
  n = scandir(P("t").c_str(), &list, [](const struct dirent* e) -> int { return e->d_name[0] != '.'; }, alphasort);
  v.clear();
  for (int i = 0; i < n; i++) { v.push_back(list[i]->d_name); free(list[i]); }
  if (n >= 0) free(list);
  say("scandir_filter", R(n) + " " + join(v));
  int dfd = open(P("t").c_str(), O_RDONLY | O_DIRECTORY);
  n = scandirat(dfd, "sub", &list, nullptr, alphasort);
  v.clear();
  for (int i = 0; i < n; i++) { v.push_back(list[i]->d_name); free(list[i]); }
  if (n >= 0) free(list);
  say("scandirat", R(n) + " " + join(v));
  struct dirent64** l64;
  n = scandir64(P("t/sub").c_str(), &l64, nullptr, alphasort64);
  for (int i = 0; i < n; i++) free(l64[i]);
  if (n >= 0) free(l64);
  say("scandir64", R(n));
  say("scandir_missing", R(scandir(P("missing").c_str(), &list, nullptr, alphasort)));
  say("scandir_file", R(scandir(P("t/f").c_str(), &list, nullptr, alphasort)));
  chdir(P("t").c_str());
  n = scandirat(AT_FDCWD, "sub", &list, nullptr, alphasort);
  for (int i = 0; i < n; i++) free(list[i]);
  if (n >= 0) free(list);
  say("scandirat_fdcwd", R(n));
}

std::string glob_str(const std::string& pat, int flags) {
  glob_t g;
  int rc = glob(pat.c_str(), flags, nullptr, &g);
  std::string s;
  if (rc == 0) {
    std::vector<std::string> v;
    for (size_t i = 0; i < g.gl_pathc; i++) v.push_back(rel(g.gl_pathv[i]));
    s = join(v);
    globfree(&g);
  }
  const char* names[] = {"0", "GLOB_NOSPACE", "GLOB_ABORTED", "GLOB_NOMATCH"};
  return std::string(rc >= 0 && rc <= 3 ? names[rc] : "?") + " " + s;
}

CASE(dir, glob) {
  make_tree();
  wfile(P("t/a.txt"), "");
  wfile(P("t/b.txt"), "");
  wfile(P("t/sub/c.txt"), "");
  std::string t = g_abs + "/t";
  say("star_txt", glob_str(t + "/*.txt", 0));
  say("star", glob_str(t + "/*", 0));
  say("mark", glob_str(t + "/*", GLOB_MARK));
  say("period", glob_str(t + "/*", GLOB_PERIOD));
  say("nested", glob_str(t + "/*/*.txt", 0));
  say("onlydir", glob_str(t + "/*", GLOB_ONLYDIR | GLOB_MARK));
  say("brace", glob_str(t + "/{a,b}.txt", GLOB_BRACE));
  say("nomatch", glob_str(t + "/*.none", 0));
  say("nocheck", glob_str(t + "/*.none", GLOB_NOCHECK));
  say("question", glob_str(t + "/?.txt", 0));
  say("range", glob_str(t + "/[ab].txt", 0));
  say("missing_dir", glob_str(g_abs + "/nope/*", 0));
  say("err_missing_dir", glob_str(g_abs + "/nope/*", GLOB_ERR));
  say("literal_existing", glob_str(t + "/f", 0));
  say("tilde_not_expanded", glob_str(t + "/~", 0));
  chdir(t.c_str());
  say("relative", glob_str("*.txt", 0));
  say("relative_nested", glob_str("s*/*", GLOB_MARK));
  say("dot_slash", glob_str("./?", 0));
}

std::vector<std::string> g_walk;
const char* ftw_flag(int f) {
  switch (f) {
    case FTW_F: return "F";
    case FTW_D: return "D";
    case FTW_DNR: return "DNR";
    case FTW_NS: return "NS";
    case FTW_SL: return "SL";
    case FTW_DP: return "DP";
    case FTW_SLN: return "SLN";
  }
  return "?";
}

CASE(dir, ftw_nftw) {
  make_tree();
  symlink("nowhere", P("t/dangling").c_str());
  std::string t = g_abs + "/t";
  g_walk.clear();
  int rc = ftw(t.c_str(), [](const char* p, const struct stat* st, int flag) {
    g_walk.push_back(rel(p) + ":" + ftw_flag(flag) + ":" + type_name(st->st_mode));
    return 0;
  }, 8);
  std::sort(g_walk.begin(), g_walk.end());
  say("ftw", R(rc) + " " + join(g_walk));
  g_walk.clear();
  rc = nftw(t.c_str(), [](const char* p, const struct stat*, int flag, struct FTW* f) {
    g_walk.push_back(rel(p) + ":" + ftw_flag(flag) + ":" + std::to_string(f->level) + ":" + (p + f->base));
    return 0;
  }, 8, FTW_PHYS);
  std::sort(g_walk.begin(), g_walk.end());
  say("nftw_phys", R(rc) + " " + join(g_walk));
  g_walk.clear();
  // FTW_DEPTH order matters: children before parents.
  rc = nftw(t.c_str(), [](const char* p, const struct stat*, int flag, struct FTW*) {
    g_walk.push_back(rel(p) + ":" + ftw_flag(flag));
    return 0;
  }, 8, FTW_PHYS | FTW_DEPTH);
  bool order = true;
  for (size_t i = 0; i < g_walk.size(); i++)
    for (size_t j = i + 1; j < g_walk.size(); j++) {
      std::string a = g_walk[i].substr(0, g_walk[i].rfind(':'));
      std::string b = g_walk[j].substr(0, g_walk[j].rfind(':'));
      if (a.rfind(b + "/", 0) != 0 && b.rfind(a + "/", 0) == 0) order = false;  // parent before child
    }
  std::sort(g_walk.begin(), g_walk.end());
  say("nftw_depth", R(rc) + " children_first=" + yn(order) + " " + join(g_walk));
  g_walk.clear();
  chdir("/");
  rc = nftw(t.c_str(), [](const char* p, const struct stat*, int flag, struct FTW* f) {
    char buf[PATH_MAX];
    std::string c = getcwd(buf, sizeof buf) ? rel(buf) : "?";
    g_walk.push_back(std::string(p + f->base) + ":" + ftw_flag(flag) + "@" + c);
    return 0;
  }, 8, FTW_PHYS | FTW_CHDIR);
  std::sort(g_walk.begin(), g_walk.end());
  say("nftw_chdir", R(rc) + " " + join(g_walk));
  say("nftw_missing", R(nftw((g_abs + "/missing").c_str(), [](const char*, const struct stat*, int, struct FTW*) { return 0; }, 8, 0)));
  g_walk.clear();
  rc = nftw(t.c_str(), [](const char* p, const struct stat*, int flag, struct FTW*) {
    g_walk.push_back(rel(p) + ":" + ftw_flag(flag));
    return 0;
  }, 8, 0);
  std::sort(g_walk.begin(), g_walk.end());
  say("nftw_follow", R(rc) + " " + join(g_walk));
}

int fts_cmp(const FTSENT** a, const FTSENT** b) { return strcmp((*a)->fts_name, (*b)->fts_name); }
const char* fts_info(int i) {
  switch (i) {
    case FTS_D: return "D";
    case FTS_DC: return "DC";
    case FTS_DEFAULT: return "DEFAULT";
    case FTS_DNR: return "DNR";
    case FTS_DOT: return "DOT";
    case FTS_DP: return "DP";
    case FTS_ERR: return "ERR";
    case FTS_F: return "F";
    case FTS_NS: return "NS";
    case FTS_NSOK: return "NSOK";
    case FTS_SL: return "SL";
    case FTS_SLNONE: return "SLNONE";
  }
  return "?";
}

CASE(dir, fts) {
  make_tree();
  std::string t = g_abs + "/t";
  auto walk = [&](int opts) {
    char* argv[] = {const_cast<char*>(t.c_str()), nullptr};
    FTS* f = fts_open(argv, opts, fts_cmp);
    if (!f) return "fts_open -1 " + ename(errno);
    std::vector<std::string> v;
    while (FTSENT* e = fts_read(f))
      v.push_back(rel(e->fts_path) + ":" + fts_info(e->fts_info) + ":" + std::to_string(e->fts_level) +
                  (e->fts_errno ? ":" + ename(e->fts_errno) : ""));
    int err = errno;
    fts_close(f);
    return join(v) + " (errno " + (err ? ename(err) : "0") + ")";
  };
  say("physical", walk(FTS_PHYSICAL));
  say("logical", walk(FTS_LOGICAL));
  say("physical_nochdir", walk(FTS_PHYSICAL | FTS_NOCHDIR));
  say("physical_seedot", walk(FTS_PHYSICAL | FTS_SEEDOT));
  // fts_children and fts_set skip.
  char* argv[] = {const_cast<char*>(t.c_str()), nullptr};
  FTS* f = fts_open(argv, FTS_PHYSICAL, fts_cmp);
  std::vector<std::string> v;
  while (FTSENT* e = fts_read(f)) {
    if (e->fts_info == FTS_D && e->fts_level == 0) {
      std::vector<std::string> kids;
      for (FTSENT* c = fts_children(f, FTS_NAMEONLY); c; c = c->fts_link) kids.push_back(c->fts_name);
      say("children", join(kids));
    }
    if (e->fts_info == FTS_D && strcmp(e->fts_name, "sub") == 0) fts_set(f, e, FTS_SKIP);
    v.push_back(e->fts_name);
  }
  fts_close(f);
  say("skip_sub", join(v));
  chdir(g_abs.c_str());
  char* rargv[] = {const_cast<char*>("t"), nullptr};
  f = fts_open(rargv, FTS_PHYSICAL, fts_cmp);
  v.clear();
  while (FTSENT* e = fts_read(f)) v.push_back(std::string(e->fts_path) + ":" + fts_info(e->fts_info));
  fts_close(f);
  say("relative", join(v));
  say("cwd_after", cwd());
}

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// getdents64 through glibc's wrapper (what opendir-free programs call).
std::string getdents_list(int fd, size_t bufsize, bool raw, int* calls) {
  std::vector<std::string> v;
  std::vector<char> buf(bufsize);
  long n;
  *calls = 0;
  while ((n = raw ? syscall(SYS_getdents64, fd, buf.data(), buf.size()) : getdents64(fd, buf.data(), buf.size())) > 0) {
    ++*calls;
    for (long off = 0; off < n;) {
      auto* e = reinterpret_cast<linux_dirent64*>(buf.data() + off);
      v.push_back(std::string(e->d_name) + ":" + dtype_name(e->d_type));
      off += e->d_reclen;
    }
  }
  std::string r = R(n);
  std::sort(v.begin(), v.end());
  return r + " " + join(v);
}

CASE(dir, getdents64) {
  make_tree();
  int fd = open(P("t").c_str(), O_RDONLY | O_DIRECTORY);
  int calls;
  say("small_buffer", getdents_list(fd, 256, false, &calls));
  char buf[4096];
  say("eof_again", R(getdents64(fd, buf, sizeof buf)));
  lseek(fd, 0, SEEK_SET);
  say("after_rewind", getdents_list(fd, 4096, false, &calls) + " calls=" + std::to_string(calls));
  lseek(fd, 0, SEEK_SET);
  say("tiny_buffer", R(getdents64(fd, buf, 8)));
  int ffd = open(P("t/f").c_str(), O_RDONLY);
  say("on_file", R(getdents64(ffd, buf, sizeof buf)));
  say("bad_fd", R(getdents64(999, buf, sizeof buf)));
  DIR* d = opendir(P("t/sub").c_str());
  say("on_dirfd_of_DIR", getdents_list(dirfd(d), 4096, false, &calls));
}

// The same through syscall(2), which a preloaded library sees only if it
// interposes syscall() itself: kept apart so the cause is plain.
CASE(rawsyscall, getdents64) {
  make_tree();
  int fd = open(P("t").c_str(), O_RDONLY | O_DIRECTORY);
  int calls;
  say("list", getdents_list(fd, 256, true, &calls));
  char buf[256];
  say("on_file", R(syscall(SYS_getdents64, open(P("t/f").c_str(), O_RDONLY), buf, sizeof buf)));
}

CASE(rawsyscall, faccessat2_utimensat) {
  wfile(P("x"), "", 0755);
  int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY);
  say("faccessat2", R(syscall(SYS_faccessat2, dfd, "x", X_OK, AT_EACCESS)));
  int fd = open(P("x").c_str(), O_RDONLY);
  struct timespec ts[2] = {{1000000001, 123456789}, {1100000000, 987654321}};
  say("utimensat_null_path_fd", R(syscall(SYS_utimensat, fd, nullptr, ts, 0)));
  say("times", times_of(P("x")));
  struct stat st = {};
  std::string r_ = R(syscall(SYS_newfstatat, dfd, "x", &st, 0));
  say("newfstatat", r_ + " " + S(st));
}

CASE(dir, stable_under_concurrent_changes) {
  mkd(P("t"));
  for (int i = 0; i < 300; i++) wfile(P("t/keep" + std::to_string(i)), "");
  for (int i = 0; i < 100; i++) wfile(P("t/gone" + std::to_string(i)), "");
  DIR* d = opendir(P("t").c_str());
  std::vector<std::string> seen;
  for (int i = 0; i < 100; i++) {
    struct dirent* e = readdir(d);
    if (!e) break;
    seen.push_back(e->d_name);
  }
  // Another process changes the dir while we are in the middle.
  pid_t pid = fork();
  if (pid == 0) {
    for (int i = 0; i < 100; i++) unlink(P("t/gone" + std::to_string(i)).c_str());
    for (int i = 0; i < 100; i++) wfile(P("t/new" + std::to_string(i)), "");
    _exit(0);
  }
  waitpid(pid, nullptr, 0);
  while (struct dirent* e = readdir(d)) seen.push_back(e->d_name);
  closedir(d);
  std::set<std::string> uniq(seen.begin(), seen.end());
  int keep = 0;
  for (int i = 0; i < 300; i++) keep += uniq.count("keep" + std::to_string(i));
  say("no_duplicates", yn(uniq.size() == seen.size()));
  say("all_kept_seen", std::to_string(keep) + "/300");
  say("dot_and_dotdot", yn(uniq.count(".") && uniq.count("..")));
  say("only_known_names", yn(std::all_of(uniq.begin(), uniq.end(), [](const std::string& s) {
        return s == "." || s == ".." || s.rfind("keep", 0) == 0 || s.rfind("gone", 0) == 0 || s.rfind("new", 0) == 0;
      })));
  say("final_count", std::to_string([&] { int c = 0; DIR* x = opendir(P("t").c_str()); while (readdir(x)) c++; closedir(x); return c; }()));
  // Unlinking every entry while reading (rm -r style) must not skip any.
  mkd(P("r"));
  for (int i = 0; i < 200; i++) wfile(P("r/x" + std::to_string(i)), "");
  d = opendir(P("r").c_str());
  int removed = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0) removed++;
  }
  closedir(d);
  say("unlink_while_reading", std::to_string(removed) + " left=" + listing(P("r")));
}

// ===========================================================================
// stdio: fopen modes, fopen64, freopen, fdopen.

CASE(stdio, fopen_modes) {
  FILE* f = fopen(P("f").c_str(), "w");
  say("w", f ? "ok" : "-1 " + ename(errno));
  fputs("line1\n", f);
  fclose(f);
  f = fopen(P("f").c_str(), "a");
  fputs("line2\n", f);
  fclose(f);
  say("after_a", show(rfile(P("f"))));
  f = fopen(P("f").c_str(), "r");
  char buf[64] = {};
  say("r", f ? show(fgets(buf, sizeof buf, f)) : "-1 " + ename(errno));
  say("r_write_fails", f ? R(fputs("x", f) == EOF ? -1 : 0) : "");
  if (f) fclose(f);
  f = fopen(P("f").c_str(), "r+");
  fseek(f, 0, SEEK_SET);
  fputs("LINE", f);
  fclose(f);
  say("after_rplus", show(rfile(P("f"))));
  f = fopen(P("f").c_str(), "a+");
  fputs("line3\n", f);
  fseek(f, 0, SEEK_SET);
  say("aplus_reads_from_start", fgets(buf, sizeof buf, f) ? show(buf) : "EOF");
  fclose(f);
  f = fopen(P("f").c_str(), "w+");
  fputs("fresh", f);
  rewind(f);
  say("wplus", fgets(buf, sizeof buf, f) ? show(buf) : "EOF");
  fclose(f);
  say("x_existing", fopen(P("f").c_str(), "wx") ? "ok" : "-1 " + ename(errno));
  f = fopen(P("x").c_str(), "wx");
  say("x_new", f ? "ok" : "-1 " + ename(errno));
  if (f) fclose(f);
  f = fopen(P("f").c_str(), "re");
  say("e_cloexec", f ? yn(fcntl(fileno(f), F_GETFD) & FD_CLOEXEC) : "-1 " + ename(errno));
  if (f) fclose(f);
  f = fopen(P("f").c_str(), "r");
  say("no_e_no_cloexec", f ? yn(fcntl(fileno(f), F_GETFD) & FD_CLOEXEC) : "-1 " + ename(errno));
  say("fileno_fstat", f ? fstat_of(fileno(f)) : "");
  if (f) fclose(f);
  say("r_missing", fopen(P("missing").c_str(), "r") ? "ok" : "-1 " + ename(errno));
  say("w_missing_parent", fopen(P("no/f").c_str(), "w") ? "ok" : "-1 " + ename(errno));
  mkd(P("d"));
  say("w_dir", fopen(P("d").c_str(), "w") ? "ok" : "-1 " + ename(errno));
  f = fopen(P("d").c_str(), "r");
  say("r_dir", f ? "ok" : "-1 " + ename(errno));
  if (f) {
    errno = 0;
    size_t n = fread(buf, 1, 1, f);
    say("fread_dir", std::to_string(n) + " " + (errno ? ename(errno) : "0"));
    fclose(f);
  }
  say("bad_mode", fopen(P("f").c_str(), "z") ? "ok" : "-1 " + ename(errno));
  f = fopen64(P("f64").c_str(), "w+");
  say("fopen64", f ? "ok" : "-1 " + ename(errno));
  if (f) {
    fputs("64", f);
    fflush(f);
    say("fopen64_stat", stat_of(P("f64")));
    fclose(f);
  }
  f = fopen(P("m").c_str(), "w");
  if (f) fclose(f);
  say("mode_of_fopen_w", stat_of(P("m")));
}

CASE(stdio, freopen_fdopen) {
  wfile(P("a"), "AAA");
  wfile(P("b"), "BBB");
  FILE* f = fopen(P("a").c_str(), "r");
  char buf[16] = {};
  f = freopen(P("b").c_str(), "r", f);
  say("freopen", f ? (fgets(buf, sizeof buf, f) ? std::string(buf) : "EOF") : "-1 " + ename(errno));
  f = freopen(P("c").c_str(), "w", f);
  say("freopen_w", f ? "ok" : "-1 " + ename(errno));
  if (f) {
    fputs("CCC", f);
    fclose(f);
  }
  say("c", show(rfile(P("c"))));
  f = fopen(P("a").c_str(), "r");
  f = freopen(P("missing").c_str(), "r", f);
  say("freopen_missing", f ? "ok" : "-1 " + ename(errno));
  f = fopen(P("a").c_str(), "r");
  f = freopen(nullptr, "r", f);
  say("freopen_null_path", f ? (fgets(buf, sizeof buf, f) ? std::string(buf) : "EOF") : "-1 " + ename(errno));
  if (f) fclose(f);
  f = freopen64(P("b").c_str(), "r", fopen(P("a").c_str(), "r"));
  say("freopen64", f ? (fgets(buf, sizeof buf, f) ? std::string(buf) : "EOF") : "-1 " + ename(errno));
  // stdout redirected into the mount, as a program would do.
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(P("out").c_str(), "w", stdout)) _exit(1);
    printf("to stdout\n");
    fflush(stdout);
    _exit(0);
  }
  waitpid(pid, nullptr, 0);
  say("freopen_stdout", show(rfile(P("out"))));
  int fd = open(P("a").c_str(), O_RDWR);
  f = fdopen(fd, "r+");
  say("fdopen", f ? (fgets(buf, sizeof buf, f) ? std::string(buf) : "EOF") : "-1 " + ename(errno));
  if (f) fclose(f);
  int ro = open(P("a").c_str(), O_RDONLY);
  say("fdopen_mode_mismatch", fdopen(ro, "w") ? "ok" : "-1 " + ename(errno));
  f = fopen(P("a").c_str(), "r");
  struct stat st;
  fstat(fileno(f), &st);
  say("fileno_stat", S(st));
  { std::string r_ = std::to_string(fseek(f, 0, SEEK_END)); say("ftell_fseek", r_ + " " + std::to_string(ftell(f))); }
  fclose(f);
  char* line = nullptr;
  size_t cap = 0;
  wfile(P("lines"), "x\nyy\nzzz\n");
  f = fopen(P("lines").c_str(), "r");
  std::vector<std::string> ls;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) ls.push_back(std::to_string(n));
  free(line);
  fclose(f);
  say("getline", join(ls));
}

// ===========================================================================
// The _FORTIFY_SOURCE entry points. Built twice: the fortified binary turns
// these into __open_2, __openat_2, __readlink_chk, __realpath_chk,
// __getcwd_chk, __read_chk, __pread_chk, __readlinkat_chk.

volatile int g_flags_rdonly = O_RDONLY;
volatile int g_flags_dir = O_RDONLY | O_DIRECTORY;

CASE(fortify, entry_points) {
  // Sizes the compiler cannot see through, so the fortified build calls the
  // checking variants instead of proving the call safe.
  volatile size_t vsz = 32, vlsz = 16, vpath = PATH_MAX, vsmall = 4;
  wfile(P("f"), "fortified");
  mkd(P("sub"));
  symlink("f", P("l").c_str());
  int flags = g_flags_rdonly;
  int fd = open(P("f").c_str(), flags);  // __open_2 when fortified
  say("open_2", F(fd));
  char buf[32] = {};
  { std::string r_ = R(read(fd, buf, vsz)); say("read_chk", r_ + " " + buf); }
  memset(buf, 0, sizeof buf);
  { std::string r_ = R(pread(fd, buf, vsz, 1)); say("pread_chk", r_ + " " + buf); }
  say("open64_2", F(open64(P("f").c_str(), flags)));
  int dflags = g_flags_dir;
  int dfd = open(g_dir.c_str(), dflags);
  say("openat_2", F(openat(dfd, "f", flags)));
  say("openat64_2", F(openat64(dfd, "sub", dflags)));
  char lb[16] = {};
  { std::string r_ = R(readlink(P("l").c_str(), lb, vlsz)); say("readlink_chk", r_ + " " + lb); }
  memset(lb, 0, sizeof lb);
  { std::string r_ = R(readlinkat(dfd, "l", lb, vlsz)); say("readlinkat_chk", r_ + " " + lb); }
  char rp[PATH_MAX];
  char* r = realpath(P("l").c_str(), rp);
  say("realpath_chk", r ? rel(r) : "-1 " + ename(errno));
  chdir(P("sub").c_str());
  char cw[PATH_MAX];
  char* c = getcwd(cw, vpath);
  say("getcwd_chk", c ? rel(c) : "-1 " + ename(errno));
  say("open_2_relative", F(open("../f", flags)));
  say("open_2_missing", F(open("../missing", flags)));
  int wf = O_WRONLY | O_CREAT;
  wf = wf + (g_flags_rdonly & 0);
  say("open_with_mode", F(open("new", wf, 0600)));
  say("stat_new", stat_of("new"));
  char small[4];
  say("readlink_small_chk", R(readlink(AP("l").c_str(), small, vsmall)));
  FILE* fp = fopen(AP("f").c_str(), "r");
  say("fgets_chk", fp && fgets(buf, vsz, fp) ? std::string(buf) : "-1");
  if (fp) {
    rewind(fp);
    say("fread_chk", std::to_string(fread(buf, 1, vsz, fp)));
    fclose(fp);
  }
}

// ===========================================================================
// fd family: dup, dup2, dup3, fcntl, close_range, closefrom.

CASE(fd, dup_family) {
  wfile(P("f"), "0123456789");
  int fd = open(P("f").c_str(), O_RDWR);
  int d = dup(fd);
  say("dup", F(d));
  say("dup_fstat", fstat_of(d));
  lseek(fd, 4, SEEK_SET);
  say("dup_shares_offset", R(lseek(d, 0, SEEK_CUR)));
  int d2 = dup2(fd, 100);
  say("dup2_target", R(d2));
  say("dup2_fstat", fstat_of(100));
  say("dup2_same", yn(dup2(fd, fd) == fd));
  { std::string r_ = R(dup3(fd, 101, O_CLOEXEC)); say("dup3_cloexec", r_ + " cloexec=" + yn(fcntl(101, F_GETFD) & FD_CLOEXEC)); }
  say("dup3_same", R(dup3(fd, fd, 0)));
  say("dup3_bad_flags", R(dup3(fd, 102, 0x1)));
  say("dup_badfd", R(dup(999)));
  say("dup2_badfd", R(dup2(999, 103)));
  int f1 = fcntl(fd, F_DUPFD, 200);
  say("f_dupfd_min", yn(f1 >= 200) + " " + fstat_of(f1));
  int f2 = fcntl(fd, F_DUPFD_CLOEXEC, 300);
  say("f_dupfd_cloexec", yn(f2 >= 300) + " cloexec=" + yn(fcntl(f2, F_GETFD) & FD_CLOEXEC));
  close(fd);
  say("dup_after_close_original", fstat_of(d));
  char buf[4] = {};
  lseek(d, 0, SEEK_SET);
  { std::string r_ = R(read(d, buf, 3)); say("read_through_dup", r_ + " " + buf); }
  // dup2 over an open mount fd closes it (the old one), keeps the new one.
  wfile(P("g"), "G");
  int g = open(P("g").c_str(), O_RDONLY);
  say("dup2_over_mount_fd", R(dup2(d, g) == g ? 0 : -1));
  say("replaced_fstat", fstat_of(g));
  lseek(g, 0, SEEK_SET);
  { std::string r_ = R(read(g, buf, 3)); say("replaced_reads_f", r_ + " " + buf); }
  // dup2 of a plain fd over a mount fd.
  int devnull = open("/dev/null", O_RDONLY);
  dup2(devnull, g);
  struct stat st;
  fstat(g, &st);
  say("dup2_nonmount_over_mount", type_name(st.st_mode));
  dup2(d, devnull);
  say("dup2_mount_over_nonmount", fstat_of(devnull));
  say("fstat_closed", fstat_of(f1 + 50));
}

CASE(fd, fcntl_flags) {
  wfile(P("f"), "abc");
  int fd = open(P("f").c_str(), O_RDWR);
  int fl = fcntl(fd, F_GETFL);
  say("getfl_accmode", std::to_string(fl & O_ACCMODE) + " append=" + yn(fl & O_APPEND));
  say("setfl_append", R(fcntl(fd, F_SETFL, fl | O_APPEND)));
  fl = fcntl(fd, F_GETFL);
  say("getfl_after", std::to_string(fl & O_ACCMODE) + " append=" + yn(fl & O_APPEND));
  lseek(fd, 0, SEEK_SET);
  write(fd, "Z", 1);
  say("append_effective", show(rfile(P("f"))));
  say("setfl_nonblock", R(fcntl(fd, F_SETFL, O_NONBLOCK)));
  fl = fcntl(fd, F_GETFL);
  say("getfl_nonblock", std::to_string(fl & O_ACCMODE) + " append=" + yn(fl & O_APPEND) + " nonblock=" + yn(fl & O_NONBLOCK));
  int ro = open(P("f").c_str(), O_RDONLY);
  say("getfl_rdonly", std::to_string(fcntl(ro, F_GETFL) & O_ACCMODE));
  int wo = open(P("f").c_str(), O_WRONLY);
  say("getfl_wronly", std::to_string(fcntl(wo, F_GETFL) & O_ACCMODE));
  int pf = open(P("f").c_str(), O_PATH);
  say("getfl_opath", yn(fcntl(pf, F_GETFL) & O_PATH));
  say("getfd", R(fcntl(fd, F_GETFD)));
  say("setfd", R(fcntl(fd, F_SETFD, FD_CLOEXEC)));
  say("getfd_after", R(fcntl(fd, F_GETFD)));
  say("setfd_clear", R(fcntl(fd, F_SETFD, 0)));
  say("getfd_cleared", R(fcntl(fd, F_GETFD)));
  say("getfl_badfd", R(fcntl(999, F_GETFL)));
  say("bad_cmd", R(fcntl(fd, 9999)));
  // Close-on-exec really closes across exec; inherited fds really stay.
  int keep = open(P("f").c_str(), O_RDONLY);
  int drop = open(P("f").c_str(), O_RDONLY | O_CLOEXEC);
  dup2(keep, 8);
  dup2(drop, 9);
  fcntl(9, F_SETFD, FD_CLOEXEC);
  say("exec_inherits", run_capture({"/bin/sh", "-c", "cat <&8; echo; cat <&9 2>/dev/null && echo leaked || echo closed"}));
}

CASE(fd, close_range_closefrom) {
  wfile(P("f"), "data");
  int fd = open(P("f").c_str(), O_RDONLY);
  int hi = dup2(fd, 500);
  say("close_range_cloexec", R(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)));
  say("cloexec_set", yn(fcntl(hi, F_GETFD) & FD_CLOEXEC));
  say("still_open", fstat_of(hi));
  say("close_range", R(close_range(3, ~0U, 0)));
  say("closed", R(fcntl(fd, F_GETFD)));
  say("closed_hi", R(fcntl(hi, F_GETFD)));
  say("stat_after_close_range", stat_of(P("f")));
  say("create_after_close_range", R(wfile(P("g"), "g") ? 0 : -1));
  say("read_after_close_range", show(rfile(P("g"))));
  say("mkdir_after_close_range", R(mkdir(P("d").c_str(), 0755)));
  say("listing_after_close_range", listing(g_dir));
  fd = open(P("f").c_str(), O_RDONLY);
  closefrom(3);
  say("closefrom_closed", R(fcntl(fd, F_GETFD)));
  say("stat_after_closefrom", stat_of(P("f")));
  say("read_after_closefrom", show(rfile(P("f"))));
  say("rename_after_closefrom", R(rename(P("g").c_str(), P("h").c_str())));
  // The old daemon way: close every fd one by one.
  for (int i = 3; i < 4096; i++) close(i);
  say("stat_after_close_loop", stat_of(P("h")));
  say("unlink_after_close_loop", R(unlink(P("h").c_str())));
  // And a child that closes everything then execs still works.
  say("exec_after_closefrom", run_capture({"/bin/sh", "-c", "exec 3>&- ; cat \"$0\"", AP("f")}));
  say("close_range_bad", R(close_range(10, 5, 0)));
}

CASE(fd, sync_advise_allocate) {
  wfile(P("f"), "abc");
  int fd = open(P("f").c_str(), O_RDWR);
  say("fsync", R(fsync(fd)));
  say("fdatasync", R(fdatasync(fd)));
  int dfd = open(g_dir.c_str(), O_RDONLY | O_DIRECTORY);
  say("fsync_dir", R(fsync(dfd)));
  say("syncfs", R(syncfs(fd)));
  say("sync_file_range", R(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)));
  say("fadvise", RE(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)));
  say("fadvise_dontneed", RE(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)));
  say("fadvise_bad", RE(posix_fadvise(fd, 0, 0, 12345)));
  say("fadvise_badfd", RE(posix_fadvise(999, 0, 0, POSIX_FADV_NORMAL)));
  say("readahead", R(readahead(fd, 0, 4096)));
  say("posix_fallocate", RE(posix_fallocate(fd, 0, 10000)));
  say("size_after", fstat_of(fd));
  say("fallocate_keep_size", R(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 50000)));
  say("size_keep", fstat_of(fd));
  say("fallocate_extend", R(fallocate(fd, 0, 0, 20000)));
  say("size_extend", fstat_of(fd));
  say("punch_hole", R(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2)));
  char b[4] = {};
  pread(fd, b, 3, 0);
  say("after_punch", std::to_string(b[0]) + std::to_string(b[1]) + b[2]);
  say("punch_without_keep", R(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 2)));
  say("fallocate_bad_len", R(fallocate(fd, 0, 0, 0)));
  int ro = open(P("f").c_str(), O_RDONLY);
  say("fallocate_rdonly", R(fallocate(ro, 0, 0, 10)));
  say("posix_fallocate_rdonly", RE(posix_fallocate(ro, 0, 10)));
  say("fallocate_dir", R(fallocate(dfd, 0, 0, 10)));
  say("posix_fallocate64", RE(posix_fallocate64(fd, 0, 30000)));
  say("size_final", fstat_of(fd));
}

CASE(fd, copy_sendfile_splice) {
  std::string data;
  for (int i = 0; i < 10000; i++) data += char('a' + i % 26);
  wfile(P("src"), data);
  int in = open(P("src").c_str(), O_RDONLY);
  int out = open(P("dst").c_str(), O_WRONLY | O_CREAT, 0644);
  loff_t off_in = 100;
  { std::string r_ = R(copy_file_range(in, &off_in, out, nullptr, 5000, 0)); say("copy_file_range", r_ + " off_in=" + std::to_string(off_in)); }
  say("dst_stat", stat_of(P("dst")));
  say("dst_ok", yn(rfile(P("dst")) == data.substr(100, 5000)));
  { std::string r_ = R(copy_file_range(in, nullptr, out, nullptr, 10, 0)); say("copy_file_range_cur", r_ + " in_off=" + std::to_string(lseek(in, 0, SEEK_CUR))); }
  say("copy_file_range_eof", R(copy_file_range(in, &off_in, out, nullptr, 100000, 0)));
  say("copy_file_range_bad_flags", R(copy_file_range(in, nullptr, out, nullptr, 1, 1)));
  say("copy_file_range_to_rdonly", R(copy_file_range(in, nullptr, in, nullptr, 1, 0)));
  int s2 = open(P("sf").c_str(), O_WRONLY | O_CREAT, 0644);
  off_t so = 0;
  { std::string r_ = R(sendfile(s2, in, &so, 10000)); say("sendfile", r_ + " off=" + std::to_string(so)); }
  say("sendfile_ok", yn(rfile(P("sf")) == data));
  int p[2];
  pipe(p);
  loff_t po = 26;
  say("splice_to_pipe", R(splice(in, &po, p[1], nullptr, 26, 0)));
  int s3 = open(P("sp").c_str(), O_WRONLY | O_CREAT, 0644);
  say("splice_from_pipe", R(splice(p[0], nullptr, s3, nullptr, 26, 0)));
  say("splice_content", show(rfile(P("sp"))));
  int p2[2];
  pipe(p2);
  write(p2[1], "tee", 3);
  say("vmsplice_tee_pipe_to_file", R(splice(p2[0], nullptr, s3, nullptr, 3, 0)));
  say("sp_final", stat_of(P("sp")));
  // A copy out of the mount to a host file and back through a plain fd.
  int host = open("/dev/null", O_WRONLY);
  off_t z = 0;
  say("sendfile_to_host", R(sendfile(host, in, &z, 100)));
}

// ===========================================================================
// Children: fork and exec see the mount and inherited fds.

CASE(process, fork_exec_fds) {
  wfile(P("f"), "shared");
  int fd = open(P("f").c_str(), O_RDWR);
  pid_t pid = fork();
  if (pid == 0) {
    lseek(fd, 3, SEEK_SET);
    _exit(0);
  }
  waitpid(pid, nullptr, 0);
  say("child_moved_offset", R(lseek(fd, 0, SEEK_CUR)));
  dup2(fd, 9);
  say("exec_reads_inherited_fd", run_capture({"/bin/sh", "-c", "cat <&9"}));
  say("exec_writes_inherited_fd", run_capture({"/bin/sh", "-c", "printf X >&9"}));
  say("content", show(rfile(P("f"))));
  say("exec_in_mount", run_capture({"/bin/sh", "-c", "cat \"$0\"; ls -a \"$(dirname \"$0\")\"", AP("f")}));
  // An executable script living in the mount.
  wfile(P("script"), "#!/bin/sh\necho from-script \"$1\"\n", 0755);
  say("exec_script_in_mount", run_capture({AP("script"), "arg"}));
  char* argv[] = {const_cast<char*>("script"), nullptr};
  int sfd = open(P("script").c_str(), O_RDONLY | O_CLOEXEC);
  pid = fork();
  if (pid == 0) {
    int dn = open("/dev/null", O_WRONLY);
    dup2(dn, 1);
    fexecve(sfd, argv, environ);
    _exit(errno == ENOENT ? 50 : 51);
  }
  int st;
  waitpid(pid, &st, 0);
  say("fexecve_script_cloexec", std::to_string(WEXITSTATUS(st)));
}

// ===========================================================================

void usage() {
  fprintf(stderr, "usage: conformance [--relative] [--nofork] [--only PREFIX] [--list] DIR\n");
  exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  bool fork_each = true, list = false;
  std::string only, dir;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--relative") g_relative = true;
    else if (a == "--nofork") fork_each = false;
    else if (a == "--list") list = true;
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a[0] == '-') usage();
    else dir = a;
  }
  if (list) {
    for (auto& c : cases()) printf("%s\n", c.name);
    return 0;
  }
  if (dir.empty() || dir[0] != '/') usage();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  g_root = dir;
  umask(022);
  signal(SIGPIPE, SIG_IGN);
  if (g_relative && chdir(dir.c_str()) != 0) {
    fprintf(stderr, "conformance: chdir %s: %s\n", dir.c_str(), strerror(errno));
    return 1;
  }
  int n = 0;
  for (auto& c : cases()) {
    n++;
    if (!only.empty() && std::string(c.name).rfind(only, 0) != 0) continue;
    g_case = c.name;
    char sub[64];
    snprintf(sub, sizeof sub, "c%03d", n);
    g_abs = dir + "/" + sub;
    g_dir = g_relative ? std::string(sub) : g_abs;
    auto run = [&] {
      if (mkdir(g_dir.c_str(), 0755) != 0) {
        say("setup", "mkdir -1 " + ename(errno));
        return;
      }
      c.fn();
    };
    if (!fork_each) {
      run();
      chdir(g_relative ? dir.c_str() : "/");
      continue;
    }
    pid_t pid = fork();
    if (pid < 0) {
      say("fork", "-1 " + ename(errno));
      continue;
    }
    if (pid == 0) {
      alarm(30);
      run();
      _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) say("CRASHED", strsignal(WTERMSIG(st)));
    else if (WEXITSTATUS(st) != 0) say("EXIT", std::to_string(WEXITSTATUS(st)));
  }
  return 0;
}
