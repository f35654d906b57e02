#include "backend_factory.hpp"

#include "dir_backend.hpp"
#include "plugin.hpp"
#include "tar_backend.hpp"

namespace userfs::server {

std::unique_ptr<userfs::Backend> make_backend(const MountSpec& spec, std::string& error) {
  std::string why;
  // These two messages name the spec already.
  if (spec.kind == "dir") return DirBackend::open(spec.path, error);
  if (spec.kind == "so") return load_plugin(spec.path, spec.arg, error);
  std::unique_ptr<userfs::Backend> backend;
  if (spec.kind == "tar") {
    backend = TarBackend::open(spec.path, why);  // "<path>: <reason>"
  } else {
    why = spec.path + ": no such backend";
  }
  if (backend == nullptr) error = spec.kind + ":" + why;
  return backend;
}

}  // namespace userfs::server
