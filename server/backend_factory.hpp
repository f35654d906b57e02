// The backend a mount spec names, made ready to serve: the one place the
// server's built-in backends and plugins are chosen by name.
#pragma once

#include <memory>
#include <string>

#include "mounts.hpp"
#include "userfs/backend.hpp"

namespace userfs::server {

// A backend for `spec` of kind dir, tar or so (mem is the server's own,
// built with its limits and state directory in main). Null with `error`
// set ("dir:/srv/data: No such file or directory") when it cannot serve.
std::unique_ptr<userfs::Backend> make_backend(const MountSpec& spec, std::string& error);

}  // namespace userfs::server
