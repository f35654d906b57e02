// Backends built as shared libraries ("so:/path/lib.so[:argument]"): see
// the end of include/userfs/backend.hpp for what a plugin exports.
#pragma once

#include <memory>
#include <string>

#include "userfs/backend.hpp"

namespace userfs::server {

// Loads the plugin at `path` (dlopen with RTLD_NOW | RTLD_LOCAL: every
// symbol it needs resolved now, none of its own visible to others), checks
// it was built for this kBackendAbi and asks it for a backend made from
// `argument`. The library stays loaded for as long as the backend lives
// (the backend returned owns it). Null with `error` set (one line, for
// the server to print) on any failure.
std::unique_ptr<userfs::Backend> load_plugin(const std::string& path, const std::string& argument,
                                             std::string& error);

}  // namespace userfs::server
