#include "plugin.hpp"

#include <dlfcn.h>

#include <utility>

namespace userfs::server {
namespace {

using AbiFn = uint32_t (*)();
using CreateFn = userfs::Backend* (*)(const char*, char*, size_t);

// The plugin's backend, with the library it came from: every call goes to
// the plugin's object, and the library is closed only after that object
// is deleted (its code and vtable live there).
class PluginBackend final : public userfs::Backend {
 public:
  PluginBackend(void* library, userfs::Backend* inner) : library_(library), inner_(inner) {}
  ~PluginBackend() override {
    delete inner_;
    dlclose(library_);
  }
  PluginBackend(const PluginBackend&) = delete;
  PluginBackend& operator=(const PluginBackend&) = delete;

  bool read_only() const override { return inner_->read_only(); }
  int lookup(uint64_t parent, std::string_view name, Attr& out) override { return inner_->lookup(parent, name, out); }
  int getattr(uint64_t ino, Attr& out) override { return inner_->getattr(ino, out); }
  int setattr(uint64_t ino, const SetattrIn& in, Attr& out) override { return inner_->setattr(ino, in, out); }
  int mkdir(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) override {
    return inner_->mkdir(parent, name, node, out);
  }
  int mknod(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) override {
    return inner_->mknod(parent, name, node, out);
  }
  int create(uint64_t parent, std::string_view name, const NewNode& node, uint32_t flags, Attr& out,
             Opened& opened) override {
    return inner_->create(parent, name, node, flags, out, opened);
  }
  int symlink(std::string_view target, uint64_t parent, std::string_view name, const NewNode& node,
              Attr& out) override {
    return inner_->symlink(target, parent, name, node, out);
  }
  int readlink(uint64_t ino, std::string& out) override { return inner_->readlink(ino, out); }
  int link(uint64_t ino, uint64_t new_parent, std::string_view new_name, Attr& out) override {
    return inner_->link(ino, new_parent, new_name, out);
  }
  int unlink(uint64_t parent, std::string_view name) override { return inner_->unlink(parent, name); }
  int rmdir(uint64_t parent, std::string_view name) override { return inner_->rmdir(parent, name); }
  int rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
             uint32_t flags) override {
    return inner_->rename(parent, name, new_parent, new_name, flags);
  }
  int open(uint64_t ino, uint32_t flags, Opened& out) override { return inner_->open(ino, flags, out); }
  int read(uint64_t ino, uint64_t handle, uint64_t offset, size_t size, std::string& out) override {
    return inner_->read(ino, handle, offset, size, out);
  }
  int write(uint64_t ino, uint64_t handle, uint64_t offset, std::string_view data, size_t& written) override {
    return inner_->write(ino, handle, offset, data, written);
  }
  void release(uint64_t ino, uint64_t handle) override { inner_->release(ino, handle); }
  int fsync(uint64_t ino, bool datasync) override { return inner_->fsync(ino, datasync); }
  int readdir(uint64_t ino, uint64_t cookie, DirFiller& fill) override { return inner_->readdir(ino, cookie, fill); }
  int name_in_parent(uint64_t ino, std::string& out) override { return inner_->name_in_parent(ino, out); }
  int statfs(proto::StatfsRep& out) override { return inner_->statfs(out); }
  int getxattr(uint64_t ino, std::string_view name, std::string& out) override {
    return inner_->getxattr(ino, name, out);
  }
  int setxattr(uint64_t ino, std::string_view name, std::string_view value, uint32_t xflags) override {
    return inner_->setxattr(ino, name, value, xflags);
  }
  int listxattr(uint64_t ino, std::string& out) override { return inner_->listxattr(ino, out); }
  int removexattr(uint64_t ino, std::string_view name) override { return inner_->removexattr(ino, name); }

 private:
  void* library_;
  userfs::Backend* inner_;
};

}  // namespace

std::unique_ptr<userfs::Backend> load_plugin(const std::string& path, const std::string& argument,
                                             std::string& error) {
  error.clear();
  dlerror();
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = dlerror();
    error = "cannot load plugin " + path + ": " + (why != nullptr ? why : "unknown error");
    return nullptr;
  }
  auto abi = reinterpret_cast<AbiFn>(dlsym(library, "userfs_backend_abi"));
  auto create = reinterpret_cast<CreateFn>(dlsym(library, "userfs_backend_create"));
  if (abi == nullptr || create == nullptr) {
    error = "plugin " + path + " exports no userfs_backend_abi and userfs_backend_create (C linkage)";
    dlclose(library);
    return nullptr;
  }
  if (const uint32_t built_for = abi(); built_for != userfs::kBackendAbi) {
    error = "plugin " + path + " was built for backend ABI " + std::to_string(built_for) + ", this server has " +
            std::to_string(userfs::kBackendAbi);
    dlclose(library);
    return nullptr;
  }
  char message[512] = "";
  userfs::Backend* inner = create(argument.c_str(), message, sizeof message);
  if (inner == nullptr) {
    message[sizeof message - 1] = '\0';
    error = "plugin " + path + " refused to start" + (message[0] != '\0' ? std::string(": ") + message : "");
    dlclose(library);
    return nullptr;
  }
  try {
    return std::make_unique<PluginBackend>(library, inner);
  } catch (...) {
    delete inner;
    dlclose(library);
    error = "out of memory loading plugin " + path;
    return nullptr;
  }
}

}  // namespace userfs::server
