// Who may connect (userfsd --allow-users): the server's own uid always,
// others by uid, name, @group or *, judged on the kernel's credentials.
#include <catch2/catch.hpp>

#include <string>

#include "peer_policy.hpp"

using userfs::server::Cred;
using userfs::server::PeerPolicy;

namespace {

constexpr uid_t kServer = 1000;

Cred peer(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  Cred c;
  c.uid = uid;
  c.gid = gid;
  c.groups = std::move(groups);
  return c;
}

}  // namespace

TEST_CASE("peer policy: by default only the server's own uid, not even root", "[peers]") {
  const PeerPolicy p;
  CHECK(p.admits(peer(kServer, 5), kServer));
  CHECK_FALSE(p.admits(peer(0, 0), kServer));
  CHECK_FALSE(p.admits(peer(1001, kServer, {kServer}), kServer));
  CHECK_FALSE(p.admits_others());
}

TEST_CASE("peer policy: uids, names, groups and everyone", "[peers]") {
  PeerPolicy p;
  std::string why;
  REQUIRE(p.add("4242,root", why));
  REQUIRE(p.add("@77", why));
  CHECK(p.admits_others());
  CHECK(p.admits(peer(4242, 1), kServer));
  CHECK(p.admits(peer(0, 0), kServer));                 // "root" by name
  CHECK(p.admits(peer(5000, 77), kServer));             // primary group
  CHECK(p.admits(peer(5000, 1, {3, 77, 9}), kServer));  // supplementary group
  CHECK_FALSE(p.admits(peer(5000, 1, {3, 9}), kServer));
  CHECK_FALSE(p.admits(peer(4243, 4242), kServer));     // a gid is not a uid

  PeerPolicy everyone;
  REQUIRE(everyone.add("*", why));
  CHECK(everyone.admits(peer(123456, 123456), kServer));
}

TEST_CASE("peer policy: malformed lists are refused with a reason", "[peers]") {
  for (const char* bad : {"", ",", "root,", ",root", "root,,4242", "@", "no-such-user-x9", "@no-such-group-x9",
                          "-1", "4294967295"}) {
    PeerPolicy p;
    std::string why;
    INFO(bad);
    CHECK_FALSE(p.add(bad, why));
    CHECK_FALSE(why.empty());
  }
}
