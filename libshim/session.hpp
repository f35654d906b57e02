// This process's one connection to the server: made on the first call that
// needs it, remade in a child after fork, shared by all threads. A call
// from a signal handler that interrupted a call of the same thread gets a
// connection of its own instead of deadlocking.
#pragma once

#include "client.hpp"

namespace userfs::session {

// Sends req and waits for its reply. Returns the server's answer (0 or a
// negative errno), -ENOTCONN when no server answers, -EIO when the
// exchange broke mid-request, -ESTALE when req names inodes of a namespace
// the process has left. Sets reply.generation to the namespace's.
int call(const client::Request& req, client::ReplyBuffer& reply);

// Inode numbers mean something only in the namespace that gave them out.
// The generation counts the namespaces this process has talked to: it
// starts at 1 and moves on when a (re)connection finds a server naming
// another instance (an in-memory server started again), never when a
// server comes back on the same state directory. Fds, directory streams
// and the cwd remember the generation they were made in; a request naming
// their inodes carries it (Request::generation), and in another generation
// call() answers -ESTALE without sending it.
uint32_t generation();
// True if something made in generation `gen` (0: none) belongs to a
// namespace this process has since left.
bool stale(uint32_t gen);

// The instance the current generation's inode numbers belong to (0: no
// server seen yet), handed to a child across exec with its mount fds; the
// child adopts it at load, before it connects, so a child connecting to
// another namespace knows its inherited fds are stale.
uint64_t instance();
void inherit_instance(uint64_t instance);

// Several mounts may be served by one server, each its own filesystem.
// The server's mount serving our mount `mount` (an index into the mount
// table), as the last hello said; and which of our mounts an inode number
// from the server belongs to (the first naming its server mount).
uint32_t server_mount(int mount);
int mount_of_ino(uint64_t ino);

// True if fd is the shim's own socket (a program must not close it).
bool owns_fd(int fd);
// The shim's socket, or -1.
int socket_fd();

// The program is about to make `fd` name something else (dup2 onto it):
// if it is our socket, let it go without closing it; the next call
// reconnects.
void release_if_owned(int fd);

// The process changed its credentials: close the connection, so the next
// call connects anew and the server reads the new ones (it learns them
// from the kernel at connect, never from a request). One connection
// serves every thread, and glibc changes every thread's credentials at
// once, so one drop covers the process.
void drop_connection();

}  // namespace userfs::session
