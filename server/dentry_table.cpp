#include "dentry_table.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace userfs::server {

namespace {

using table::Entry;
using table::Header;

void store(uint64_t* p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
void store(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

using table::is_dir;
using table::is_link;
using table::is_reg;

// A readdir filler that keeps the names.
struct Names final : userfs::DirFiller {
  std::vector<std::string> names;
  uint64_t last = 0;
  bool add(std::string_view name, uint64_t, uint8_t, uint64_t cookie) override {
    names.emplace_back(name);
    last = cookie;
    return true;
  }
};

}  // namespace

std::unique_ptr<DentryTable> DentryTable::create(uint32_t max_entries, std::string& why) {
  std::unique_ptr<DentryTable> t(new DentryTable());
  uint32_t slots = 1024;
  while (slots < max_entries * uint64_t{2}) slots <<= 1;
  const uint64_t index_offset = table::kHeaderBytes;
  const uint64_t entries_offset = (index_offset + uint64_t{slots} * 4 + 63) / 64 * 64;
  const uint64_t total = entries_offset + uint64_t{max_entries} * sizeof(Entry);

  int fd = memfd_create("userfs-table", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    why = std::string("memfd_create: ") + std::strerror(errno);
    return nullptr;
  }
  t->fd_.reset(fd);
  if (ftruncate(fd, static_cast<off_t>(total)) != 0) {
    why = std::string("ftruncate: ") + std::strerror(errno);
    return nullptr;
  }
  void* map = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    why = std::string("mmap: ") + std::strerror(errno);
    return nullptr;
  }
  t->map_ = map;
  t->bytes_ = total;
  auto* h = static_cast<Header*>(map);
  h->magic = table::kMagic;
  h->version = table::kLayoutVersion;
  h->entry_size = sizeof(Entry);
  h->index_slots = slots;
  h->max_entries = max_entries;
  h->index_offset = index_offset;
  h->entries_offset = entries_offset;
  h->total_bytes = total;
  h->seq = 0;
  h->published = 0;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&h->alive, &attr);
  pthread_mutexattr_destroy(&attr);
  pthread_mutex_lock(&h->alive);
  t->header_ = h;
  t->index_ = reinterpret_cast<uint32_t*>(static_cast<char*>(map) + index_offset);
  t->entries_ = reinterpret_cast<Entry*>(static_cast<char*>(map) + entries_offset);
  t->slot_of_.resize(max_entries);
  t->known_.reserve(kKnownMax);
  // From here on only our own mapping can write it: clients cannot map it
  // writable or write(2) to it, whatever fd they reopen.
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    why = std::string("sealing: ") + std::strerror(errno);
    return nullptr;
  }
  return t;
}

DentryTable::~DentryTable() {
  detach_all();
  if (header_ != nullptr) pthread_mutex_unlock(&header_->alive);
  if (map_ != nullptr) munmap(map_, bytes_);
}

void DentryTable::detach_all() {
  for (auto& f : feeds_) f->ns->backend().set_change_listener(nullptr);
  feeds_.clear();
  if (header_ == nullptr) return;
  // Inside a write turn, so no read section spans the change unnoticed.
  begin();
  store(&header_->published, 0);
  end();
}

int DentryTable::client_fd() const {
  char path[40];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd_.get());
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

bool DentryTable::add_mount(uint32_t index, Namespace& ns) {
  if (index >= 32 || overflowed_) return false;
  auto feed = std::make_unique<Feed>();
  feed->table = this;
  feed->ns = &ns;
  feed->index = index;
  if (!ns.backend().set_change_listener(feed.get())) return false;
  feeds_.push_back(std::move(feed));
  const uint64_t root = ns.ino_tag() | proto::kRootIno;
  begin();
  proto::Attr attr{};
  if (ns.getattr(root, attr) == 0) {
    put(root, table::kSelf, attr, root);
    populate(ns, root);
  }
  if (!overflowed_) store(&header_->published, header_->published | (1U << index));
  end();
  return !overflowed_;
}

Namespace* DentryTable::ns_of(uint64_t ino) const {
  for (const auto& f : feeds_)
    if (f->ns->ino_tag() == (ino & ~kMaxBackendIno)) return f->ns;
  return nullptr;
}

// The whole tree under `top`, depth first with our own stack.
void DentryTable::populate(Namespace& ns, uint64_t top) {
  std::vector<uint64_t> dirs{top};
  while (!dirs.empty() && !overflowed_) {
    const uint64_t dir = dirs.back();
    dirs.pop_back();
    Names names;
    uint64_t cookie = 0;
    for (;;) {
      const size_t before = names.names.size();
      if (ns.backend().readdir(dir & kMaxBackendIno, cookie, names) != 0 || names.names.size() == before) break;
      cookie = names.last;
    }
    for (const std::string& name : names.names) {
      if (name == "." || name == "..") continue;
      proto::Attr attr{};
      const int rc = ns.entry(dir, name, attr);
      publish_name(dir, name, rc, attr);
      if (rc != 0) continue;
      if (is_dir(attr)) dirs.push_back(attr.ino);
      // Data a client of an earlier server may still be writing.
      if (is_reg(attr) && !ns.data_quiet(attr.ino)) {
        writable_.insert(attr.ino);
        known(attr.ino).refreshed = false;
        refresh_inode(attr.ino);
      }
    }
  }
}

void DentryTable::Feed::name_changed(uint64_t dir, std::string_view name) {
  table->pending_names_.emplace_back(dir | ns->ino_tag(), std::string(name));
}
void DentryTable::Feed::attr_changed(uint64_t ino) { table->pending_inos_.push_back(ino | ns->ino_tag()); }
void DentryTable::Feed::data_writable(uint64_t ino) {
  table->writable_.insert(ino | ns->ino_tag());
  table->pending_inos_.push_back(ino | ns->ino_tag());
}

void DentryTable::reported(uint64_t ino) {
  if (writable_.count(ino) != 0) pending_settle_.push_back(ino);
}

void DentryTable::flush() {
  if (pending_names_.empty() && pending_inos_.empty() && pending_settle_.empty()) return;
  if (overflowed_) {
    pending_names_.clear();
    pending_inos_.clear();
    pending_settle_.clear();
    return;
  }
  begin();
  for (const auto& [dir, name] : pending_names_) refresh_name(dir, name);
  for (uint64_t ino : pending_settle_) {
    Namespace* ns = ns_of(ino);
    if (ns != nullptr && ns->data_quiet(ino)) {
      writable_.erase(ino);
      known(ino).refreshed = false;  // its flags changed: write it again
      pending_inos_.push_back(ino);
    }
  }
  for (uint64_t ino : pending_inos_) refresh_inode(ino);
  end();
  pending_names_.clear();
  pending_inos_.clear();
  pending_settle_.clear();
}

DentryTable::Known& DentryTable::known(uint64_t ino) {
  for (Known& k : known_)
    if (k.ino == ino) return k;
  // Forgetting only costs a second read: a flush over many inodes (a whole
  // tree at start) starts over.
  if (known_.size() >= kKnownMax) known_.clear();
  Known& k = known_.emplace_back();
  k.ino = ino;
  return k;
}

bool DentryTable::attrs_of(uint64_t ino, proto::Attr& out) {
  Known& k = known(ino);
  if (!k.have_attr) {
    Namespace* ns = ns_of(ino);
    if (ns == nullptr || ns->getattr(ino, k.attr) != 0) return false;
    k.have_attr = true;
  }
  out = k.attr;
  return true;
}

const DentryTable::DataId& DentryTable::data_id_of(uint64_t ino) {
  Known& k = known(ino);
  if (!k.have_data) {
    // Where clients open it for reading, and what they check they opened.
    const Namespace* ns = ns_of(ino);
    const int fd = ns != nullptr ? ns->data_source(ino) : -1;
    struct stat st {};
    k.data = fd >= 0 && fstat(fd, &st) == 0 ? DataId{fd, st.st_dev, st.st_ino} : DataId{};
    k.have_data = true;
  }
  return k.data;
}

void DentryTable::refresh_name(uint64_t parent, const std::string& name) {
  Namespace* ns = ns_of(parent);
  if (ns == nullptr) return;
  proto::Attr attr{};
  const int rc = ns->entry(parent, name, attr);
  publish_name(parent, name, rc, attr);
}

void DentryTable::publish_name(uint64_t parent, const std::string& name, int rc, const proto::Attr& attr) {
  if (rc == 0) {
    Known& k = known(attr.ino);
    k.attr = attr;
    k.have_attr = true;
  }
  if (name.size() > table::kMaxName) {
    // Not publishable: its directory says so, and misses there are asked.
    const auto key = std::make_pair(parent, name);
    const bool had = long_names_.count(key) != 0;
    if (rc == 0 && !had) {
      long_names_.insert(key);
      ++long_count_[parent];
    } else if (rc != 0 && had) {
      long_names_.erase(key);
      if (--long_count_[parent] == 0) long_count_.erase(parent);
    }
    known(parent).refreshed = false;  // its flags may have changed: write it again
    refresh_inode(parent);
    return;
  }
  Key key{parent, name};
  auto it = where_.find(key);
  if (it != where_.end()) {
    if (rc == 0 && entries_[it->second].attr.ino == attr.ino) {
      refresh_inode(attr.ino);
      return;
    }
    remove(key);
  }
  if (rc != 0) return;
  put(parent, name, attr, 0);
  // The inode's self entry; a directory's records where it now lives.
  Key self{attr.ino, std::string(table::kSelf)};
  auto s = where_.find(self);
  if (s == where_.end()) {
    put(attr.ino, table::kSelf, attr, is_dir(attr) ? parent : 0);
  } else if (is_dir(attr)) {
    write_entry(s->second, attr.ino, table::kSelf, attr, parent, flags_for(attr, attr.ino));
  } else {
    return;  // a new name of a file with others: those are not rewritten
  }
  // A new inode or a directory (one name): all its entries are current.
  known(attr.ino).refreshed = true;
}

void DentryTable::refresh_inode(uint64_t ino) {
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end() && writable_.count(ino) == 0) return;
  if (Known& k = known(ino); k.refreshed) {
    return;  // done this flush
  } else {
    k.refreshed = true;
  }
  proto::Attr attr{};
  const bool gone = !attrs_of(ino, attr);
  if (it == by_ino_.end()) {
    // Not in the table (no name left); once gone, nothing to remember.
    if (gone) writable_.erase(ino);
    return;
  }
  if (gone) {
    drop_inode(ino);
    return;
  }
  const uint16_t flags = flags_for(attr, ino);
  for (uint32_t e : it->second) {
    const Entry& old = entries_[e];
    write_entry(e, old.parent, std::string_view(old.name, old.name_len), attr, old.up, flags);
  }
}

void DentryTable::drop_inode(uint64_t ino) {
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return;
  std::vector<Key> keys;
  for (uint32_t e : it->second) {
    const Entry& en = entries_[e];
    keys.push_back(Key{en.parent, std::string(en.name, en.name_len)});
  }
  for (const Key& k : keys) remove(k);
  writable_.erase(ino);
}

uint16_t DentryTable::flags_for(const proto::Attr& attr, uint64_t ino) const {
  uint16_t flags = 0;
  if ((attr.mode & S_IFMT) == S_IFREG && writable_.count(ino) != 0) flags |= table::kVolatile;
  if (is_dir(attr) && long_count_.count(ino) != 0) flags |= table::kIncomplete;
  return flags;
}

void DentryTable::put(uint64_t parent, std::string_view name, const proto::Attr& attr, uint64_t up) {
  if (overflowed_) return;
  uint32_t e;
  if (!free_.empty()) {
    e = free_.back();
    free_.pop_back();
  } else if (next_unused_ < header_->max_entries) {
    e = next_unused_++;
  } else {
    overflow();
    return;
  }
  if ((where_.size() + 1 + removed_slots_) * 4 > uint64_t{header_->index_slots} * 3) rebuild_index();
  write_entry(e, parent, name, attr, up, flags_for(attr, attr.ino));
  const uint32_t slot = free_slot(table::hash_key(parent, name));
  if (index_[slot] == table::kSlotRemoved) --removed_slots_;
  set_slot(slot, e + table::kSlotFirst);
  slot_of_[e] = slot;
  where_.emplace(Key{parent, std::string(name)}, e);
  by_ino_[attr.ino].push_back(e);
}

void DentryTable::remove(const Key& key) {
  auto it = where_.find(key);
  if (it == where_.end()) return;
  const uint32_t e = it->second;
  const uint64_t ino = entries_[e].attr.ino;
  where_.erase(it);
  set_slot(slot_of_[e], table::kSlotRemoved);
  ++removed_slots_;
  store(&entries_[e].parent, 0);
  free_.push_back(e);
  auto owners = by_ino_.find(ino);
  if (owners == by_ino_.end()) return;
  auto& list = owners->second;
  list.erase(std::remove(list.begin(), list.end(), e), list.end());
  if (list.empty()) {
    by_ino_.erase(owners);
    return;
  }
  // Its last name gone, an inode leaves the table (an open fd's fstat then
  // asks the server). It stays known as writable: a rename takes the old
  // name away before the new one comes, and the file lives on while open.
  if (key.name != table::kSelf && list.size() == 1 && entries_[list[0]].parent == ino)
    remove(Key{ino, std::string(table::kSelf)});
}

void DentryTable::write_entry(uint32_t e, uint64_t parent, std::string_view name, const proto::Attr& attr,
                              uint64_t up, uint16_t flags) {
  Entry local{};
  local.parent = parent;
  local.up = up;
  local.hash = static_cast<uint32_t>(table::hash_key(parent, name));
  local.name_len = static_cast<uint16_t>(name.size());
  local.flags = flags;
  local.attr = attr;
  local.data_fd = -1;
  if (is_reg(attr)) {
    const DataId& data = data_id_of(attr.ino);
    local.data_fd = data.fd;
    local.data_dev = data.dev;
    local.data_ino = data.ino;
  }
  std::memcpy(local.name, name.data(), name.size());
  if (name == table::kSelf && is_link(attr)) {
    // Its target, after ".\0", if it fits: walks then follow it here.
    std::string target;
    const Namespace* ns = ns_of(attr.ino);
    if (ns != nullptr && ns->link_target(attr.ino, target) == 0 && !target.empty() &&
        target.size() <= table::kMaxTarget) {
      std::memcpy(local.name + 2, target.data(), target.size());
      local.target_len = static_cast<uint32_t>(target.size());
    }
  }
  uint64_t words[sizeof(Entry) / 8];
  std::memcpy(words, &local, sizeof words);
  auto* dst = reinterpret_cast<uint64_t*>(&entries_[e]);
  for (size_t i = 0; i < sizeof(Entry) / 8; i++) store(&dst[i], words[i]);
}

void DentryTable::set_slot(uint32_t slot, uint32_t value) { store(&index_[slot], value); }

uint32_t DentryTable::free_slot(uint64_t hash) const {
  const uint32_t mask = header_->index_slots - 1;
  uint32_t slot = static_cast<uint32_t>(hash) & mask;
  while (index_[slot] >= table::kSlotFirst) slot = (slot + 1) & mask;
  return slot;
}

void DentryTable::rebuild_index() {
  for (uint32_t i = 0; i < header_->index_slots; i++) set_slot(i, table::kSlotEmpty);
  removed_slots_ = 0;
  for (const auto& [key, e] : where_) {
    const uint32_t slot = free_slot(table::hash_key(key.parent, key.name));
    set_slot(slot, e + table::kSlotFirst);
    slot_of_[e] = slot;
  }
}

// Out of entries: clients go back to asking the server for everything.
void DentryTable::overflow() {
  if (overflowed_) return;
  overflowed_ = true;
  store(&header_->published, 0);
  std::fprintf(stderr, "userfsd: the lookup table is full (%u entries; --table-entries): lookups go to the server\n",
               header_->max_entries);
}

void DentryTable::begin() {
  if (writing_) return;
  writing_ = true;
  store(&header_->seq, header_->seq + 1);
  __atomic_thread_fence(__ATOMIC_RELEASE);
}

void DentryTable::end() {
  if (!writing_) return;
  writing_ = false;
  known_.clear();
  __atomic_store_n(&header_->seq, header_->seq + 1, __ATOMIC_RELEASE);
}

}  // namespace userfs::server
