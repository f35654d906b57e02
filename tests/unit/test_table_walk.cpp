// The client's walk over the shared lookup table (include/userfs/table_walk.hpp)
// against the server's path layer: for a varied tree, thousands of paths
// (absolute, relative to directory bases, with ".", "..", empty components,
// symlinks, missing names, files taken for directories) and several callers,
// table::walk_consistent must give exactly what Namespace::lookup gives, or
// kAsk. Never another definite answer. And it must answer definitively often
// enough that always asking could not pass.
//
// As tests/unit/test_dentry_table.cpp: a Namespace over a MemBackend, the
// table flushed after every request as the dispatcher does, and read through
// a client's read-only mapping with table::View.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "table_fixtures.hpp"
#include "userfs/permission.hpp"
#include "userfs/table_walk.hpp"

using namespace userfs;
using namespace userfs::server;
using namespace userfs::test_table;

namespace {

// --- the comparison ------------------------------------------------------------

struct Caller {
  const char* label;
  Cred cred;
};

std::vector<Caller> callers() {
  return {
      {"root", Cred{0, 0, {}}},
      {"owner 1000:1000", Cred{1000, 1000, {}}},
      {"1001:1001 +group 1000", Cred{1001, 1001, {1000}}},
      {"65534:65534 no groups", Cred{65534, 65534, {}}},
  };
}

perm::Caller caller_of(const Cred& c) {
  static_assert(sizeof(gid_t) == sizeof(uint32_t));
  return perm::Caller{c.uid, c.gid, reinterpret_cast<const uint32_t*>(c.groups.data()), c.groups.size()};
}

struct Query {
  uint64_t base = proto::kBaseRoot;  // kBaseRoot or a tagged inode number
  std::string path;
  // An existing path through no symlink and no name the table cannot hold,
  // with no "." or "..": what the table is for.
  bool plain = false;
};

struct Stats {
  size_t total = 0, definite = 0, ask = 0, plain = 0, plain_definite = 0, redirected = 0, hits = 0, errors = 0;
  size_t volatile_hits = 0;  // found entries whose size is not compared
  size_t mismatches = 0;
  std::map<int, size_t> by_rc;  // definite answers by rc
  void add(const Stats& o) {
    total += o.total;
    definite += o.definite;
    ask += o.ask;
    plain += o.plain;
    plain_definite += o.plain_definite;
    redirected += o.redirected;
    hits += o.hits;
    errors += o.errors;
    volatile_hits += o.volatile_hits;
    mismatches += o.mismatches;
    for (auto [rc, n] : o.by_rc) by_rc[rc] += n;
  }
};

// A path for a message: runs of one byte longer than 12 shown as <c x N>,
// bytes outside printable ASCII as \xNN.
std::string show_path(std::string_view p) {
  std::string out = "\"";
  for (size_t i = 0; i < p.size();) {
    size_t j = i;
    while (j < p.size() && p[j] == p[i]) j++;
    if (j - i > 12) {
      out += "<" + std::string(1, p[i]) + " x " + std::to_string(j - i) + ">";
      i = j;
      continue;
    }
    const auto c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
    i++;
  }
  return out + "\" (" + std::to_string(p.size()) + " bytes)";
}

std::string show_rc(int rc) {
  if (rc == table::kAsk) return "kAsk";
  if (rc == kRedirected) return "kRedirected";
  if (rc == 0) return "0";
  const char* name = strerrorname_np(-rc);
  return std::to_string(rc) + " (" + (name != nullptr ? name : "?") + ")";
}

std::string show_attr(const proto::Attr& a) {
  std::ostringstream o;
  o << std::hex << "ino 0x" << a.ino << std::oct << " mode 0" << a.mode << std::dec << " nlink " << a.nlink
    << " uid " << a.uid << " gid " << a.gid << " dev 0x" << std::hex << a.dev << std::dec << " size " << a.size;
  return o.str();
}

class Checker {
 public:
  Checker(Served& fs, const View& v) : fs_(fs), v_(v) {}

  // Names for bases in messages.
  std::map<uint64_t, std::string> base_names;
  std::vector<std::string> reports;  // every mismatch, described

  // One query, one caller, one follow: walk vs lookup.
  void compare(const Query& q, const Caller& who, bool follow, Stats& st, const std::string& round) {
    proto::Attr want{};
    const int server = fs_.ns.lookup(q.base, q.path, follow ? Follow::yes : Follow::no, who.cred, want);
    const perm::Caller caller = caller_of(who.cred);
    Entry got{};
    const uint64_t root = fs_.root_ino();
    const uint64_t start = q.base == proto::kBaseRoot ? root : q.base;
    const int walk = table::walk_consistent(v_, root, start, q.path, follow, caller, got);
    st.total++;
    if (q.plain) st.plain++;
    if (server == kRedirected) st.redirected++;
    if (walk == table::kAsk) {
      st.ask++;
      return;
    }
    st.definite++;
    st.by_rc[walk]++;
    if (q.plain) st.plain_definite++;
    if (walk == 0)
      st.hits++;
    else
      st.errors++;

    std::string why;
    if (walk > 0)
      why = "walk returned a positive value that is not kAsk";
    else if (walk != server)
      why = "different result";
    else if (walk == 0) {
      const proto::Attr& t = got.attr;
      const bool size_known = (got.flags & table::kVolatile) == 0;
      if (!size_known) st.volatile_hits++;
      if (t.ino != want.ino || t.mode != want.mode || t.nlink != want.nlink || t.uid != want.uid ||
          t.gid != want.gid || t.dev != want.dev || (size_known && t.size != want.size))
        why = "different attributes";
      else if (!size_known && (want.mode & S_IFMT) != S_IFREG)
        why = "a volatile entry that is not a regular file";
    }
    if (why.empty()) return;
    st.mismatches++;
    std::ostringstream o;
    o << "[" << round << "] " << why << ": path " << show_path(q.path) << ", base " << base_label(q.base)
      << ", caller " << who.label << ", follow " << (follow ? "true" : "false") << "; walk " << show_rc(walk);
    if (walk == 0) o << " {" << show_attr(got.attr) << " flags " << got.flags << "}";
    o << ", server " << show_rc(server);
    if (server == 0) o << " {" << show_attr(want) << "}";
    reports.push_back(o.str());
  }

  std::string base_label(uint64_t base) const {
    if (base == proto::kBaseRoot) return "kBaseRoot";
    std::ostringstream o;
    o << "0x" << std::hex << base;
    auto it = base_names.find(base);
    if (it != base_names.end()) o << " (" << it->second << ")";
    return o.str();
  }

  Stats run(const std::vector<Query>& queries, const std::string& round) {
    Stats st;
    for (const Caller& who : callers())
      for (bool follow : {false, true})
        for (const Query& q : queries) compare(q, who, follow, st, round);
    return st;
  }

 private:
  Served& fs_;
  const View& v_;
};

// --- the paths ------------------------------------------------------------------

std::string join(const std::vector<std::string>& parts, bool absolute) {
  std::string out = absolute ? "/" : "";
  for (size_t i = 0; i < parts.size(); i++) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out;
}

struct Generator {
  std::mt19937_64 rng;
  explicit Generator(uint64_t seed) : rng(seed) {}

  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }
};

// A base directory: its tagged number, and its path now (empty string for
// the root; unset when it is no longer in the tree).
struct Base {
  uint64_t ino;
  bool in_tree;
  std::string path;
};

// Every query of a round: from the tree as it is now, and the bases known
// (including ones removed or moved since).
std::vector<Query> make_queries(Generator& g, const std::map<std::string, proto::Attr>& tree,
                                const std::vector<Base>& bases, const std::vector<uint64_t>& odd_bases) {
  std::vector<Query> out;
  std::set<std::pair<uint64_t, std::string>> seen;
  auto add = [&](uint64_t base, std::string path, bool plain = false) {
    if (!seen.insert({base, path}).second) {
      // Already there: keep it plain if either copy is.
      if (plain)
        for (Query& q : out)
          if (q.base == base && q.path == path) q.plain = true;
      return;
    }
    out.push_back(Query{base, std::move(path), plain});
  };

  // What is a symlink, what is long, along each path.
  auto is_link = [&](const std::string& p) {
    auto it = tree.find(p);
    return it != tree.end() && (it->second.mode & S_IFMT) == S_IFLNK;
  };
  auto through_plain = [&](const std::string& p) {
    const std::vector<std::string> parts = components(p);
    std::string prefix;
    for (const std::string& c : parts) {
      prefix = prefix.empty() ? c : prefix + "/" + c;
      if (c.size() > table::kMaxName || is_link(prefix)) return false;
    }
    return true;
  };

  // Vocabulary for random paths: every name in the tree, and more.
  std::vector<std::string> vocab{".", "..", "", "missing", "nope", "x", "...", " "};
  {
    std::set<std::string> names;
    for (const auto& [p, a] : tree) names.insert(components(p).back());
    vocab.insert(vocab.end(), names.begin(), names.end());
  }
  std::vector<std::string> paths;
  for (const auto& [p, a] : tree) paths.push_back(p);

  std::vector<uint64_t> all_bases;
  for (const Base& b : bases) all_bases.push_back(b.ino);
  all_bases.insert(all_bases.end(), odd_bases.begin(), odd_bases.end());

  // A path with one of a few changes made at random places.
  auto mangle = [&](std::vector<std::string> parts, bool& absolute) {
    const size_t ops = 1 + g.below(3);
    for (size_t k = 0; k < ops; k++) {
      const size_t at = g.below(parts.size() + 1);
      switch (g.below(10)) {
        case 0:
          parts.insert(parts.begin() + static_cast<long>(at), ".");
          break;
        case 1:  // x/.. for a name x that may or may not exist, be a file, a link
          parts.insert(parts.begin() + static_cast<long>(at), "..");
          parts.insert(parts.begin() + static_cast<long>(at), g.pick(vocab));
          break;
        case 2:
          parts.insert(parts.begin() + static_cast<long>(at), "..");
          break;
        case 3:
          parts.insert(parts.begin() + static_cast<long>(at), "");  // "a//b"
          break;
        case 4:
          if (!parts.empty()) parts[g.below(parts.size())] = g.chance(50) ? "missing" : g.pick(vocab);
          break;
        case 5:
          parts.push_back(g.chance(50) ? "" : (g.chance(50) ? "." : ".."));  // "p/", "p/.", "p/.."
          break;
        case 6:
          parts.insert(parts.begin(), "..");  // "../p", "/../p"
          break;
        case 7:
          absolute = !absolute;
          break;
        case 8:
          parts.push_back(g.pick(vocab));
          break;
        default:
          if (!parts.empty()) parts.erase(parts.begin() + static_cast<long>(g.below(parts.size())));
          break;
      }
    }
    return parts;
  };

  // Every existing path, in the plain forms and with variations.
  for (const auto& [p, a] : tree) {
    const bool plain = through_plain(p);
    const bool dir = (a.mode & S_IFMT) == S_IFDIR;
    add(proto::kBaseRoot, "/" + p, plain);
    add(proto::kBaseRoot, p, plain);
    add(proto::kBaseRoot, p + "/", plain);
    add(proto::kBaseRoot, "/" + p + "//", plain);
    add(proto::kBaseRoot, "//" + p);
    add(proto::kBaseRoot, "./" + p);
    add(proto::kBaseRoot, p + "/.");
    add(proto::kBaseRoot, p + "/..");
    add(proto::kBaseRoot, "/../" + p);
    add(proto::kBaseRoot, "../" + p);
    add(proto::kBaseRoot, p + "/missing");
    add(proto::kBaseRoot, p + "/missing/x");
    add(proto::kBaseRoot, p + "/x/");
    add(proto::kBaseRoot, p + "/../" + components(p).back());
    if (!dir) add(proto::kBaseRoot, p + "/.//");
    {
      std::string doubled = p;
      const size_t slash = doubled.find('/');
      if (slash != std::string::npos) add(proto::kBaseRoot, doubled.insert(slash, "/"));
    }
    for (int k = 0; k < 4; k++) {
      bool absolute = g.chance(50);
      const std::vector<std::string> parts = mangle(components(p), absolute);
      add(g.chance(80) ? proto::kBaseRoot : g.pick(all_bases), join(parts, absolute));
    }
    // Relative to bases: from a few of them at random, and from every base
    // the path lies under.
    for (const Base& b : bases) {
      if (!b.in_tree) continue;
      const bool under = b.path.empty() || p.compare(0, b.path.size() + 1, b.path + "/") == 0;
      if (!under && !g.chance(15)) continue;
      std::string rel;
      bool rel_plain = plain;
      if (b.path.empty()) {
        rel = p;
      } else if (under) {
        rel = p.substr(b.path.size() + 1);
      } else {
        rel_plain = false;
        for (size_t k = 0; k < components(b.path).size(); k++) rel += "../";
        rel += p;
      }
      add(b.ino, rel, rel_plain);
      add(b.ino, rel + "/", rel_plain);
      add(b.ino, "/" + p, plain);
      if (g.chance(30)) add(b.ino, "./" + rel);
      // One ".." too many: above the mount root.
      if (g.chance(30)) {
        std::string up;
        for (size_t k = 0; k <= components(b.path).size(); k++) up += "../";
        add(b.ino, up + p);
      }
      if (g.chance(30)) {
        bool absolute = false;
        add(b.ino, join(mangle(components(rel), absolute), absolute));
      }
    }
  }

  // From every base: itself (AT_EMPTY_PATH), ".", "..", a few levels up,
  // missing names, slashes only.
  for (uint64_t b : all_bases) {
    for (const char* p : {"", ".", "./", "..", "../", "../..", "../../..", "/..", "/", "//", "missing", "missing/",
                          "./missing", "../missing", "..//.", ".//..//", "x/..", "missing/.."})
      add(b, p);
  }
  for (const char* p : {"", "/", "//", ".", "..", "/..", "/../..", "../x", "a/../../x", "/./", "missing", "/missing/..",
                        "/.", "./.", "./..", "x//y", "///"})
    add(proto::kBaseRoot, p);

  // Names the server refuses as too long, a path too long, a name of
  // exactly the table's limit that does not exist.
  add(proto::kBaseRoot, std::string(256, 'q'));
  add(proto::kBaseRoot, std::string(table::kMaxName, 'q'));
  add(proto::kBaseRoot, std::string(table::kMaxName + 1, 'q'));
  add(proto::kBaseRoot, "d/" + std::string(300, 'q') + "/x");
  {
    std::string huge;
    while (huge.size() < proto::kMaxPath + 10) huge += "d/../";
    add(proto::kBaseRoot, huge + "d");
    add(proto::kBaseRoot, huge.substr(0, proto::kMaxPath - 1));
  }

  // Random combinations.
  for (int k = 0; k < 1500; k++) {
    std::vector<std::string> parts;
    const size_t n = 1 + g.below(6);
    // Half of them start from an existing path.
    if (g.chance(50)) parts = components(g.pick(paths));
    while (parts.size() < n) parts.push_back(g.pick(vocab));
    if (g.chance(20)) parts.push_back("");
    const uint64_t base = g.chance(60) ? proto::kBaseRoot : g.pick(all_bases);
    add(base, join(parts, g.chance(40)));
  }
  return out;
}

// --- the tree ---------------------------------------------------------------------

// Every path in the namespace with its attributes.
std::map<std::string, proto::Attr> tree_attrs(Served& fs) {
  std::map<std::string, Node> nodes;
  list_tree(fs.ns, fs.root_ino(), "", nodes);
  std::map<std::string, proto::Attr> out;
  for (const auto& [p, n] : nodes) out[p] = n.attr;
  return out;
}

const std::string kExact(table::kMaxName, 'm');         // exactly the table's limit
const std::string kOneMore(table::kMaxName + 1, 'n');   // one byte too long for the table
const std::string kMaxLen(proto::kMaxName, 'p');        // NAME_MAX
const std::string kLongDir(120, 'L');                   // a directory the table cannot name
const std::string kUnicode = "\xc3\xbc" "n" "\xc3\xaf" "c" "\xc3\xb8" "d" "\xc3\xa9";  // ünïcødé
std::string utf8_exact() {                              // 32 three-byte characters: 96 bytes
  std::string s;
  for (int i = 0; i < 32; i++) s += "\xe6\x97\xa5";     // 日
  return s;
}

void build_tree(Served& fs) {
  // Modes and owners are set (and stats made) as root, after the contents.
  fs.admin = &fs.root;
  // Before the table: published whole by add_mount.
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.mkdir("d/e") == 0);
  REQUIRE(fs.file("d/e/f.txt", "hello") == 0);
  REQUIRE(fs.mkdir("d/e/g") == 0);
  REQUIRE(fs.file("d/e/g/deep", "deep data") == 0);
  REQUIRE(fs.file("top.txt", "top") == 0);

  fs.make_table(8192);

  // After: published change by change.
  REQUIRE(fs.link("top.txt", "hard1") == 0);
  REQUIRE(fs.link("top.txt", "d/e/hard2") == 0);
  REQUIRE(fs.symlink("e/f.txt", "d/link_rel") == 0);
  REQUIRE(fs.symlink("e", "d/link_dir") == 0);
  REQUIRE(fs.symlink("../top.txt", "d/link_up") == 0);
  REQUIRE(fs.symlink("/d/e/f.txt", "d/link_abs") == 0);
  REQUIRE(fs.symlink("/d", "abs_dir") == 0);
  REQUIRE(fs.symlink("loop2", "d/loop1") == 0);
  REQUIRE(fs.symlink("loop1", "d/loop2") == 0);
  REQUIRE(fs.symlink("self", "d/self") == 0);
  REQUIRE(fs.symlink("nowhere/at/all", "d/dangling") == 0);
  REQUIRE(fs.symlink(".", "d/link_dot") == 0);
  REQUIRE(fs.symlink("..", "d/link_dotdot") == 0);
  REQUIRE(fs.symlink("e/f.txt/", "d/link_file_slash") == 0);
  REQUIRE(fs.symlink("../../..", "d/e/link_above") == 0);
  REQUIRE(fs.mkdir("d/e/g/h") == 0);
  REQUIRE(fs.mkdir("d/e/g/h/i") == 0);
  REQUIRE(fs.file("d/e/g/h/i/leaf", "") == 0);

  // Directories of each mode, each holding a file, a subdirectory with a
  // file and a symlink.
  for (const char* dir : {"m0700", "m0711", "m0755", "m0000", "m0311", "m0750g"}) {
    const std::string d = dir;
    REQUIRE(fs.mkdir(d) == 0);
    REQUIRE(fs.file(d + "/file", "x") == 0);
    REQUIRE(fs.mkdir(d + "/sub") == 0);
    REQUIRE(fs.file(d + "/sub/inner", "inner") == 0);
    REQUIRE(fs.symlink("file", d + "/ln") == 0);
  }
  REQUIRE(fs.link("top.txt", "m0000/hard3") == 0);

  // Files of each mode.
  REQUIRE(fs.mkdir("perm") == 0);
  REQUIRE(fs.file("perm/f0000", "a", 0000) == 0);
  REQUIRE(fs.file("perm/f0644", "bb", 0644) == 0);
  REQUIRE(fs.file("perm/f0755", "ccc", 0755) == 0);
  REQUIRE(fs.file("perm/f0600", "dddd", 0600) == 0);

  // Owned by others.
  REQUIRE(fs.mkdir("other") == 0);
  REQUIRE(fs.file("other/secret", "s") == 0);
  REQUIRE(fs.file("other/pub", "p") == 0);
  REQUIRE(fs.mkdir("other/sub") == 0);
  REQUIRE(fs.file("other/sub/x", "") == 0);

  // A setgid directory with a group of its own: what is made in it takes
  // the group.
  REQUIRE(fs.mkdir("sgid") == 0);
  REQUIRE(fs.chown("sgid", kMe, 1003) == 0);
  REQUIRE(fs.chmod("sgid", 02775) == 0);
  REQUIRE(fs.file("sgid/file", "g") == 0);
  REQUIRE(fs.mkdir("sgid/sub") == 0);
  REQUIRE(fs.symlink("file", "sgid/ln") == 0);

  // Names: exactly the table's limit, longer, the longest, spaces, UTF-8.
  REQUIRE(fs.mkdir("names") == 0);
  REQUIRE(fs.file("names/" + kExact, "exact") == 0);
  REQUIRE(fs.file("names/with space", "sp") == 0);
  REQUIRE(fs.mkdir("names/dir with spaces") == 0);
  REQUIRE(fs.file("names/dir with spaces/ f i l e ", "") == 0);
  REQUIRE(fs.mkdir("names/" + kUnicode) == 0);
  REQUIRE(fs.file("names/" + kUnicode + "/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "jp") == 0);  // 日本語
  REQUIRE(fs.file("names/emoji \xf0\x9f\x98\x80", "") == 0);
  REQUIRE(fs.mkdir("names/" + utf8_exact()) == 0);
  REQUIRE(fs.file("names/" + utf8_exact() + "/in", "") == 0);
  REQUIRE(fs.symlink(kExact, "names/to_exact") == 0);
  // A directory with names the table cannot hold (so it is incomplete).
  REQUIRE(fs.mkdir("long") == 0);
  REQUIRE(fs.file("long/short", "s") == 0);
  REQUIRE(fs.file("long/" + kOneMore, "n") == 0);
  REQUIRE(fs.file("long/" + kMaxLen, "p") == 0);
  REQUIRE(fs.mkdir("long/" + kLongDir) == 0);
  REQUIRE(fs.file("long/" + kLongDir + "/child", "c") == 0);
  REQUIRE(fs.mkdir("long/" + kLongDir + "/subdir") == 0);
  REQUIRE(fs.file("long/" + kLongDir + "/subdir/x", "") == 0);
  REQUIRE(fs.mkdir("long/exactdir") == 0);
  REQUIRE(fs.mkdir("long/exactdir/" + kExact) == 0);

  // Ones to move, chmod and remove later.
  REQUIRE(fs.mkdir("mv") == 0);
  REQUIRE(fs.mkdir("mv/a") == 0);
  REQUIRE(fs.mkdir("mv/a/b") == 0);
  REQUIRE(fs.file("mv/a/b/c", "abc") == 0);
  REQUIRE(fs.mkdir("mv/empty") == 0);
  REQUIRE(fs.mkdir("mv/target") == 0);
  REQUIRE(fs.file("mv/over_me", "old") == 0);
  REQUIRE(fs.file("mv/over_src", "new data") == 0);
  REQUIRE(fs.mkdir("mv/x1") == 0);
  REQUIRE(fs.file("mv/x1/in1", "1") == 0);
  REQUIRE(fs.mkdir("mv/x2") == 0);
  REQUIRE(fs.file("mv/x2/in2", "22") == 0);

  // Modes and owners, deepest first (as root, who may).
  REQUIRE(fs.chmod("perm/f0000", 0000) == 0);
  REQUIRE(fs.chmod("m0700/sub", 0700) == 0);
  REQUIRE(fs.chmod("m0700", 0700) == 0);
  REQUIRE(fs.chmod("m0711", 0711) == 0);
  REQUIRE(fs.chmod("m0000/sub", 0000) == 0);
  REQUIRE(fs.chmod("m0000", 0000) == 0);
  REQUIRE(fs.chmod("m0311/sub", 0311) == 0);
  REQUIRE(fs.chmod("m0311", 0311) == 0);
  REQUIRE(fs.chown("m0750g", 1002, 1000) == 0);
  REQUIRE(fs.chmod("m0750g", 0750) == 0);
  REQUIRE(fs.chown("other/secret", 1002, 1002) == 0);
  REQUIRE(fs.chmod("other/secret", 0600) == 0);
  REQUIRE(fs.chown("other/pub", 1002, 1000) == 0);
  REQUIRE(fs.chown("other/sub", 1002, 1002) == 0);
  REQUIRE(fs.chmod("other/sub", 0700) == 0);
  REQUIRE(fs.chown("other", 1002, 1002) == 0);
  REQUIRE(fs.chmod("other", 0755) == 0);
  REQUIRE(fs.chown("d/link_rel", 1002, 1002) == 0);  // a symlink's owner
}

// Every regular file stat'd through the server (as do_lookup does), so that
// those no one writes are published settled and their sizes compared.
void settle(Served& fs) {
  const std::map<std::string, proto::Attr> tree = tree_attrs(fs);
  for (const auto& [p, a] : tree)
    if ((a.mode & S_IFMT) == S_IFREG) (void)fs.attr(p);
}

}  // namespace

TEST_CASE("table walk: never a different definite answer than the server's lookup", "[table_walk]") {
  uint64_t seed = 0x7ab1e5eedULL;
  if (const char* s = std::getenv("USERFS_TABLE_WALK_SEED"); s != nullptr && *s != '\0')
    seed = std::strtoull(s, nullptr, 0);
  std::printf("table walk: seed %llu (USERFS_TABLE_WALK_SEED to change)\n", static_cast<unsigned long long>(seed));
  Generator g(seed);

  Served fs;
  build_tree(fs);
  ClientMapping m(*fs.table);
  const View& v = m.map.view;
  REQUIRE(v.published(Served::kIndex));

  // A file open for writing all along: volatile, its size not the table's.
  UniqueFd writer;
  REQUIRE(fs.create("volatile", 0644, &writer) == 0);
  REQUIRE(write(writer.get(), "growing", 7) == 7);
  settle(fs);

  Checker check(fs, v);
  check.base_names[fs.root_ino()] = "the root";

  // Directory bases, by path, found again each round; every number ever
  // used stays a base (a moved or removed cwd).
  const std::vector<std::string> base_paths{"",
                                            "d",
                                            "d/e",
                                            "d/e/g",
                                            "d/e/g/h/i",
                                            "m0700",
                                            "m0700/sub",
                                            "m0711",
                                            "m0711/sub",
                                            "m0000",
                                            "m0000/sub",
                                            "m0311",
                                            "m0311/sub",
                                            "m0750g",
                                            "other/sub",
                                            "sgid",
                                            "names",
                                            "long",
                                            "long/" + kLongDir,
                                            "long/" + kLongDir + "/subdir",
                                            "mv/a",
                                            "mv/a/b",
                                            "mv/empty",
                                            "mv/target",
                                            "mv/x1"};
  std::map<uint64_t, std::string> ever;  // every base number -> the path it was first found at
  // Numbers that are not directories here: a file, a symlink, none at all,
  // another mount's root, an untagged number.
  std::vector<uint64_t> odd_bases{fs.attr("top.txt").ino, fs.attr("d/link_rel").ino,
                                  fs.ns.ino_tag() | 0xfffff, (uint64_t{3} << proto::kMountShift) | proto::kRootIno,
                                  proto::kRootIno};
  check.base_names[odd_bases[0]] = "file top.txt";
  check.base_names[odd_bases[1]] = "symlink d/link_rel";
  check.base_names[odd_bases[2]] = "a number never allocated";
  check.base_names[odd_bases[3]] = "another mount's root";
  check.base_names[odd_bases[4]] = "untagged root number";
  // The file open for writing (unlinked at the end).
  odd_bases.push_back(fs.attr("volatile").ino);
  check.base_names[odd_bases[5]] = "file open for writing";

  Stats total;
  size_t round_no = 0;
  auto round = [&](const std::string& what) {
    settle(fs);
    const std::map<std::string, proto::Attr> tree = tree_attrs(fs);
    std::map<uint64_t, std::string> dir_path{{fs.root_ino(), ""}};
    for (const auto& [p, a] : tree)
      if ((a.mode & S_IFMT) == S_IFDIR) dir_path[a.ino] = p;
    for (const std::string& p : base_paths) {
      if (!p.empty() && (tree.count(p) == 0 || (tree.at(p).mode & S_IFMT) != S_IFDIR)) continue;
      const uint64_t ino = p.empty() ? fs.root_ino() : tree.at(p).ino;
      if (ever.emplace(ino, p).second && !p.empty()) check.base_names[ino] = "dir first at " + p;
    }
    std::vector<Base> bases;
    for (const auto& [ino, first] : ever) {
      auto it = dir_path.find(ino);
      bases.push_back(Base{ino, it != dir_path.end(), it != dir_path.end() ? it->second : std::string()});
    }
    const std::vector<Query> queries = make_queries(g, tree, bases, odd_bases);
    const std::string label = std::to_string(round_no++) + " " + what;
    const Stats st = check.run(queries, label);
    std::printf(
        "table walk: round %-28s %5zu paths, %6zu queries: %6zu definite (%zu found, %zu errors), %6zu asked "
        "(%zu redirected by the server); plain existing paths %zu/%zu definite; %zu mismatches\n",
        label.c_str(), queries.size(), st.total, st.definite, st.hits, st.errors, st.ask, st.redirected,
        st.plain_definite, st.plain, st.mismatches);
    INFO("round " << label);
    CHECK(queries.size() >= 2000);
    // Not by always asking: most plain existing paths are the table's to
    // answer, and a good share of everything.
    REQUIRE(st.plain > 100);
    CHECK(st.plain_definite * 10 >= st.plain * 9);
    REQUIRE(st.plain_definite * 2 > st.plain);
    CHECK(st.definite * 4 > st.total);
    total.add(st);
  };

  round("built");

  // Mutations, each followed by the whole comparison again.
  SECTION("renames, chmods, removals, renames over") {
    // A directory tree to another parent (bases inside it keep their
    // numbers; ".." from them leads elsewhere now).
    REQUIRE(fs.rename("mv/a", "d/e/g/moved_a") == 0);
    round("dir moved down");
    REQUIRE(fs.rename("d/e/g/moved_a/b", "m0750g/b_here", 0, &fs.root) == 0);
    round("dir moved into 0750");
    REQUIRE(fs.rename("d/e", "m0711/e_moved", 0, &fs.root) == 0);
    round("d/e moved into 0711");
    // Directory modes.
    REQUIRE(fs.chmod("d", 0700) == 0);
    REQUIRE(fs.chmod("m0000", 0711) == 0);
    REQUIRE(fs.chmod("m0700", 0755) == 0);
    round("chmod dirs");
    REQUIRE(fs.chmod("m0711", 0000) == 0);
    REQUIRE(fs.chmod("sgid", 0750) == 0);
    REQUIRE(fs.chown("names", 1002, 1000) == 0);
    REQUIRE(fs.chmod("names", 0710) == 0);
    round("chmod/chown more dirs");
    // Unlinks: a file with other names, a symlink, one with none.
    REQUIRE(fs.unlink("top.txt") == 0);
    REQUIRE(fs.unlink("d/link_rel", &fs.root) == 0);
    REQUIRE(fs.unlink("perm/f0644") == 0);
    round("unlinks");
    // rmdir: an empty base, and one that held things.
    REQUIRE(fs.rmdir("mv/empty") == 0);
    REQUIRE(fs.unlink("mv/x1/in1") == 0);
    REQUIRE(fs.rmdir("mv/x1") == 0);
    round("rmdirs");
    // Rename over: a file over a file, a directory over an empty one.
    REQUIRE(fs.rename("mv/over_src", "mv/over_me") == 0);
    REQUIRE(fs.rename("mv/x2", "mv/target") == 0);
    round("renames over");
    // Names the table cannot hold, renamed in and out of a directory.
    REQUIRE(fs.rename("long/" + kOneMore, "long/was_long") == 0);
    REQUIRE(fs.rename("long/" + kMaxLen, "names/" + kOneMore, 0, &fs.root) == 0);
    round("long names moved");
    REQUIRE(fs.rename("long/" + kLongDir, "long/was_long_dir") == 0);
    round("long dir renamed short");
    // Two directories swapped across parents.
    REQUIRE(fs.rename("m0755/sub", "sgid/sub", proto::kRenameExchange, &fs.root) == 0);
    round("exchange");
    // A removed parent chain.
    REQUIRE(fs.unlink("m0711/e_moved/g/h/i/leaf", &fs.root) == 0);
    REQUIRE(fs.rmdir("m0711/e_moved/g/h/i", &fs.root) == 0);
    round("rmdir deep base");
    // Attributes changed through one of several names reach every name.
    REQUIRE(fs.chmod("hard1", 0640) == 0);
    REQUIRE(fs.chown("m0000/hard3", 1002, 1000) == 0);
    round("hard links chmod/chown");
    // Sizes, and a name that changes type.
    SetattrArgs grow;
    grow.valid = proto::kSetSize;
    grow.size = 10000;
    REQUIRE(fs.setattr("perm/f0755", grow, &fs.root) == 0);
    REQUIRE(fs.unlink("d/link_dir", &fs.root) == 0);
    REQUIRE(fs.mkdir("d/link_dir", 0755, &fs.root) == 0);
    REQUIRE(fs.unlink("d/loop1") == 0);
    REQUIRE(fs.file("d/loop1", "no longer a link") == 0);
    round("truncate, types changed");
    // The file open for writing renamed over another, and written on.
    REQUIRE(fs.rename("volatile", "perm/f0600") == 0);
    REQUIRE(write(writer.get(), " and growing", 12) == 12);
    round("volatile renamed over");
    // The root itself: searchable by its owner only, then by everyone
    // without read.
    REQUIRE(fs.chmod("", 0700) == 0);
    round("root 0700");
    REQUIRE(fs.chmod("/", 0711) == 0);
    round("root 0711");
    // A directory holding bases given a name the table cannot hold: it and
    // what is under it are reached by number only.
    REQUIRE(fs.rename("m0711/e_moved", "m0711/" + std::string(100, 'z'), 0, &fs.root) == 0);
    round("dir renamed long");
    // A file and a directory swapped.
    REQUIRE(fs.rename("perm/f0755", "mv/target", proto::kRenameExchange, &fs.root) == 0);
    round("exchange file and dir");
    // The file open for writing loses its last name.
    REQUIRE(fs.unlink("perm/f0600") == 0);
    round("open file unlinked");
  }

  std::printf(
      "table walk: total %zu queries: %zu definite (%zu found, %zu errors), %zu asked; plain existing paths "
      "%zu/%zu definite; %zu found volatile (size not compared); %zu mismatches\n",
      total.total, total.definite, total.hits, total.errors, total.ask, total.plain_definite, total.plain,
      total.volatile_hits, total.mismatches);
  std::printf("table walk: definite answers by result:");
  for (auto [rc, n] : total.by_rc) std::printf(" %s: %zu;", show_rc(rc).c_str(), n);
  std::printf("\n");

  // Every mismatch, then fail.
  const size_t shown = std::min<size_t>(check.reports.size(), 40);
  for (size_t i = 0; i < shown; i++) FAIL_CHECK(check.reports[i]);
  if (check.reports.size() > shown) FAIL_CHECK((check.reports.size() - shown) << " more mismatches");
  CHECK(total.mismatches == 0);
}
