// Path parsing is pure: table-driven cases for normalisation and mount
// matching.
#include <catch2/catch.hpp>

#include <string>

#include "path_resolve.hpp"

using namespace userfs::path;

namespace {

std::string norm(const char* in) {
  char out[kPathMax];
  REQUIRE(normalize(in, out, sizeof out));
  return out;
}

}  // namespace

TEST_CASE("normalize folds slashes, dots and dot-dots lexically", "[path]") {
  struct Case { const char* in; const char* out; };
  const Case cases[] = {
      {"/", "/"},
      {"//", "/"},
      {"/a", "/a"},
      {"/a/", "/a/"},
      {"//a//b", "/a/b"},
      {"/a/./b", "/a/b"},
      {"/a/.", "/a/."},
      {"/a/./", "/a/./"},
      {"/a/b/..", "/a/b/.."},
      {"/a/b/../", "/a/b/../"},
      {"/a/b/../c", "/a/c"},
      {"/..", "/.."},
      {"/../../a", "/a"},
      {"/a/../..", "/.."},
      {"/userfs/../etc/passwd", "/etc/passwd"},
      {"/tmp/../userfs/x", "/userfs/x"},
      {"/a/.hidden", "/a/.hidden"},
      {"/a/..b", "/a/..b"},
      {"/a/...", "/a/..."},
  };
  for (const Case& c : cases) {
    INFO(c.in);
    CHECK(norm(c.in) == c.out);
  }
}

TEST_CASE("normalize refuses output that does not fit", "[path]") {
  char out[4];
  CHECK_FALSE(normalize("/abcdef", out, sizeof out));
  CHECK(normalize("/ab", out, sizeof out));
}

TEST_CASE("needs_normalizing spots every form normalize changes", "[path]") {
  CHECK_FALSE(needs_normalizing("/userfs/a/b"));
  CHECK_FALSE(needs_normalizing("/userfs/.hidden/..x"));
  CHECK(needs_normalizing("/userfs//a"));
  CHECK(needs_normalizing("/userfs/./a"));
  CHECK(needs_normalizing("/userfs/a/.."));
  CHECK(needs_normalizing("/userfs/."));
  CHECK(needs_normalizing("/tmp/../userfs"));
}

TEST_CASE("mounts match only at component boundaries", "[path]") {
  MountTable t;
  REQUIRE(parse_mounts("/userfs,/data/x/", t) == 2);
  const char* rel = nullptr;
  CHECK(match(t, "/userfs", &rel) == 0);
  CHECK(std::string(rel) == "");
  CHECK(match(t, "/userfs/a/b", &rel) == 0);
  CHECK(std::string(rel) == "/a/b");
  CHECK(match(t, "/userfsx", &rel) == -1);
  CHECK(match(t, "/userfsx/a", &rel) == -1);
  CHECK(match(t, "/usr", &rel) == -1);
  CHECK(match(t, "/data/x/f", &rel) == 1);
  CHECK(std::string(rel) == "/f");
  CHECK(match(t, "/data/xy", &rel) == -1);
}

TEST_CASE("parse_mounts skips relative, root and empty entries and backend suffixes", "[path]") {
  MountTable t;
  CHECK(parse_mounts("rel,/,,/ok=mem,/a/../b", t) == 2);
  CHECK(std::string(t.mounts[0].prefix) == "/ok");
  CHECK(std::string(t.mounts[1].prefix) == "/b");
  CHECK(parse_mounts("", t) == 0);
  CHECK(parse_mounts(nullptr, t) == 0);
}

TEST_CASE("passes_through_mount spots paths that walk through a mount", "[path]") {
  MountTable t;
  REQUIRE(parse_mounts("/userfs", t) == 1);
  CHECK(passes_through_mount(t, "/userfs/../etc"));
  CHECK(passes_through_mount(t, "/userfs/a/../../tmp"));
  CHECK(passes_through_mount(t, "//userfs//.."));
  CHECK_FALSE(passes_through_mount(t, "/tmp/../etc"));
  CHECK_FALSE(passes_through_mount(t, "/userfsx/../etc"));
  CHECK_FALSE(passes_through_mount(t, "/etc/passwd"));
}

TEST_CASE("may_reach_mount never rejects a path that is or folds into a mount", "[path]") {
  MountTable one;
  REQUIRE(parse_mounts("/userfs", one) == 1);
  CHECK_FALSE(one.multi_component);
  for (const char* p : {"/userfs", "/userfs/a", "//userfs/a", "/tmp/../userfs/a", "/./userfs", "/usr/../userfs"}) {
    INFO(p);
    CHECK(may_reach_mount(one, p));
  }
  // The fast path rejects what cannot be ours without scanning further:
  // another first component (even one sharing the mount's first letters),
  // names that merely contain dots.
  for (const char* p : {"/tmp/a/b", "/etc/passwd", "/tmp/x.c", "/tmp//a", "/dev/shm/f", "/usr/lib/libc.so.6", "/user",
                        "/userfsx/a", "/home/u/.config/x", "/a/..b/.c/...", "/", "/usr/"}) {
    INFO(p);
    CHECK_FALSE(may_reach_mount(one, p));
  }

  MountTable two;
  REQUIRE(parse_mounts("/data/x", two) == 1);
  CHECK(two.multi_component);
  CHECK(may_reach_mount(two, "/data//x/f"));
  CHECK(may_reach_mount(two, "/data/y"));  // first component: look closer
  CHECK_FALSE(may_reach_mount(two, "/tmp//data/x"));
  CHECK_FALSE(may_reach_mount(two, "/tmp/a"));

  MountTable none;
  REQUIRE(parse_mounts("", none) == 0);
  CHECK_FALSE(may_reach_mount(none, "/./userfs"));
}

TEST_CASE("may_reach_mount agrees with matching and folding on every path of a small alphabet", "[path]") {
  // Every path of up to four components from this alphabet: whenever the
  // full test (match as written, match once folded, or a walk through a
  // mount) says "mount", the fast test must say "look closer".
  MountTable t;
  REQUIRE(parse_mounts("/userfs,/data/x", t) == 2);
  const char* parts[] = {"", ".", "..", "userfs", "usr", "userfsx", "data", "x", ".x", "tmp"};
  constexpr int kParts = sizeof parts / sizeof parts[0];
  int checked = 0, reached = 0;
  for (int n = 1; n <= 4; n++) {
    int total = 1;
    for (int i = 0; i < n; i++) total *= kParts;
    for (int code = 0; code < total; code++) {
      std::string path;
      for (int i = 0, c = code; i < n; i++, c /= kParts) path += std::string("/") + parts[c % kParts];
      for (const std::string& p : {path, path + "/"}) {
        char folded[kPathMax];
        const char* rel = nullptr;
        bool in_mount = match(t, p.c_str(), &rel) >= 0 ||
                        (normalize(p.c_str(), folded, sizeof folded) && match(t, folded, &rel) >= 0) ||
                        passes_through_mount(t, p.c_str());
        checked++;
        if (!in_mount) continue;
        reached++;
        INFO(p);
        CHECK(may_reach_mount(t, p.c_str()));
      }
    }
  }
  CHECK(checked > 20000);
  CHECK(reached > 100);
}
