// userfsctl: talk to a running userfsd — is it there, what is it doing.
// The `userfs` launcher is built on it.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "../libshim/client.hpp"
#include "userfs/protocol.hpp"
#include "userfs/socket_path.hpp"

namespace {

const char* kUsage =
    "usage: userfsctl [--socket PATH] ping|status|pid\n"
    "  ping    exit 0 if a server answers on the socket, 1 if not (quiet)\n"
    "  status  print the server's pid, socket, clients, object counts and\n"
    "          where it keeps its state (journal size, last snapshot)\n"
    "  pid     print the server's pid\n"
    "The socket defaults to $USERFS_SOCKET, else $XDG_RUNTIME_DIR/userfs/sock,\n"
    "else /tmp/userfs-$UID/sock.\n";

// The status reply: the struct, then the state directory's path.
struct StatusReply {
  userfs::proto::StatusRep st;
  char state_dir[userfs::proto::kMaxPath];
};

int fetch_status(userfs::client::Connection& c, StatusReply& out, std::string& state_dir) {
  userfs::client::ReplyBuffer rep{&out, sizeof out};
  int err = c.call(userfs::client::Request{userfs::proto::Op::status}, rep);
  if (err != 0) return err;
  if (rep.len < sizeof out.st || rep.len - sizeof out.st != out.st.state_dir_len) return -EIO;
  state_dir.assign(out.state_dir, out.st.state_dir_len);
  return 0;
}

std::string utc(int64_t sec) {
  char buf[64] = "?";
  const time_t t = static_cast<time_t>(sec);
  tm tm{};
  if (gmtime_r(&t, &tm) != nullptr) std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
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

  StatusReply reply{};
  std::string state_dir;
  err = fetch_status(c, reply, state_dir);
  const userfs::proto::StatusRep& st = reply.st;
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
  if ((st.status_flags & userfs::proto::kStatusPersistent) != 0) {
    std::printf("state: %s\njournal: %llu bytes, %llu records since the snapshot%s\nsnapshot: %s\n",
                state_dir.c_str(), static_cast<unsigned long long>(st.journal_bytes),
                static_cast<unsigned long long>(st.journal_records),
                (st.status_flags & userfs::proto::kStatusJournalFailed) != 0 ? " (write failed: changes refused)" : "",
                utc(st.snapshot_sec).c_str());
  } else {
    std::printf("state: memory (lost when the server stops)\n");
  }
  return 0;
}
