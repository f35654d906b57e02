// The settings file (/etc/userfs/mounts) is parsed by a pure function:
// table-driven cases for what it accepts and what rejects the whole file.
#include <catch2/catch.hpp>

#include <string>

#include "config_file.hpp"

using namespace userfs;

namespace {

struct Parsed {
  const char* why;
  path::MountTable mounts;
  char socket[108];
};

Parsed parse(const std::string& text) {
  static Parsed p;  // MountTable is large
  p.socket[0] = '\0';
  p.why = config_file::parse(text.data(), text.size(), p.mounts, p.socket, sizeof p.socket);
  return p;
}

}  // namespace

TEST_CASE("settings file: mounts, socket, comments and blanks", "[config]") {
  const Parsed& p = parse("# comment\n\n  mount /userfs\n\tmount /data//x/  \nsocket /run/u/sock\r\n   # indented\n");
  REQUIRE(p.why == nullptr);
  REQUIRE(p.mounts.count == 2);
  CHECK(std::string(p.mounts.mounts[0].prefix) == "/userfs");
  CHECK(std::string(p.mounts.mounts[1].prefix) == "/data/x");
  CHECK(p.mounts.mounts[1].len == 7);
  CHECK(std::string(p.socket) == "/run/u/sock");
}

TEST_CASE("settings file: default socket, empty file", "[config]") {
  const Parsed& a = parse("mount /userfs");
  REQUIRE(a.why == nullptr);
  CHECK(a.mounts.count == 1);
  CHECK(std::string(a.socket) == config_file::kSystemSocket);
  const Parsed& b = parse("");
  REQUIRE(b.why == nullptr);
  CHECK(b.mounts.count == 0);
}

TEST_CASE("settings file: anything not understood rejects the whole file", "[config]") {
  const char* bad[] = {
      "mount /userfs\ngarbage\n",
      "mount\n",
      "mount relative\n",
      "mount /a,/b\n",
      "mount /userfs extra\n",
      "mount /\n",
      "mount /userfs\nsocket /a\nsocket /b\n",
      "Mount /userfs\n",
      "socket relative/sock\n",
  };
  for (const char* text : bad) {
    INFO(text);
    const Parsed& p = parse(text);
    CHECK(p.why != nullptr);
    CHECK(p.mounts.count == 0);
  }
  const Parsed& nul = parse(std::string("mount /userfs\n\0", 15));
  CHECK(nul.why != nullptr);
  std::string many;
  for (int i = 0; i <= path::kMaxMounts; i++) many += "mount /m" + std::to_string(i) + "\n";
  CHECK(parse(many).why != nullptr);
  CHECK(parse("socket /" + std::string(200, 'x') + "\n").why != nullptr);
}
