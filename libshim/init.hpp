// The shim's settings, read from the environment or the settings file on the
// first call that needs them (never at load time: loading the library costs
// nothing).
#pragma once

#include <sys/un.h>

#include <atomic>

#include "client.hpp"
#include "path_resolve.hpp"

namespace userfs::shim {

enum class TraceLevel : uint8_t { off, mount, all };

// In the order loading writes them: the small members and the start of the
// mount table share the first page of .bss, which the loader has already
// written (see ConfigStorage); `carried`, when there is anything to carry,
// costs one more page.
struct Config {
  char socket[sizeof(sockaddr_un::sun_path)];
  client::Timeouts timeouts;
  TraceLevel trace = TraceLevel::off;
  int trace_fd = 2;  // stderr, or USERFS_TRACE_FILE opened at a high fd
  // This library's absolute path (for a child's LD_PRELOAD), or nullptr.
  const char* library = nullptr;
  path::MountTable mounts;
  // The USERFS_* settings as found ("NAME=value" strings one after another,
  // each NUL-terminated, an empty string last), so a child started with a
  // trimmed environment still gets them.
  char carried[2048];
};

// The settings, initialised on first use (thread-safe): USERFS_* from the
// environment when USERFS_MOUNTS is set, else the root-owned settings file
// (USERFS_CONFIG or /etc/userfs/mounts; see config_file.hpp). In a
// secure-execution process (AT_SECURE) the environment is ignored.
namespace detail {
// All zero bytes until the settings are loaded, which constructs them in
// place: zero-initialised, the 70 KiB of settings live in .bss, so loading
// the library maps, copies and faults in no file data for them. The first
// variable of .bss (init.cpp is linked first, and the flags it would share
// .bss with are in .data): it starts on the page the loader zeroes the
// tail of, so the first call writes no page of its own for the settings.
union ConfigStorage {
  constexpr ConfigStorage() : zero{} {}
  char zero[sizeof(Config)];
  Config cfg;
};
extern ConfigStorage storage;
extern std::atomic<bool> ready;
void load_once();
}  // namespace detail

// Inline: every interposer asks, on the pass-through path too.
inline const Config& config() {
  if (__builtin_expect(!detail::ready.load(std::memory_order_acquire), 0)) detail::load_once();
  return detail::storage.cfg;
}

// No mounts from now on, whatever the settings said: every call passes
// through. Called (through the exported userfs_shim_disable) by programs
// that must not route their own calls, before they start any thread.
void disable();

}  // namespace userfs::shim
