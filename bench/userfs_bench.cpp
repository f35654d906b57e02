// userfs_bench: file-system micro-benchmarks on one directory.
//
//   userfs_bench [--smoke] [--tsv] [--time SEC] [--reps N] [--only A,B,...] DIR
//
// Every workload works inside a fresh subdirectory of DIR and removes it at
// the end. Each workload is calibrated so one repetition lasts about --time
// seconds (bulk workloads run at least one whole pass), then repeated --reps
// times; the report is the median, min and max over the repetitions. All
// file access goes through the C library (open, stat, opendir, ...), so the
// same binary measures a native directory, a FUSE mount, or a userfs mount
// when run under LD_PRELOAD=libuserfs.so.
//
// Output: a human table, or with --tsv one line per workload:
//   workload<TAB>median<TAB>min<TAB>max<TAB>unit
// Units are "us" (microseconds per operation; lower is better) or "MB/s"
// (10^6 bytes per second; higher is better).
//
// Exit status: 0 when every selected workload ran, 1 on the first failing
// call (reported on stderr with the workload, the call and errno), 2 on bad
// usage. There are no timing assertions.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Sizes and times; --smoke shrinks all of them so a run takes seconds.
struct Config {
  double rep_seconds = 0.2;
  int reps = 5;
  int readdir_entries = 10'000;
  std::size_t pread_file_bytes = std::size_t{64} << 20;
  std::size_t seq_bytes = std::size_t{256} << 20;
  int small_files = 10'000;
  int spawns = 2'000;
  bool tsv = false;
  std::vector<std::string> only;
};

Config smoke_config() {
  Config c;
  c.rep_seconds = 0.005;
  c.reps = 2;
  c.readdir_entries = 100;
  c.pread_file_bytes = std::size_t{1} << 20;
  c.seq_bytes = std::size_t{4} << 20;
  c.small_files = 100;
  c.spawns = 20;
  return c;
}

// A failing call ends the run: a benchmark that silently measured errors
// would report nonsense.
[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "userfs_bench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void check(bool ok, const std::string& what) {
  if (!ok) die(what);
}

int open_or_die(const std::string& path, int flags, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), flags, mode);
  check(fd >= 0, "open " + path);
  return fd;
}

void close_or_die(int fd, const std::string& what) { check(::close(fd) == 0, "close " + what); }

void write_all(int fd, const char* data, std::size_t len, const std::string& what) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    check(n > 0, "write " + what);
    data += n;
    len -= static_cast<std::size_t>(n);
  }
}

void read_exact(int fd, char* data, std::size_t len, const std::string& what) {
  while (len > 0) {
    ssize_t n = ::read(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;  // short file: nothing sensible to report but EIO
    check(n > 0, "read " + what);
    data += n;
    len -= static_cast<std::size_t>(n);
  }
}

void make_file(const std::string& path, std::size_t bytes) {
  int fd = open_or_die(path, O_WRONLY | O_CREAT | O_TRUNC);
  std::vector<char> buf(std::size_t{1} << 20, 'x');
  for (std::size_t done = 0; done < bytes;) {
    std::size_t n = std::min(buf.size(), bytes - done);
    write_all(fd, buf.data(), n, path);
    done += n;
  }
  close_or_die(fd, path);
}

// Cheap deterministic random numbers, so every target sees the same offsets.
struct XorShift {
  std::uint64_t state = 0x9e3779b97f4a7c15ULL;
  std::uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
};

// One measured repetition: how long it took and how much work it did.
struct Sample {
  double seconds;
  double ops;    // operations (per-op workloads)
  double bytes;  // bytes moved (throughput workloads)
};

enum class Unit { micros_per_op, mb_per_second };

struct Result {
  std::string name;
  double median, min, max;
  Unit unit;
};

double value_of(const Sample& s, Unit unit) {
  return unit == Unit::micros_per_op ? s.seconds * 1e6 / s.ops : s.bytes / s.seconds / 1e6;
}

Result summarise(const std::string& name, const std::vector<Sample>& samples, Unit unit) {
  std::vector<double> v;
  for (const Sample& s : samples) v.push_back(value_of(s, unit));
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {name, median, v.front(), v.back(), unit};
}

// Per-operation workloads: `op(i)` does one operation. The count per
// repetition is calibrated (doubling from 1) so a repetition lasts about
// cfg.rep_seconds; one untimed warm-up run precedes the repetitions.
std::vector<Sample> run_ops(const Config& cfg, const std::function<void(std::uint64_t)>& op) {
  std::uint64_t i = 0;
  std::uint64_t n = 1;
  for (;;) {
    auto start = Clock::now();
    for (std::uint64_t k = 0; k < n; ++k) op(i++);
    double t = seconds_since(start);
    if (t >= cfg.rep_seconds / 8 || n >= (std::uint64_t{1} << 30)) {
      double per_op = t / static_cast<double>(n);
      n = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(cfg.rep_seconds / per_op));
      break;
    }
    n *= 2;
  }
  std::vector<Sample> samples;
  for (int r = 0; r < cfg.reps; ++r) {
    auto start = Clock::now();
    for (std::uint64_t k = 0; k < n; ++k) op(i++);
    samples.push_back({seconds_since(start), static_cast<double>(n), 0});
  }
  return samples;
}

// Bulk workloads: `pass()` does one whole pass and returns the seconds it
// spent in the measured part (setup inside the pass may be excluded) and
// the ops or bytes it counts. A repetition runs whole passes until it has
// lasted cfg.rep_seconds (at least one pass).
std::vector<Sample> run_passes(const Config& cfg, const std::function<Sample()>& pass) {
  std::vector<Sample> samples;
  for (int r = 0; r < cfg.reps; ++r) {
    Sample total{0, 0, 0};
    do {
      Sample s = pass();
      total.seconds += s.seconds;
      total.ops += s.ops;
      total.bytes += s.bytes;
    } while (total.seconds < cfg.rep_seconds);
    samples.push_back(total);
  }
  return samples;
}

// A private scratch directory per workload, removed afterwards.
class Scratch {
 public:
  Scratch(const std::string& root, const std::string& name)
      : path_(root + "/ub" + std::to_string(::getpid()) + "-" + name) {
    check(::mkdir(path_.c_str(), 0755) == 0, "mkdir " + path_);
  }
  ~Scratch() { remove_tree(path_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& leaf) const { return path_ + "/" + leaf; }

 private:
  static void remove_tree(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    for (const std::string& n : names) {
      std::string p = dir + "/" + n;
      struct stat st;
      if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        remove_tree(p);
      } else {
        ::unlink(p.c_str());
      }
    }
    ::rmdir(dir.c_str());
  }
  std::string path_;
};

struct Workload {
  const char* name;
  const char* what;
  std::function<Result(const Config&, const std::string&)> run;
};

Result stat_existing(const Config& cfg, const std::string& root) {
  Scratch s(root, "stat");
  std::string a = s / "a", b = a + "/b", file = b + "/file";
  check(::mkdir(a.c_str(), 0755) == 0, "mkdir " + a);
  check(::mkdir(b.c_str(), 0755) == 0, "mkdir " + b);
  make_file(file, 0);
  auto samples = run_ops(cfg, [&](std::uint64_t) {
    struct stat st;
    check(::stat(file.c_str(), &st) == 0, "stat " + file);
  });
  return summarise("stat_existing", samples, Unit::micros_per_op);
}

Result stat_missing(const Config& cfg, const std::string& root) {
  Scratch s(root, "statmiss");
  std::string a = s / "a", b = a + "/b", missing = b + "/missing";
  check(::mkdir(a.c_str(), 0755) == 0, "mkdir " + a);
  check(::mkdir(b.c_str(), 0755) == 0, "mkdir " + b);
  auto samples = run_ops(cfg, [&](std::uint64_t) {
    struct stat st;
    errno = 0;
    if (::stat(missing.c_str(), &st) == 0 || errno != ENOENT) {
      if (errno == 0) errno = EEXIST;
      die("stat " + missing + " (expected ENOENT)");
    }
  });
  return summarise("stat_missing", samples, Unit::micros_per_op);
}

Result open_close(const Config& cfg, const std::string& root) {
  Scratch s(root, "open");
  std::string a = s / "a", b = a + "/b", file = b + "/file";
  check(::mkdir(a.c_str(), 0755) == 0, "mkdir " + a);
  check(::mkdir(b.c_str(), 0755) == 0, "mkdir " + b);
  make_file(file, 4096);
  auto samples = run_ops(cfg, [&](std::uint64_t) {
    int fd = open_or_die(file, O_RDONLY);
    close_or_die(fd, file);
  });
  return summarise("open_close", samples, Unit::micros_per_op);
}

Result create_unlink(const Config& cfg, const std::string& root) {
  Scratch s(root, "create");
  std::string file = s / "new";
  auto samples = run_ops(cfg, [&](std::uint64_t) {
    int fd = open_or_die(file, O_WRONLY | O_CREAT | O_EXCL);
    close_or_die(fd, file);
    check(::unlink(file.c_str()) == 0, "unlink " + file);
  });
  return summarise("create_unlink", samples, Unit::micros_per_op);
}

Result mkdir_rmdir(const Config& cfg, const std::string& root) {
  Scratch s(root, "mkdir");
  std::string dir = s / "d";
  auto samples = run_ops(cfg, [&](std::uint64_t) {
    check(::mkdir(dir.c_str(), 0755) == 0, "mkdir " + dir);
    check(::rmdir(dir.c_str()) == 0, "rmdir " + dir);
  });
  return summarise("mkdir_rmdir", samples, Unit::micros_per_op);
}

// One op = opendir, readdir to the end, closedir of a directory holding
// cfg.readdir_entries files (the count is checked every pass).
Result readdir_big(const Config& cfg, const std::string& root) {
  Scratch s(root, "readdir");
  for (int i = 0; i < cfg.readdir_entries; ++i) {
    std::string f = s / ("f" + std::to_string(i));
    close_or_die(open_or_die(f, O_WRONLY | O_CREAT | O_EXCL), f);
  }
  const int expected = cfg.readdir_entries + 2;  // with . and ..
  auto samples = run_ops(cfg, [&](std::uint64_t) {
    DIR* d = ::opendir(s.path().c_str());
    check(d != nullptr, "opendir " + s.path());
    int n = 0;
    errno = 0;
    while (::readdir(d) != nullptr) ++n;
    check(errno == 0, "readdir " + s.path());
    ::closedir(d);
    if (n != expected) {
      errno = EIO;
      die("readdir " + s.path() + ": " + std::to_string(n) + " entries, expected " +
          std::to_string(expected));
    }
  });
  return summarise("readdir_" + std::to_string(cfg.readdir_entries), samples,
                   Unit::micros_per_op);
}

constexpr std::size_t kPage = 4096;

std::vector<off_t> random_offsets(std::size_t file_bytes) {
  XorShift rng;
  std::vector<off_t> offsets(1 << 16);
  std::size_t pages = file_bytes / kPage;
  for (off_t& o : offsets) o = static_cast<off_t>((rng.next() % pages) * kPage);
  return offsets;
}

void pread_page(int fd, char* buf, off_t at, const std::string& what) {
  ssize_t n = ::pread(fd, buf, kPage, at);
  if (n >= 0 && static_cast<std::size_t>(n) != kPage) errno = EIO;
  check(n == static_cast<ssize_t>(kPage), "pread " + what);
}

// 4 KiB at random page-aligned offsets on one open fd, file already cached.
Result pread_warm(const Config& cfg, const std::string& root) {
  Scratch s(root, "pread");
  std::string file = s / "big";
  make_file(file, cfg.pread_file_bytes);
  auto offsets = random_offsets(cfg.pread_file_bytes);
  int fd = open_or_die(file, O_RDONLY);
  char buf[kPage];
  for (std::size_t at = 0; at < cfg.pread_file_bytes; at += kPage) pread_page(fd, buf, at, file);
  auto samples = run_ops(cfg, [&](std::uint64_t i) {
    pread_page(fd, buf, offsets[i & (offsets.size() - 1)], file);
  });
  close_or_die(fd, file);
  return summarise("pread_4k_warm", samples, Unit::micros_per_op);
}

// The first 4 KiB pread right after opening the file: only the pread is
// timed (open and close are not), so this shows any cost a fresh fd carries
// into its first read. Includes one clock read (~tens of ns).
Result pread_fresh(const Config& cfg, const std::string& root) {
  Scratch s(root, "preadfresh");
  std::string file = s / "big";
  make_file(file, cfg.pread_file_bytes);
  auto offsets = random_offsets(cfg.pread_file_bytes);
  char buf[kPage];
  auto pass = [&]() {
    Sample total{0, 0, 0};
    for (int k = 0; k < 1000; ++k) {
      int fd = open_or_die(file, O_RDONLY);
      auto start = Clock::now();
      pread_page(fd, buf, offsets[k], file);
      total.seconds += seconds_since(start);
      total.ops += 1;
      close_or_die(fd, file);
    }
    return total;
  };
  pass();  // warm the page cache and the file's metadata
  auto samples = run_passes(cfg, pass);
  return summarise("pread_4k_fresh_open", samples, Unit::micros_per_op);
}

// Sequential 1 MiB writes of cfg.seq_bytes into a truncated file, then
// sequential 1 MiB reads of it. Timed: the writes (or reads) and the close;
// not timed: the open.
Result seq_write(const Config& cfg, const std::string& root) {
  Scratch s(root, "seqw");
  std::string file = s / "seq";
  std::vector<char> buf(std::size_t{1} << 20, 'y');
  auto samples = run_passes(cfg, [&]() {
    int fd = open_or_die(file, O_WRONLY | O_CREAT | O_TRUNC);
    auto start = Clock::now();
    for (std::size_t done = 0; done < cfg.seq_bytes; done += buf.size())
      write_all(fd, buf.data(), buf.size(), file);
    close_or_die(fd, file);
    return Sample{seconds_since(start), 0, static_cast<double>(cfg.seq_bytes)};
  });
  return summarise("seq_write_1m", samples, Unit::mb_per_second);
}

Result seq_read(const Config& cfg, const std::string& root) {
  Scratch s(root, "seqr");
  std::string file = s / "seq";
  make_file(file, cfg.seq_bytes);
  std::vector<char> buf(std::size_t{1} << 20);
  auto pass = [&]() {
    int fd = open_or_die(file, O_RDONLY);
    auto start = Clock::now();
    for (std::size_t done = 0; done < cfg.seq_bytes; done += buf.size())
      read_exact(fd, buf.data(), buf.size(), file);
    close_or_die(fd, file);
    return Sample{seconds_since(start), 0, static_cast<double>(cfg.seq_bytes)};
  };
  pass();  // warm
  auto samples = run_passes(cfg, pass);
  return summarise("seq_read_1m", samples, Unit::mb_per_second);
}

// Per file: create, write 4 KiB, close, reopen, read 4 KiB, close. A pass
// covers cfg.small_files files in one directory; the unlinks that empty the
// directory between passes are not timed.
Result small_files(const Config& cfg, const std::string& root) {
  Scratch s(root, "small");
  std::vector<std::string> names;
  for (int i = 0; i < cfg.small_files; ++i) names.push_back(s / ("s" + std::to_string(i)));
  char out[kPage], in[kPage];
  std::memset(out, 'z', sizeof out);
  auto samples = run_passes(cfg, [&]() {
    auto start = Clock::now();
    for (const std::string& f : names) {
      int fd = open_or_die(f, O_WRONLY | O_CREAT | O_EXCL);
      write_all(fd, out, sizeof out, f);
      close_or_die(fd, f);
      fd = open_or_die(f, O_RDONLY);
      read_exact(fd, in, sizeof in, f);
      close_or_die(fd, f);
    }
    double t = seconds_since(start);
    for (const std::string& f : names) check(::unlink(f.c_str()) == 0, "unlink " + f);
    return Sample{t, static_cast<double>(names.size()), 0};
  });
  return summarise("small_file_cycle", samples, Unit::micros_per_op);
}

// Process start-up: posix_spawn /bin/true and wait for it, cfg.spawns times
// per repetition. DIR is not used. Run with and without LD_PRELOAD to see
// what the library costs a process that never touches a mount.
Result spawn_true(const Config& cfg, const std::string&) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  auto pass = [&]() {
    auto start = Clock::now();
    for (int k = 0; k < cfg.spawns; ++k) {
      pid_t pid;
      int rc = ::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ);
      if (rc != 0) {
        errno = rc;
        die("posix_spawn /bin/true");
      }
      int status;
      while (::waitpid(pid, &status, 0) < 0) check(errno == EINTR, "waitpid");
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = ECHILD;
        die("/bin/true failed");
      }
    }
    return Sample{seconds_since(start), static_cast<double>(cfg.spawns), 0};
  };
  std::vector<Sample> samples;
  for (int r = 0; r < cfg.reps; ++r) samples.push_back(pass());
  return summarise("spawn_true", samples, Unit::micros_per_op);
}

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> all = {
      {"stat_existing", "stat of an existing file two levels deep", stat_existing},
      {"stat_missing", "stat of a missing file (ENOENT)", stat_missing},
      {"open_close", "open O_RDONLY + close of an existing file", open_close},
      {"create_unlink", "create (O_EXCL) + close + unlink", create_unlink},
      {"mkdir_rmdir", "mkdir + rmdir", mkdir_rmdir},
      {"readdir", "opendir + readdir to the end + closedir, 10,000 entries", readdir_big},
      {"pread_4k_warm", "4 KiB pread at random offsets, 64 MiB file, one open fd", pread_warm},
      {"pread_4k_fresh_open", "first 4 KiB pread right after open (pread timed)", pread_fresh},
      {"seq_write_1m", "sequential 1 MiB writes, 256 MiB file", seq_write},
      {"seq_read_1m", "sequential 1 MiB reads, 256 MiB file", seq_read},
      {"small_file_cycle", "create, write 4 KiB, close, reopen, read, close; 10,000 files", small_files},
      {"spawn_true", "posix_spawn + wait of /bin/true, 2,000 per repetition (not default)", spawn_true},
  };
  return all;
}

bool selected(const Config& cfg, std::string_view name) {
  if (cfg.only.empty()) return name != "spawn_true";  // spawn: only on request
  return std::find(cfg.only.begin(), cfg.only.end(), name) != cfg.only.end();
}

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage: userfs_bench [--smoke] [--tsv] [--time SEC] [--reps N] [--only A,B,...] DIR\n"
               "       userfs_bench --list\n"
               "Runs file-system micro-benchmarks in a scratch subdirectory of DIR.\n"
               "  --smoke      tiny sizes and short times (seconds in all)\n"
               "  --tsv        one line per result: workload median min max unit\n"
               "  --time SEC   target length of one repetition (default 0.2)\n"
               "  --reps N     repetitions per workload (default 5)\n"
               "  --only LIST  comma-separated workloads (see --list); spawn_true runs\n"
               "               only when named here\n");
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  double time_override = -1;
  int reps_override = -1;
  bool tsv = false;
  std::vector<std::string> only;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage(stderr);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--smoke") {
      cfg = smoke_config();
    } else if (a == "--tsv") {
      tsv = true;
    } else if (a == "--time") {
      time_override = std::atof(value().c_str());
    } else if (a == "--reps") {
      reps_override = std::atoi(value().c_str());
    } else if (a == "--only") {
      only = split_commas(value());
    } else if (a == "--list") {
      for (const Workload& w : workloads()) std::printf("%-20s %s\n", w.name, w.what);
      return 0;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      usage(stderr);
      return 2;
    } else if (dir.empty()) {
      dir = a;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (dir.empty() || time_override == 0 || reps_override == 0) {
    usage(stderr);
    return 2;
  }
  if (time_override > 0) cfg.rep_seconds = time_override;
  if (reps_override > 0) cfg.reps = reps_override;
  cfg.tsv = tsv;
  cfg.only = only;
  for (const std::string& name : cfg.only) {
    bool known = std::any_of(workloads().begin(), workloads().end(),
                             [&](const Workload& w) { return name == w.name; });
    if (!known) {
      std::fprintf(stderr, "userfs_bench: unknown workload %s (see --list)\n", name.c_str());
      return 2;
    }
  }
  struct stat st;
  check(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), "directory " + dir);

  if (!cfg.tsv) std::printf("%-22s %12s %12s %12s  %s\n", "workload", "median", "min", "max", "unit");
  for (const Workload& w : workloads()) {
    if (!selected(cfg, w.name)) continue;
    Result r = w.run(cfg, dir);
    const char* unit = r.unit == Unit::micros_per_op ? "us" : "MB/s";
    if (cfg.tsv) {
      std::printf("%s\t%.4f\t%.4f\t%.4f\t%s\n", r.name.c_str(), r.median, r.min, r.max, unit);
    } else {
      std::printf("%-22s %12.3f %12.3f %12.3f  %s\n", r.name.c_str(), r.median, r.min, r.max, unit);
    }
    std::fflush(stdout);
  }
  return 0;
}
