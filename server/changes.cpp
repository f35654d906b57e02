#include "changes.hpp"

#include <cstring>

namespace userfs::server {
namespace {

template <class T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_str(std::string& out, std::string_view s) {
  put(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}
void put_time(std::string& out, const timespec& t) {
  put(out, static_cast<int64_t>(t.tv_sec));
  put(out, static_cast<uint32_t>(t.tv_nsec));
}
void put_kind(std::string& out, ItemKind k) { put(out, static_cast<uint8_t>(k)); }

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  template <class T>
  bool get(T& v) {
    if (s_.size() < sizeof v) return false;
    std::memcpy(&v, s_.data(), sizeof v);
    s_.remove_prefix(sizeof v);
    return true;
  }
  bool str(std::string& v) {
    uint32_t len = 0;
    if (!get(len) || s_.size() < len) return false;
    v.assign(s_.data(), len);
    s_.remove_prefix(len);
    return true;
  }
  bool time(timespec& t) {
    int64_t sec = 0;
    uint32_t nsec = 0;
    if (!get(sec) || !get(nsec) || nsec >= 1000000000u) return false;
    t.tv_sec = static_cast<time_t>(sec);
    t.tv_nsec = static_cast<long>(nsec);
    return true;
  }
  bool empty() const { return s_.empty(); }

 private:
  std::string_view s_;
};

}  // namespace

void encode_next_ino(std::string& out, uint64_t next) {
  put_kind(out, ItemKind::next_ino);
  put(out, next);
}

void encode_put_inode(std::string& out, const InodeImage& n) {
  put_kind(out, ItemKind::put_inode);
  put(out, n.ino);
  put(out, n.type);
  put(out, n.mode);
  put(out, n.uid);
  put(out, n.gid);
  put(out, n.nlink);
  put_time(out, n.atime);
  put_time(out, n.mtime);
  put_time(out, n.ctime);
  put_time(out, n.btime);
  put(out, n.parent);
  put(out, n.next_cookie);
  put(out, n.subdirs);
  put_str(out, n.name);
  put_str(out, n.target);
}

void encode_drop_inode(std::string& out, uint64_t ino) {
  put_kind(out, ItemKind::drop_inode);
  put(out, ino);
}

void encode_put_entry(std::string& out, uint64_t dir, std::string_view name, uint64_t ino, uint64_t cookie) {
  put_kind(out, ItemKind::put_entry);
  put(out, dir);
  put(out, ino);
  put(out, cookie);
  put_str(out, name);
}

void encode_del_entry(std::string& out, uint64_t dir, std::string_view name) {
  put_kind(out, ItemKind::del_entry);
  put(out, dir);
  put_str(out, name);
}

void encode_set_xattr(std::string& out, uint64_t ino, std::string_view name, std::string_view value) {
  put_kind(out, ItemKind::set_xattr);
  put(out, ino);
  put_str(out, name);
  put_str(out, value);
}

void encode_del_xattr(std::string& out, uint64_t ino, std::string_view name) {
  put_kind(out, ItemKind::del_xattr);
  put(out, ino);
  put_str(out, name);
}

bool decode_items(std::string_view body, std::vector<Item>& out, std::string& why) {
  Cursor c(body);
  while (!c.empty()) {
    uint8_t kind = 0;
    c.get(kind);
    Item it;
    bool ok = false;
    switch (static_cast<ItemKind>(kind)) {
      case ItemKind::next_ino:
      case ItemKind::drop_inode:
        ok = c.get(it.ino);
        break;
      case ItemKind::put_inode: {
        InodeImage& n = it.inode;
        ok = c.get(n.ino) && c.get(n.type) && c.get(n.mode) && c.get(n.uid) && c.get(n.gid) && c.get(n.nlink) &&
             c.time(n.atime) && c.time(n.mtime) && c.time(n.ctime) && c.time(n.btime) && c.get(n.parent) &&
             c.get(n.next_cookie) && c.get(n.subdirs) && c.str(n.name) && c.str(n.target);
        it.ino = n.ino;
        break;
      }
      case ItemKind::put_entry:
        ok = c.get(it.ino) && c.get(it.child) && c.get(it.cookie) && c.str(it.name);
        break;
      case ItemKind::del_entry:
      case ItemKind::del_xattr:
        ok = c.get(it.ino) && c.str(it.name);
        break;
      case ItemKind::set_xattr:
        ok = c.get(it.ino) && c.str(it.name) && c.str(it.value);
        break;
      default:
        why = "unknown item kind " + std::to_string(kind);
        return false;
    }
    if (!ok) {
      why = "truncated item of kind " + std::to_string(kind);
      return false;
    }
    it.kind = static_cast<ItemKind>(kind);
    out.push_back(std::move(it));
  }
  return true;
}

}  // namespace userfs::server
