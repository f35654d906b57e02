// Request dispatch: one datagram in, one reply out. An opcode-indexed table
// of {handler, name} (as libfuse's lowlevel ops); each handler decodes and
// validates its request, calls the namespace and returns 0 or a negative
// errno. dispatch() is the one place an errno becomes a reply.
//
// No sockets here: the event loop feeds datagrams in and sends the Reply
// out, and tests (or a fuzzer) can drive dispatch() directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "handles.hpp"
#include "namespace.hpp"
#include "unique_fd.hpp"

namespace userfs::server {

// Server-wide counters the status op reports.
struct ServerStats {
  uint32_t pid = 0;
  uint32_t clients = 0;   // connections open now
  uint64_t requests = 0;  // datagrams served since start
  int64_t started_sec = 0;
};

class Mounts;

// One client connection's state as the dispatcher sees it.
class DentryTable;

struct Session {
  // The filesystems served: a server's mounts, or (tests, tools) one
  // namespace alone, which then serves every mount a client names.
  Mounts* mounts = nullptr;
  Namespace* ns = nullptr;
  ServerStats* stats = nullptr;
  // The server's open handle files (shared by every connection: a forked
  // child's connection reaches its parent's). Null: handle files refused.
  HandleTable* handles = nullptr;
  // The shared lookup table (null: none): brought up to date before every
  // reply, whoever asked; handed at hello only to a client that may read
  // it (`table_for_client`).
  DentryTable* table = nullptr;
  bool table_for_client = false;
  Cred cred;
  bool greeted = false;  // hello accepted
  // The server mount serving each of the client's mounts (its hello).
  std::vector<uint32_t> client_mounts;
  uint32_t request_mount = 0;  // RequestHeader::mount of the request served
  Namespace* last = nullptr;   // the namespace that served it (redirects)

  // The namespace an inode number (or kBaseRoot, with request_mount)
  // belongs to; null if no mount has it. Remembered in `last`.
  Namespace* at(uint64_t base);
};

enum class AfterReply : uint8_t { keep_open, close };

struct Reply {
  std::vector<unsigned char> bytes;  // ReplyHeader + payload
  UniqueFd fd;                       // sent as SCM_RIGHTS when valid
  AfterReply after = AfterReply::keep_open;
};

// Serves one request datagram of `len` bytes. Never throws; a malformed
// message gets an error reply:
//   EBADMSG  shorter than a header, length mismatch, body too short or too
//            long for its op, a string with a NUL
//   EPROTO   bad magic or reserved bits; any request before hello
//            (connection then closed)
//   EPROTONOSUPPORT  hello with another version (connection then closed)
//   ENOSYS   unknown opcode or no handler
//   EINVAL   unknown flag bits, non-zero padding, a bad access mode
//   ENOMEM   allocation failure while serving
Reply dispatch(Session& session, const void* msg, size_t len);

// An error reply to the datagram `msg` (echoing its id and op if it has a
// header), for failures found before dispatch, e.g. a truncated datagram.
Reply error_reply(const void* msg, size_t len, int error, AfterReply after = AfterReply::keep_open);

}  // namespace userfs::server
