// This process's one connection to the server: made on the first call that
// needs it, remade in a child after fork, shared by all threads. A call
// from a signal handler that interrupted a call of the same thread gets a
// connection of its own instead of deadlocking.
#pragma once

#include "client.hpp"

namespace userfs::session {

// Sends req and waits for its reply. Returns the server's answer (0 or a
// negative errno), -ENOTCONN when no server answers, -EIO when the
// exchange broke mid-request.
int call(const client::Request& req, client::ReplyBuffer& reply);

// True if fd is the shim's own socket (a program must not close it).
bool owns_fd(int fd);
// The shim's socket, or -1.
int socket_fd();

// The program is about to make `fd` name something else (dup2 onto it):
// if it is our socket, let it go without closing it; the next call
// reconnects.
void release_if_owned(int fd);

}  // namespace userfs::session
