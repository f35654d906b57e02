#include "symbol_lookup.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <string.h>

namespace userfs::real {
namespace {

bool is_libc(const char* path) {
  const char* slash = strrchr(path, '/');
  return strncmp(slash != nullptr ? slash + 1 : path, "libc.so", 7) == 0;
}

// A pointer from a loaded object's dynamic section: the loader has already
// added the load address on most architectures, not where .dynamic is
// read-only.
template <class T>
const T* dynamic_pointer(ElfW(Addr) base, ElfW(Addr) p) {
  return reinterpret_cast<const T*>(p < base ? base + p : p);
}

// A symbol version's hidden bit: "name@VERSION", not the default
// "name@@VERSION" that an unversioned lookup binds to.
constexpr unsigned short kHiddenVersion = 0x8000;

}  // namespace

NextSymbols::NextSymbols(const void* self) {
  Dl_info info;
  struct link_map* own = nullptr;
  if (dladdr1(self, &info, reinterpret_cast<void**>(&own), RTLD_DL_LINKMAP) == 0 || own == nullptr) return;
  own_name_ = own->l_name;
  bool reached_libc = false;
  for (struct link_map* m = own->l_next; m != nullptr && count_ < kMaxObjects; m = m->l_next) {
    Object o{m->l_addr, nullptr, nullptr, nullptr, nullptr};
    for (const ElfW(Dyn)* d = m->l_ld; d != nullptr && d->d_tag != DT_NULL; ++d) {
      switch (d->d_tag) {
        case DT_SYMTAB: o.symtab = dynamic_pointer<ElfW(Sym)>(m->l_addr, d->d_un.d_ptr); break;
        case DT_STRTAB: o.strtab = dynamic_pointer<char>(m->l_addr, d->d_un.d_ptr); break;
        case DT_VERSYM: o.versym = dynamic_pointer<unsigned short>(m->l_addr, d->d_un.d_ptr); break;
        case DT_GNU_HASH: o.gnu_hash = dynamic_pointer<unsigned>(m->l_addr, d->d_un.d_ptr); break;
        default: break;
      }
    }
    // An object we cannot search might define any name: dlsym decides all.
    if (o.symtab == nullptr || o.strtab == nullptr || o.gnu_hash == nullptr) {
      count_ = 0;
      return;
    }
    objects_[count_++] = o;
    if (m->l_name != nullptr && is_libc(m->l_name)) {
      reached_libc = true;
      break;
    }
  }
  if (!reached_libc) count_ = 0;
}

void* NextSymbols::find(const char* name, uint32_t h) const {
  constexpr unsigned kBits = sizeof(ElfW(Addr)) * 8;
  for (int i = 0; i < count_; ++i) {
    const Object& o = objects_[i];
    const uint32_t nbuckets = o.gnu_hash[0];
    const uint32_t symoffset = o.gnu_hash[1];
    const uint32_t bloom_size = o.gnu_hash[2];  // a power of two
    const uint32_t bloom_shift = o.gnu_hash[3];
    if (nbuckets == 0 || bloom_size == 0) continue;
    const auto* bloom = reinterpret_cast<const ElfW(Addr)*>(o.gnu_hash + 4);
    const auto* buckets = reinterpret_cast<const uint32_t*>(bloom + bloom_size);
    const uint32_t* chain = buckets + nbuckets;

    const ElfW(Addr) word = bloom[(h / kBits) & (bloom_size - 1)];
    const ElfW(Addr) mask = (ElfW(Addr){1} << (h % kBits)) | (ElfW(Addr){1} << ((h >> bloom_shift) % kBits));
    if ((word & mask) != mask) continue;  // surely not defined here
    uint32_t idx = buckets[h % nbuckets];
    if (idx < symoffset) continue;

    const auto* syms = static_cast<const ElfW(Sym)*>(o.symtab);
    for (;; ++idx) {
      const uint32_t link = chain[idx - symoffset];
      if ((link | 1) == (h | 1)) {
        const ElfW(Sym)& s = syms[idx];
        const bool usable = s.st_shndx != SHN_UNDEF && s.st_value != 0 &&
                            (o.versym == nullptr || (o.versym[idx] & kHiddenVersion) == 0);
        if (usable && strcmp(o.strtab + s.st_name, name) == 0) {
          // A plain function is what dlsym would return; anything else
          // (an IFUNC needs its resolver run) is dlsym's to answer.
          if (ELF64_ST_TYPE(s.st_info) != STT_FUNC) return nullptr;  // the same for ELF32
          return reinterpret_cast<void*>(o.base + s.st_value);
        }
      }
      if ((link & 1) != 0) break;
    }
  }
  return nullptr;
}

}  // namespace userfs::real
