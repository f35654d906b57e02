// A hostile client: speaks the wire protocol by hand and sends each class of
// malformed or abusive traffic, then checks after every case that a
// well-behaved client on a fresh connection is still answered promptly and
// that the server process is alive. Prints one "ok"/"FAIL" line per check;
// exits 1 if any failed.
//
// Usage: hostile_client SOCKET SERVER_PID [FLOOD_UID]
//   FLOOD_UID: when run as root, also floods from that uid (the server must
//   admit it and cap it with --max-clients-per-user).
//        hostile_client --out-of-fds SOCKET SERVER_PID
//   against a server that has run out of descriptors.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "userfs/protocol.hpp"

namespace proto = userfs::proto;
using proto::Op;

namespace {

const char* g_socket;
pid_t g_server;
int g_failures = 0;
uint64_t g_next_id = 1;

void check(bool ok, const std::string& what, const std::string& detail = "") {
  std::printf("%s - %s%s%s\n", ok ? "ok  " : "FAIL", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  std::fflush(stdout);
  if (!ok) ++g_failures;
}

std::string errname(int negative_errno) {
  if (negative_errno == 0) return "0";
  const char* n = strerrorname_np(-negative_errno);
  return n != nullptr ? n : std::to_string(negative_errno);
}

int connect_raw() {
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", g_socket);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// One request: header, fixed body, then strings.
std::vector<unsigned char> request(Op op, const void* body, size_t body_len, const std::string& s1 = "",
                                   const std::string& s2 = "") {
  proto::RequestHeader h{};
  h.magic = proto::kMagic;
  h.op = static_cast<uint16_t>(op);
  h.length = static_cast<uint32_t>(body_len + s1.size() + s2.size());
  h.id = g_next_id++;
  std::vector<unsigned char> m(sizeof h + h.length);
  std::memcpy(m.data(), &h, sizeof h);
  if (body_len > 0) std::memcpy(m.data() + sizeof h, body, body_len);
  std::memcpy(m.data() + sizeof h + body_len, s1.data(), s1.size());
  std::memcpy(m.data() + sizeof h + body_len + s1.size(), s2.data(), s2.size());
  return m;
}

bool send_msg(int fd, const std::vector<unsigned char>& m) {
  return send(fd, m.data(), m.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(m.size());
}

// The reply's error (0 or -errno); 1 for end of stream (the server hung
// up); 2 for no reply within timeout_ms.
int reply_error(int fd, int timeout_ms = 3000) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return 2;
  alignas(8) static unsigned char buf[proto::kMaxMessage];
  const ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n <= 0) return 1;
  if (static_cast<size_t>(n) < sizeof(proto::ReplyHeader)) return 2;
  proto::ReplyHeader h{};
  std::memcpy(&h, buf, sizeof h);
  if (h.magic != proto::kMagic) return 2;
  return h.error;
}

std::string outcome(int r) {
  if (r == 1) return "connection closed";
  if (r == 2) return "no reply";
  return "error " + errname(r);
}

bool hello(int fd, uint32_t version = proto::kVersion) {
  proto::HelloReq req{version, 0};
  return send_msg(fd, request(Op::hello, &req, sizeof req)) && reply_error(fd) == 0;
}

int greeted() {
  const int fd = connect_raw();
  if (fd < 0) return -1;
  if (!hello(fd)) {
    close(fd);
    return -1;
  }
  return fd;
}

// Whether the server answers a new, polite client within a second, and its
// process is alive.
void still_serving(const std::string& after) {
  bool alive = kill(g_server, 0) == 0;
  bool served = false;
  const int fd = connect_raw();
  if (fd >= 0) {
    proto::HelloReq req{proto::kVersion, 0};
    served = send_msg(fd, request(Op::hello, &req, sizeof req)) && reply_error(fd, 1000) == 0 &&
             send_msg(fd, request(Op::status, nullptr, 0)) && reply_error(fd, 1000) == 0;
    close(fd);
  }
  check(alive && served, "after " + after + ": server alive and a polite client served within 1 s",
        alive ? (served ? "" : "not served") : "server process is gone");
}

// Sends m on a greeted connection and expects the reply error `want` (or,
// with want == 1, that the connection is closed).
void expect(const std::string& name, const std::vector<unsigned char>& m, int want, bool greet = true) {
  const int fd = greet ? greeted() : connect_raw();
  if (fd < 0) {
    check(false, name, "cannot connect");
    return;
  }
  const int got = send_msg(fd, m) ? reply_error(fd) : 2;
  check(got == want, name + " -> " + outcome(want), got == want ? "" : "got " + outcome(got));
  close(fd);
  still_serving(name);
}

std::vector<unsigned char> lookup(const std::string& path, uint32_t flags = 0) {
  proto::LookupReq req{proto::kBaseRoot, flags, static_cast<uint32_t>(path.size())};
  return request(Op::lookup, &req, sizeof req, path);
}

std::vector<unsigned char> mkdir_req(const std::string& path) {
  proto::MkdirReq req{proto::kBaseRoot, 0755, static_cast<uint32_t>(path.size())};
  return request(Op::mkdir, &req, sizeof req, path);
}

std::vector<unsigned char> rmdir_req(const std::string& path) {
  proto::UnlinkReq req{proto::kBaseRoot, proto::kUnlinkRemoveDir, static_cast<uint32_t>(path.size())};
  return request(Op::unlink, &req, sizeof req, path);
}

void malformed_headers() {
  std::vector<unsigned char> m = lookup("x");
  expect("short header (10 bytes)", std::vector<unsigned char>(m.begin(), m.begin() + 10), -EBADMSG);
  expect("empty datagram", std::vector<unsigned char>{}, 1);  // zero bytes on SEQPACKET is a hangup

  std::vector<unsigned char> bad_magic = m;
  bad_magic[0] ^= 0xff;
  expect("bad magic", bad_magic, -EPROTO);

  std::vector<unsigned char> longer = m;
  longer.push_back('y');  // length field says one byte fewer
  expect("length field shorter than the datagram", longer, -EBADMSG);
  std::vector<unsigned char> shorter(m.begin(), m.end() - 1);
  expect("length field longer than the datagram", shorter, -EBADMSG);

  std::vector<unsigned char> flags = m;
  flags[6] = 0x80;  // RequestHeader.flags: reserved
  expect("reserved header flags set", flags, -EPROTO);

  std::vector<unsigned char> mount = m;
  mount[12] = 200;  // RequestHeader.mount: past proto::kMaxMounts
  expect("mount index out of range", mount, -EPROTO);

  std::vector<unsigned char> huge(proto::kMaxMessage + 4096, 'A');
  proto::RequestHeader h{proto::kMagic, static_cast<uint16_t>(Op::lookup), 0,
                         static_cast<uint32_t>(huge.size() - sizeof h), 0, g_next_id++};
  std::memcpy(huge.data(), &h, sizeof h);
  expect("oversized datagram (68 KiB)", huge, -EMSGSIZE);
}

void opcodes_and_order() {
  expect("unknown opcode 999", request(static_cast<Op>(999), nullptr, 0), -ENOSYS);
  expect("opcode 0", request(static_cast<Op>(0), nullptr, 0), -ENOSYS);
  expect("opcode one past the last", request(static_cast<Op>(proto::kOpCount), nullptr, 0), -ENOSYS);
  expect("request before hello (then hung up)", lookup(""), -EPROTO, false);
  {
    const int fd = connect_raw();
    const bool sent = fd >= 0 && send_msg(fd, lookup(""));
    const int first = sent ? reply_error(fd) : 2;
    const int second = sent ? reply_error(fd) : 2;
    check(first == -EPROTO && second == 1, "request before hello: EPROTO, then the connection is closed",
          outcome(first) + ", then " + outcome(second));
    if (fd >= 0) close(fd);
  }
  {
    const int fd = connect_raw();
    proto::HelloReq req{proto::kVersion + 7, 0};
    const bool sent = fd >= 0 && send_msg(fd, request(Op::hello, &req, sizeof req));
    const int first = sent ? reply_error(fd) : 2;
    const int second = sent ? reply_error(fd) : 2;
    check(first == -EPROTONOSUPPORT && second == 1, "hello with another version: EPROTONOSUPPORT, then closed",
          outcome(first) + ", then " + outcome(second));
    if (fd >= 0) close(fd);
    still_serving("wrong version");
  }
  proto::HelloReq short_hello{proto::kVersion, 0};
  expect("hello with a short body", request(Op::hello, &short_hello, 4), -EBADMSG, false);
  expect("second hello on a greeted connection", request(Op::hello, &short_hello, sizeof short_hello), 0);
}

void names_and_paths() {
  expect("path with a NUL inside", lookup(std::string("a\0b", 3)), -EBADMSG);
  // An empty path names the base itself (the shim turns mkdir("") into
  // ENOENT before asking): here, the root, which exists.
  expect("mkdir of an empty path (the base)", mkdir_req(""), -EEXIST);
  expect("mkdir .", mkdir_req("."), -EEXIST);
  expect("rmdir .", rmdir_req("."), -EINVAL);
  expect("rmdir of a path ending in /.", rmdir_req("d/."), -ENOENT);
  expect("name of 256 bytes", mkdir_req(std::string(256, 'n')), -ENAMETOOLONG);
  std::string deep;
  while (deep.size() < proto::kMaxPath + 10) deep += "abcdefg/";
  expect("path of 4 KiB", lookup(deep), -ENAMETOOLONG);
  std::string slashes(proto::kMaxPath + 100, '/');
  expect("path of only slashes, 4 KiB", lookup(slashes), -ENAMETOOLONG);
  // A body whose string length points past the datagram.
  proto::LookupReq lie{proto::kBaseRoot, 0, 100};
  expect("string length past the datagram's end", request(Op::lookup, &lie, sizeof lie, "abc"), -EBADMSG);
  proto::LookupReq huge_len{proto::kBaseRoot, 0, 0xffffffffu};
  expect("string length 2^32-1", request(Op::lookup, &huge_len, sizeof huge_len, "abc"), -ENAMETOOLONG);
  // Attribute names: one with a NUL inside is malformed; an empty one is
  // ERANGE, as setxattr(2) says.
  auto setxattr_req = [](const std::string& name) {
    proto::SetxattrReq req{proto::kBaseRoot, 0, 0, static_cast<uint32_t>(name.size()), 1, 0, 0};
    return request(Op::setxattr, &req, sizeof req, name, "v");
  };
  expect("xattr name with a NUL inside", setxattr_req(std::string("user.a\0b", 8)), -EBADMSG);
  expect("empty xattr name", setxattr_req(""), -ERANGE);
  expect("xattr name of 256 bytes", setxattr_req("user." + std::string(251, 'x')), -ERANGE);
  expect("body shorter than its struct", request(Op::lookup, &lie, 8), -EBADMSG);
  // Symlinks pointing at each other: the walk stops at 40 hops.
  {
    const int fd = greeted();
    proto::SymlinkReq a{proto::kBaseRoot, 5, 5};
    send_msg(fd, request(Op::symlink, &a, sizeof a, "loopb", "loopa"));
    reply_error(fd);
    proto::SymlinkReq b{proto::kBaseRoot, 5, 5};
    send_msg(fd, request(Op::symlink, &b, sizeof b, "loopa", "loopb"));
    reply_error(fd);
    close(fd);
  }
  expect("lookup through a symlink loop", lookup("loopa"), -ELOOP);
}

void bad_flags_and_handles() {
  expect("lookup with unknown flag bits", lookup("", 0x80000000u), -EINVAL);
  proto::OpenReq open_req{proto::kBaseRoot, proto::kOpenKnown + 1, 0644, 1, 0};
  expect("open with unknown flag bits", request(Op::open, &open_req, sizeof open_req, "f"), -EINVAL);
  proto::GetattrReq far{uint64_t{1} << 60};
  expect("getattr of an inode that never existed", request(Op::getattr, &far, sizeof far), -ENOENT);
  proto::LookupReq base{uint64_t{1} << 62, 0, 1};
  expect("lookup from a base inode that never existed", request(Op::lookup, &base, sizeof base, "x"), -ENOENT);
  proto::ReaddirReq rd{uint64_t{1} << 61, 0};
  expect("readdir of an inode that never existed", request(Op::readdir, &rd, sizeof rd), -ENOENT);
}

// An fd passed with a request: refused, and the server keeps no copy (the
// pipe's read end sees end-of-file once ours is closed).
void passed_fds() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    check(false, "pipe for SCM_RIGHTS");
    return;
  }
  const int fd = greeted();
  std::vector<unsigned char> m = lookup("");
  iovec iov{m.data(), m.size()};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &p[1], sizeof(int));
  const bool sent = fd >= 0 && sendmsg(fd, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(m.size());
  const int got = sent ? reply_error(fd) : 2;
  check(got == -EBADMSG, "request carrying an fd (SCM_RIGHTS) -> error EBADMSG", outcome(got));
  close(p[1]);
  pollfd pf{p[0], POLLIN, 0};
  char byte;
  const bool eof = poll(&pf, 1, 2000) == 1 && read(p[0], &byte, 1) == 0;
  check(eof, "the server closed the fd it was passed");
  close(p[0]);
  if (fd >= 0) close(fd);
  still_serving("an fd passed with a request");
}

// Floods the server with requests on one connection and never reads: the
// server must drop that connection, not buffer its replies without bound.
void sender_that_never_reads() {
  const int fd = greeted();
  if (fd < 0) {
    check(false, "connect for the flood");
    return;
  }
  const int sndbuf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  const std::vector<unsigned char> m = request(Op::status, nullptr, 0);
  int sent = 0;
  bool hung_up = false;
  for (int i = 0; i < 200000 && !hung_up; ++i) {
    if (send(fd, m.data(), m.size(), MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(m.size())) {
      ++sent;
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET) {
      hung_up = true;
      break;
    }
    if (errno != EAGAIN) break;
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, 200) == 0) break;  // the server stopped reading us
    if ((p.revents & (POLLHUP | POLLERR)) != 0) hung_up = true;
  }
  still_serving("a client sending without reading (" + std::to_string(sent) + " requests)");
  // Drain what the server sent before it gave up: then end of stream.
  int replies = 0;
  int r;
  while ((r = reply_error(fd, 2000)) <= 0) ++replies;
  check(r == 1 || hung_up, "the server dropped the client that does not read",
        std::to_string(sent) + " sent, " + std::to_string(replies) + " replies read, then " + outcome(r));
  close(fd);
}

// Connections that connect (and greet) and then say nothing.
void stalled_connections() {
  const int silent = connect_raw();       // never says hello
  const int greeted_silent = greeted();   // says hello, then nothing
  const int mid = greeted();              // sends a request, never reads
  if (mid >= 0) send_msg(mid, lookup(""));
  still_serving("three stalled connections");
  for (int fd : {silent, greeted_silent, mid})
    if (fd >= 0) close(fd);
}

void raise_fd_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

// n connections, each greeted; returns how many the server accepted.
int open_many(int n, std::vector<int>& fds) {
  int accepted = 0;
  for (int i = 0; i < n; ++i) {
    const int fd = connect_raw();
    if (fd < 0) break;
    fds.push_back(fd);
    proto::HelloReq req{proto::kVersion, 0};
    send_msg(fd, request(Op::hello, &req, sizeof req));
  }
  for (int fd : fds)
    if (reply_error(fd, 2000) == 0) ++accepted;
  return accepted;
}

void many_connections(int flood_uid) {
  raise_fd_limit();
  {
    std::vector<int> fds;
    const int accepted = open_many(2000, fds);
    check(accepted > 0, "2000 connections of the server's own uid", std::to_string(accepted) + " accepted");
    still_serving("2000 idle connections held open");
    for (int fd : fds) close(fd);
  }
  still_serving("2000 connections closed");
  if (flood_uid < 0 || getuid() != 0) return;
  // Another uid opens more than its share: capped, and the owner is served.
  int report[2];
  int go[2];
  if (pipe(report) < 0 || pipe(go) < 0) return;
  const pid_t child = fork();
  if (child == 0) {
    close(report[0]);
    close(go[1]);
    if (setgroups(0, nullptr) < 0 || setgid(flood_uid) < 0 || setuid(flood_uid) < 0) _exit(3);
    std::vector<int> fds;
    const int accepted = open_many(1500, fds);
    (void)!write(report[1], &accepted, sizeof accepted);
    char b;
    (void)!read(go[0], &b, 1);  // hold them until the parent has looked
    _exit(0);
  }
  close(report[1]);
  close(go[0]);
  int accepted = -1;
  (void)!read(report[0], &accepted, sizeof accepted);
  // The script starts the server with --max-clients-per-user 1000.
  check(accepted > 0 && accepted <= 1000, "uid " + std::to_string(flood_uid) + " opening 1500 connections is capped at 1000",
        std::to_string(accepted) + " accepted");
  still_serving("another uid's flood of connections");
  close(go[1]);
  int status = 0;
  waitpid(child, &status, 0);
  close(report[0]);
  still_serving("the flooding uid left");
}

// The server's user+system CPU time in clock ticks.
long cpu_ticks(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return -1;
  long utime = 0, stime = 0;
  // Fields after the name: state is 3rd; utime and stime are 14th and 15th.
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) != 2) return -1;
  return utime + stime;
}

// A server with (almost) no descriptors left: 300 clients arrive and
// wait. Each must hear "no" promptly (hung up) rather than hang, the
// server must not spin on its listener meanwhile, and it must serve again
// once they leave.
void out_of_fds() {
  std::vector<int> fds;
  const long before = cpu_ticks(g_server);
  const int accepted = open_many(300, fds);
  int hung_up = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLIN, 0};
    char b;
    if (poll(&p, 1, 0) == 1 && recv(fd, &b, 1, MSG_DONTWAIT) == 0) ++hung_up;
  }
  check(accepted + hung_up == static_cast<int>(fds.size()) && hung_up > 0,
        "out of fds: every one of " + std::to_string(fds.size()) + " clients answered or hung up at once",
        std::to_string(accepted) + " answered, " + std::to_string(hung_up) + " hung up");
  usleep(500 * 1000);
  const long spent = cpu_ticks(g_server) - before;
  check(before >= 0 && spent < sysconf(_SC_CLK_TCK) / 2, "out of fds: the server does not spin (" +
        std::to_string(spent) + " ticks of CPU over the flood and half a second)");
  for (int fd : fds) close(fd);
  still_serving("running out of fds");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--out-of-fds") == 0) {
    signal(SIGPIPE, SIG_IGN);
    g_socket = argv[2];
    g_server = static_cast<pid_t>(std::atoi(argv[3]));
    raise_fd_limit();
    out_of_fds();
    return g_failures == 0 ? 0 : 1;
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: hostile_client SOCKET SERVER_PID [FLOOD_UID]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  g_socket = argv[1];
  g_server = static_cast<pid_t>(std::atoi(argv[2]));
  const int flood_uid = argc > 3 ? std::atoi(argv[3]) : -1;
  still_serving("start");
  malformed_headers();
  opcodes_and_order();
  names_and_paths();
  bad_flags_and_handles();
  passed_fds();
  stalled_connections();
  sender_that_never_reads();
  many_connections(flood_uid);
  return g_failures == 0 ? 0 : 1;
}
