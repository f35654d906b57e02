// Finds the definitions dlsym(RTLD_NEXT, name) would return from the shim,
// for many names at once, without dlsym's per-call cost (error catching,
// the loader lock, a walk of every object): a process's first call into
// the shim resolves ~150 libc functions, and that was most of its cost.
//
// It reads the GNU hash tables of the objects loaded after the shim, in
// load order, up to and including libc: exactly the objects dlsym would
// search first, since everything loaded with the program precedes anything
// dlopen()ed later. A name it cannot settle that way (not defined there, an
// IFUNC, an object without a GNU hash table, the shim not preloaded) is
// left to dlsym.
#pragma once

#include <cstdint>

namespace userfs::real {

// The hash of the GNU hash tables.
constexpr uint32_t gnu_hash(const char* s) {
  uint32_t h = 5381;
  for (; *s != '\0'; ++s) h = h * 33 + static_cast<unsigned char>(*s);
  return h;
}

// A name with its hash computed at compile time: hashing ~170 names at run
// time was a third of the lookups' cost.
struct HashedName {
  consteval HashedName(const char* s) : name(s), hash(gnu_hash(s)) {}
  const char* name;
  uint32_t hash;
};

class NextSymbols {
 public:
  // `self`: any address inside the shim.
  explicit NextSymbols(const void* self);
  // The address, or nullptr when dlsym must decide.
  void* find(const char* name) const { return find(name, gnu_hash(name)); }
  void* find(HashedName n) const { return find(n.name, n.hash); }
  // The shim's file name as the loader has it (as dladdr gives it), or nullptr.
  const char* own_name() const { return own_name_; }

 private:
  void* find(const char* name, uint32_t hash) const;
  static constexpr int kMaxObjects = 32;
  struct Object {
    unsigned long base;
    const void* symtab;
    const char* strtab;
    const unsigned short* versym;
    const unsigned* gnu_hash;
  };
  Object objects_[kMaxObjects];
  int count_ = 0;
  const char* own_name_ = nullptr;
};

}  // namespace userfs::real
