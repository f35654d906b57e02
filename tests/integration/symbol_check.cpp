// Preloaded as the shim is, in front of real programs: for every libc
// function the shim resolves, the shim's own symbol lookup (NextSymbols)
// must find exactly what dlsym(RTLD_NEXT) finds. The names come from the
// file USERFS_SYMBOL_NAMES names, one per line. Checks once at load, and
// again whenever a program calls userfs_symbol_check (after dlopen).
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "symbol_lookup.hpp"

extern "C" __attribute__((visibility("default"))) int userfs_symbol_check(const char* when) {
  const char* list = getenv("USERFS_SYMBOL_NAMES");
  FILE* f = list != nullptr ? fopen(list, "r") : nullptr;
  if (f == nullptr) {
    fprintf(stderr, "symbol check: USERFS_SYMBOL_NAMES names no readable file\n");
    return -1;
  }
  const userfs::real::NextSymbols next(reinterpret_cast<const void*>(&userfs_symbol_check));
  char name[256];
  int names = 0, found = 0, differ = 0;
  while (fscanf(f, "%255s", name) == 1) {
    ++names;
    void* mine = next.find(name);
    if (mine == nullptr) continue;  // left to dlsym: nothing to compare
    ++found;
    void* theirs = dlsym(RTLD_NEXT, name);
    if (mine != theirs) {
      ++differ;
      fprintf(stderr, "symbol check: %s: found %p, dlsym finds %p\n", name, mine, theirs);
    }
  }
  fclose(f);
  // stderr: a program's own output (say, a shell's command substitution)
  // must not change.
  fprintf(stderr, "symbol check %s: %d names, %d found without dlsym, %d differ\n", when, names, found, differ);
  return differ;
}

__attribute__((constructor)) static void check_at_load() { userfs_symbol_check("at load"); }
