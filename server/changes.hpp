// The vocabulary of namespace changes that the journal and the snapshot
// store: low-level after-images and deltas, never operations. Replaying
// them sets every field to the value it had, so recovery does not depend on
// the clock, on permissions, or on the code that made the change.
//
// A record is a sequence of items; an item is a kind byte followed by
// fixed-width native-endian fields and length-prefixed strings (state is
// read back only on the host that wrote it, as the wire protocol).
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace userfs::server {

enum class ItemKind : uint8_t {
  next_ino = 1,    // the next inode number to hand out
  put_inode = 2,   // an inode's scalar fields (created if new)
  drop_inode = 3,  // the inode is gone
  put_entry = 4,   // name -> ino with its readdir cookie (replaces the name)
  del_entry = 5,   // the name is gone from the directory
  set_xattr = 6,
  del_xattr = 7,
};

// Everything about an inode but its entries, xattrs and data.
struct InodeImage {
  uint64_t ino = 0;
  uint8_t type = 0;  // FileType
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  uint32_t nlink = 0;
  timespec atime{}, mtime{}, ctime{}, btime{};
  uint64_t parent = 0;
  uint64_t next_cookie = 0;
  uint32_t subdirs = 0;
  std::string name;    // a directory's name under its parent
  std::string target;  // a symlink's
};

struct Item {
  ItemKind kind = ItemKind::next_ino;
  InodeImage inode;      // put_inode
  uint64_t ino = 0;      // next_ino's value; drop_inode; the inode or directory of the others
  uint64_t child = 0;    // put_entry
  uint64_t cookie = 0;   // put_entry
  std::string name;      // entries, xattrs
  std::string value;     // set_xattr
};

// Appenders: each adds one item to `out`.
void encode_next_ino(std::string& out, uint64_t next);
void encode_put_inode(std::string& out, const InodeImage& n);
void encode_drop_inode(std::string& out, uint64_t ino);
void encode_put_entry(std::string& out, uint64_t dir, std::string_view name, uint64_t ino, uint64_t cookie);
void encode_del_entry(std::string& out, uint64_t dir, std::string_view name);
void encode_set_xattr(std::string& out, uint64_t ino, std::string_view name, std::string_view value);
void encode_del_xattr(std::string& out, uint64_t ino, std::string_view name);

// Decodes a whole record body. False, with `why` set, on an unknown kind, a
// truncated item or trailing garbage.
bool decode_items(std::string_view body, std::vector<Item>& out, std::string& why);

}  // namespace userfs::server
