// A server's mounts: which prefix each serves and the filesystem behind
// it. Each mount is one backend under its own path layer (Namespace), with
// its own st_dev and its inode numbers tagged with its index
// (proto::kMountShift), so one server can serve a memory filesystem, a host
// directory and an archive side by side, and a client's requests reach the
// right one by the inode numbers they carry.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "namespace.hpp"
#include "userfs/backend.hpp"

namespace userfs::server {

// "PREFIX=SPEC" as written on the command line or in USERFS_MOUNTS.
// SPEC is one of
//   mem              the in-memory filesystem (the default when "=SPEC" is
//                    left out)
//   dir:PATH         a host directory
//   tar:FILE         a tar, tar.gz, tar.xz or zip archive, read-only
//   so:LIB[:ARG]     a backend plugin (a shared library; ARG is its own)
struct MountSpec {
  std::string prefix;  // absolute, normal form, no trailing '/', not "/"
  std::string kind;    // "mem", "dir", "tar", "so"
  std::string path;    // dir/tar/so: the directory, archive or library
  std::string arg;     // so: the plugin's argument
};

// Parses one "PREFIX[=SPEC]"; false with `error` set on anything malformed
// (a relative or "/" prefix, "." or ".." components, an unknown kind, an
// empty or relative path).
bool parse_mount(std::string_view text, MountSpec& out, std::string& error);

// Parses USERFS_MOUNTS ("/a,/b=dir:/srv"): comma-separated entries (a
// spec's path cannot hold a comma here; --mount takes any). Empty entries
// are skipped. False with `error` naming the bad entry.
bool parse_mount_list(std::string_view list, std::vector<MountSpec>& out, std::string& error);

class Mounts {
 public:
  struct Mount {
    MountSpec spec;
    std::unique_ptr<userfs::Backend> backend;  // what `ns` walks: destroyed after it
    std::unique_ptr<Namespace> ns;
  };

  // Adds the next mount (its index is the count before); false past
  // proto::kMaxMounts or for a prefix already mounted.
  bool add(Mount mount);

  size_t size() const { return mounts_.size(); }
  Namespace* ns(uint32_t index) const { return index < mounts_.size() ? mounts_[index].ns.get() : nullptr; }
  const Mount& at(uint32_t index) const { return mounts_[index]; }
  // The mount serving `prefix`; the first (0) if none has it, so a client
  // naming a prefix this server was not told about still reaches a
  // filesystem, as a single-mount server always did.
  uint32_t index_of_prefix(std::string_view prefix) const;
  // sync/syncfs with no file named: every mount's changes made durable.
  int sync_all();

 private:
  std::vector<Mount> mounts_;
};

}  // namespace userfs::server
