// userfsctl: talk to a running userfsd — is it there, what is it doing.
// The `userfs` launcher is built on it.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "../libshim/client.hpp"
#include "userfs/protocol.hpp"
#include "userfs/socket_path.hpp"

namespace {

const char* kUsage =
    "usage: userfsctl [--socket PATH] ping|status|pid\n"
    "  ping    exit 0 if a server answers on the socket, 1 if not (quiet)\n"
    "  status  print the server's pid, socket, clients and object counts\n"
    "  pid     print the server's pid\n"
    "The socket defaults to $USERFS_SOCKET, else $XDG_RUNTIME_DIR/userfs/sock,\n"
    "else /tmp/userfs-$UID/sock.\n";

int fetch_status(userfs::client::Connection& c, userfs::proto::StatusRep& st) {
  userfs::client::ReplyBuffer rep{&st, sizeof st};
  int err = c.call(userfs::client::Request{userfs::proto::Op::status}, rep);
  if (err == 0 && rep.len != sizeof st) err = -EIO;
  return err;
}

}  // namespace

int main(int argc, char** argv) {
  char socket_path[108] = {};
  const char* env = std::getenv("USERFS_SOCKET");
  if (env != nullptr && *env != '\0') {
    std::snprintf(socket_path, sizeof socket_path, "%s", env);
  } else {
    userfs::default_socket_path(socket_path, sizeof socket_path, std::getenv("XDG_RUNTIME_DIR"), getuid());
  }
  const char* command = nullptr;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
      if (std::strlen(argv[i + 1]) >= sizeof socket_path) {
        std::fprintf(stderr, "userfsctl: socket path too long: %s\n", argv[i + 1]);
        return 2;
      }
      std::snprintf(socket_path, sizeof socket_path, "%s", argv[++i]);
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (command == nullptr && argv[i][0] != '-') {
      command = argv[i];
    } else {
      std::fprintf(stderr, "userfsctl: unexpected argument '%s'\n%s", argv[i], kUsage);
      return 2;
    }
  }
  if (command == nullptr) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  bool ping = std::strcmp(command, "ping") == 0;
  bool status = std::strcmp(command, "status") == 0;
  bool pid = std::strcmp(command, "pid") == 0;
  if (!ping && !status && !pid) {
    std::fprintf(stderr, "userfsctl: unknown command '%s'\n%s", command, kUsage);
    return 2;
  }

  userfs::client::Connection c;
  userfs::client::Timeouts t;
  t.connect_ms = 1000;
  t.reply_ms = 5000;
  int err = c.connect(socket_path, t);
  if (err != 0) {
    if (!ping) std::fprintf(stderr, "userfsctl: no server on %s: %s\n", socket_path, std::strerror(-err));
    return 1;
  }
  if (ping) return 0;

  userfs::proto::StatusRep st{};
  err = fetch_status(c, st);
  if (err != 0) {
    std::fprintf(stderr, "userfsctl: status from %s failed: %s\n", socket_path, std::strerror(-err));
    return 1;
  }
  if (pid) {
    std::printf("%u\n", st.server_pid);
    return 0;
  }
  long uptime = static_cast<long>(std::time(nullptr) - st.started_sec);
  std::printf("pid: %u\nsocket: %s\nclients: %u\ninodes: %llu\ndirectories: %llu\nfiles: %llu\nsymlinks: %llu\n"
              "bytes: %llu\nrequests: %llu\nuptime: %lds\n",
              st.server_pid, socket_path, st.clients, static_cast<unsigned long long>(st.inodes),
              static_cast<unsigned long long>(st.directories), static_cast<unsigned long long>(st.files),
              static_cast<unsigned long long>(st.symlinks), static_cast<unsigned long long>(st.bytes),
              static_cast<unsigned long long>(st.requests), uptime);
  return 0;
}
