// `make install` as a user meets it. `make test` installs into
// $(B)/install-test first and names it in $SOLAR_INSTALL_PREFIX (the test is
// skipped without it). pkg-config finds solar there; the README's two
// out-of-tree build lines, read from the installed README and run verbatim,
// build a module that the installed solar serves and a server binary of one's
// own; the man pages render and document every option of their binary; the
// systemd unit's paths agree with the installed config.
// $SOLAR_INSTALL_CXXFLAGS is appended to those lines: the sanitizer build's
// flags, without which nothing links against its libsolar.a (empty otherwise).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace solar::testing {
namespace {

std::string Prefix() {
  const char* e = std::getenv("SOLAR_INSTALL_PREFIX");
  return e ? e : "";
}

#define REQUIRE_INSTALL()                                                                   \
  if (Prefix().empty()) GTEST_SKIP() << "SOLAR_INSTALL_PREFIX is not set (make test sets it)"; \
  static_assert(true)

struct Out {
  int code;
  std::string text;  // stdout and stderr
};

Out Shell(const std::string& cmd) {
  Out o{-1, ""};
  FILE* p = popen(("{ " + cmd + "; } 2>&1").c_str(), "r");
  if (p == nullptr) return o;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) o.text.append(buf.data(), n);
  const int st = pclose(p);
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// The shell prefix of every out-of-tree command: the installed pkg-config files first.
std::string InPrefix(const std::string& dir) {
  return "cd " + Quote(dir) + " && export PKG_CONFIG_PATH=" + Quote(Prefix() + "/lib/pkgconfig") + " && ";
}

std::string ExtraFlags() {
  const char* e = std::getenv("SOLAR_INSTALL_CXXFLAGS");
  return e && *e ? std::string(" ") + e : "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return out.good();
}

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool IsExecutable(const std::string& path) { return IsFile(path) && access(path.c_str(), X_OK) == 0; }

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  const size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The README section that starts with `heading` (up to the next "## ").
std::string ReadmeSection(const std::string& heading) {
  const std::string readme = ReadFile(Prefix() + "/share/doc/solar/README.md");
  const size_t begin = readme.find("\n" + heading + "\n");
  if (begin == std::string::npos) return "";
  const size_t end = readme.find("\n## ", begin + 1);
  return readme.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// The bodies of the fenced code blocks of `lang` in `text`, each without the
// fence's indentation (blocks inside list items are indented).
std::vector<std::string> CodeBlocks(const std::string& text, const std::string& lang) {
  std::vector<std::string> blocks;
  bool in = false, wanted = false;
  size_t indent = 0;
  std::string body;
  for (const std::string& line : Lines(text)) {
    const std::string t = Trim(line);
    if (t.rfind("```", 0) == 0) {
      if (in && wanted) blocks.push_back(body);
      if (!in) {
        wanted = t.substr(3) == lang;
        indent = line.find('`');
        body.clear();
      }
      in = !in;
      continue;
    }
    if (in) body += (line.size() >= indent ? line.substr(indent) : t) + "\n";
  }
  return blocks;
}

// The README's build line in "Writing a Worker" that contains `needle`.
std::string ReadmeBuildLine(const std::string& needle) {
  for (const std::string& block : CodeBlocks(ReadmeSection("## Writing a Worker"), "sh")) {
    for (const std::string& line : Lines(block)) {
      if (line.rfind("g++ ", 0) == 0 && line.find(needle) != std::string::npos) return line;
    }
  }
  return "";
}

// Writes the README's example worker (OrdersWorker, "orders") as orders.cc in `dir`.
bool WriteReadmeWorker(const std::string& dir) {
  const std::vector<std::string> cpp = CodeBlocks(ReadmeSection("## Writing a Worker"), "cpp");
  return !cpp.empty() && cpp[0].find("SOLAR_REGISTER_WORKER(\"orders\"") != std::string::npos &&
         WriteFile(dir + "/orders.cc", cpp[0]);
}

// SOLAR_BIN for ServerHarness, for one scope.
class ScopedSolarBin {
 public:
  explicit ScopedSolarBin(const std::string& bin) : old_(SolarBin()) { setenv("SOLAR_BIN", bin.c_str(), 1); }
  ~ScopedSolarBin() { setenv("SOLAR_BIN", old_.c_str(), 1); }

 private:
  std::string old_;
};

// A config that `solar -t` accepts anywhere: free ports, everything in `dir`.
std::string CheckConfig(const std::string& dir, const std::string& worker) {
  return "listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\npid_file: \"" + dir + "/solar.pid\"\n" +
         "state_dir: \"" + dir + "/state\"\n" + worker + "\n";
}

TEST(Install, PutsEveryPieceUnderThePrefix) {
  REQUIRE_INSTALL();
  const std::string p = Prefix();
  for (const char* bin : {"solar", "solarctl", "solar-cli", "solar-bench"}) {
    EXPECT_TRUE(IsExecutable(p + "/bin/" + bin)) << bin;
  }
  for (const char* f : {"include/solar/api/worker.h", "include/solar/api/request.h", "include/solar/api/response.h",
                        "lib/libsolar.a", "lib/libsolar_main.a", "lib/pkgconfig/solar.pc",
                        "lib/pkgconfig/solar-server.pc", "lib/systemd/system/solar.service",
                        "lib/solar/modules/libecho.so", "lib/solar/modules/libkv.so", "share/solar/proto/config.proto",
                        "share/solar/proto/kv.proto", "share/solar/proto/kv_config.proto",
                        "share/doc/solar/README.md", "share/doc/solar/docs/solar-bench.md",
                        "share/doc/solar/docs/kv.md", "etc/solar/solar.conf", "etc/solar/solar.conf.default"}) {
    EXPECT_TRUE(IsFile(p + "/" + f)) << f;
  }
  // A fresh install: the config is the defaults.
  EXPECT_EQ(ReadFile(p + "/etc/solar/solar.conf"), ReadFile(p + "/etc/solar/solar.conf.default"));
  // An installed example module loads in the installed solar (copied where
  // the worker user can read it: the build tree may not be).
  ServerHarness scratch;
  const std::string module = scratch.dir() + "/libecho.so";
  ASSERT_TRUE(CopyFile(p + "/lib/solar/modules/libecho.so", module));
  ASSERT_TRUE(WriteFile(scratch.dir() + "/check.conf",
                        CheckConfig(scratch.dir(), "worker { module: \"" + module + "\" }")));
  const Out check = Shell(Quote(p + "/bin/solar") + " -t -c " + Quote(scratch.dir() + "/check.conf"));
  EXPECT_EQ(check.code, 0) << check.text;
}

TEST(Install, PkgConfigFindsSolarInThePrefix) {
  REQUIRE_INSTALL();
  const std::string in = InPrefix("/");
  const Out cflags = Shell(in + "pkg-config --cflags solar");
  ASSERT_EQ(cflags.code, 0) << cflags.text;
  EXPECT_EQ(Trim(cflags.text), "-I" + Prefix() + "/include/solar");
  const Out libs = Shell(in + "pkg-config --libs solar");
  EXPECT_EQ(libs.code, 0) << libs.text;
  EXPECT_EQ(Trim(libs.text), "") << "a module takes the API from the solar binary";
  const Out server = Shell(in + "pkg-config --libs solar-server");
  ASSERT_EQ(server.code, 0) << server.text;
  for (const char* part : {"-lsolar_main", "-lsolar", "-Wl,--whole-archive", "-Wl,--no-whole-archive", "-levent",
                           "-lprotobuf", "-lglog", "-lsqlite3", "-lpq", "-lsystemd"}) {
    EXPECT_NE(server.text.find(part), std::string::npos) << part << " in: " << server.text;
  }
  // The .pc files carry the version the binaries report ("solar 0.3.0 (worker API 3)").
  const Out version = Shell(Quote(Prefix() + "/bin/solar") + " --version");
  const Out pc_version = Shell(in + "pkg-config --modversion solar");
  ASSERT_EQ(version.code, 0) << version.text;
  EXPECT_NE(version.text.find("solar " + Trim(pc_version.text) + " "), std::string::npos)
      << version.text << " vs " << pc_version.text;
}

TEST(Install, ReadmeModuleLineBuildsAModuleTheInstalledSolarServes) {
  REQUIRE_INSTALL();
  const std::string line = ReadmeBuildLine("-shared");
  ASSERT_NE(line.find("pkg-config --cflags solar"), std::string::npos) << "README: [" << line << "]";
  ServerHarness scratch;  // a directory the worker user can read
  ASSERT_TRUE(WriteReadmeWorker(scratch.dir()));
  const Out build = Shell(InPrefix(scratch.dir()) + line + ExtraFlags());
  ASSERT_EQ(build.code, 0) << line << "\n" << build.text;
  const std::string module = scratch.dir() + "/liborders.so";
  ASSERT_TRUE(IsFile(module)) << line;

  ScopedSolarBin installed(Prefix() + "/bin/solar");
  ServerHarness server("worker { module: \"" + module + "\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  const int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, Frame32("an order")));
  std::string reply;
  EXPECT_TRUE(ReadFrame32(fd, &reply)) << server.log();
  EXPECT_EQ(reply, "reply bytes");  // what the README's OrdersWorker answers
  close(fd);
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST(Install, ReadmeServerLineLinksAServerOfOnesOwn) {
  REQUIRE_INSTALL();
  const std::string line = ReadmeBuildLine("solar-server");
  ASSERT_NE(line.find("pkg-config --cflags --libs solar-server"), std::string::npos) << "README: [" << line << "]";
  ServerHarness scratch;
  ASSERT_TRUE(WriteReadmeWorker(scratch.dir()));
  const Out build = Shell(InPrefix(scratch.dir()) + line + ExtraFlags());
  ASSERT_EQ(build.code, 0) << line << "\n" << build.text;
  const std::string bin = scratch.dir() + "/orders-solar";
  ASSERT_TRUE(IsExecutable(bin)) << line;

  // -t loads the worker in a child: the README's worker is linked in and
  // registered, and a name that is not is refused.
  const std::string good = scratch.dir() + "/good.conf", bad = scratch.dir() + "/bad.conf";
  ASSERT_TRUE(WriteFile(good, CheckConfig(scratch.dir(), "worker { name: \"builtin:orders\" }")));
  ASSERT_TRUE(WriteFile(bad, CheckConfig(scratch.dir(), "worker { name: \"builtin:nosuch\" }")));
  const Out ok = Shell(Quote(bin) + " -t -c " + Quote(good));
  EXPECT_EQ(ok.code, 0) << ok.text;
  EXPECT_NE(ok.text.find("is ok"), std::string::npos) << ok.text;
  const Out refused = Shell(Quote(bin) + " -t -c " + Quote(bad));
  EXPECT_EQ(refused.code, 1) << refused.text;

  ScopedSolarBin own(bin);
  ServerHarness server("worker { name: \"builtin:orders\" }\n");
  ASSERT_TRUE(server.start()) << server.log();
  const int fd = ConnectTcp(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, Frame32("an order")));
  std::string reply;
  EXPECT_TRUE(ReadFrame32(fd, &reply)) << server.log();
  EXPECT_EQ(reply, "reply bytes");
  close(fd);
  EXPECT_EQ(server.stop(), 0) << server.log();
}

// The long options a binary's --help lists ("--config", ...).
std::vector<std::string> HelpOptions(const std::string& bin) {
  const Out help = Shell(Quote(bin) + " --help");
  std::vector<std::string> options;
  static const std::regex kLong("(^|[\\s,\\[])(--[a-z][a-z0-9-]*)");
  for (auto it = std::sregex_iterator(help.text.begin(), help.text.end(), kLong); it != std::sregex_iterator(); ++it) {
    options.push_back((*it)[2]);
  }
  return options;
}

TEST(Install, ManPagesRenderAndDocumentEveryOption) {
  REQUIRE_INSTALL();
  struct Page {
    const char* name;
    int section;
  };
  const bool have_groff = Shell("command -v groff").code == 0;
  for (const Page& page : {Page{"solar", 8}, Page{"solarctl", 8}, Page{"solar-cli", 1}, Page{"solar-bench", 1}}) {
    SCOPED_TRACE(page.name);
    const std::string section = std::to_string(page.section);
    const std::string path = Prefix() + "/share/man/man" + section + "/" + page.name + "." + section;
    const std::string roff = ReadFile(path);
    ASSERT_FALSE(roff.empty()) << path;
    std::string upper = page.name;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string th;
    for (const std::string& line : Lines(roff)) {
      if (line.rfind(".TH ", 0) == 0) th = line;
    }
    // ".TH SOLAR\-CLI 1 ...": roff escapes the hyphen.
    EXPECT_EQ(std::regex_replace(th, std::regex("\\\\-"), "-").rfind(".TH " + upper + " " + section + " ", 0), 0u) << th;
    EXPECT_NE(roff.find("\n.SH NAME\n"), std::string::npos);
    EXPECT_NE(roff.find("\n.SH SYNOPSIS\n"), std::string::npos);
    // Paths name the prefix (make install writes it in place of /usr/local;
    // the roff comments keep saying so).
    if (Prefix() != "/usr/local") {
      for (const std::string& line : Lines(roff)) {
        if (line.rfind(".\\\"", 0) == 0) continue;
        EXPECT_EQ(line.find("/usr/local"), std::string::npos) << line;
      }
    }
    const std::string text = std::regex_replace(roff, std::regex("\\\\-"), "-");
    for (const std::string& option : HelpOptions(Prefix() + "/bin/" + page.name)) {
      EXPECT_NE(text.find(option), std::string::npos) << option << " is in --help but not in " << path;
    }
    if (have_groff) {
      // -Wbreak: "cannot adjust line" depends on how long the install prefix
      // is (a path does not hyphenate), not on the page.
      const Out warnings = Shell("groff -man -Tutf8 -ww -Wbreak -z " + Quote(path));
      EXPECT_EQ(warnings.text, "") << path;
      // -P-cbu: plain text, no overstriking for bold or underline.
      const Out rendered = Shell("groff -man -Tutf8 -P-cbu " + Quote(path));
      EXPECT_EQ(rendered.code, 0);
      EXPECT_TRUE(std::regex_search(rendered.text, std::regex("NAME\\n +" + std::string(page.name) + " +- ")))
          << rendered.text;
    }
  }
}

// Key=value lines of a unit file; repeated keys keep every value.
std::multimap<std::string, std::string> ParseUnit(const std::string& text) {
  std::multimap<std::string, std::string> keys;
  for (const std::string& raw : Lines(text)) {
    const std::string line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';' || line[0] == '[') continue;
    const size_t eq = line.find('=');
    if (eq != std::string::npos) keys.emplace(line.substr(0, eq), line.substr(eq + 1));
  }
  return keys;
}

std::string One(const std::multimap<std::string, std::string>& keys, const std::string& key) {
  auto range = keys.equal_range(key);
  return range.first == range.second || std::next(range.first) != range.second ? "" : range.first->second;
}

std::vector<std::string> Words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// A field of `solar -T`'s output (the effective configuration).
std::string ConfigField(const std::string& printed, const std::string& field) {
  std::smatch m;
  return std::regex_search(printed, m, std::regex("(^|\\n)" + field + ": \"([^\"]*)\"")) ? m[2].str() : "";
}

TEST(Install, UnitPathsAgreeWithTheInstalledConfig) {
  REQUIRE_INSTALL();
  const std::string p = Prefix();
  const auto unit = ParseUnit(ReadFile(p + "/lib/systemd/system/solar.service"));
  ASSERT_FALSE(unit.empty());
  EXPECT_EQ(One(unit, "Type"), "notify");
  const std::string conf = p + "/etc/solar/solar.conf";
  EXPECT_EQ(Words(One(unit, "ExecStart")), (std::vector<std::string>{p + "/bin/solar", "-c", conf}));
  EXPECT_EQ(Words(One(unit, "ExecStartPre")), (std::vector<std::string>{p + "/bin/solar", "-t", "-c", conf}));

  // What the installed solar makes of the installed config.
  const Out printed = Shell(Quote(p + "/bin/solar") + " -T -c " + Quote(conf));
  ASSERT_EQ(printed.code, 0) << printed.text;
  const std::string pid_file = ConfigField(printed.text, "pid_file");
  const std::string state_dir = ConfigField(printed.text, "state_dir");
  ASSERT_EQ(pid_file.rfind("/run/", 0), 0u) << pid_file;
  ASSERT_EQ(state_dir.rfind("/var/lib/", 0), 0u) << state_dir;
  EXPECT_EQ(One(unit, "PIDFile"), pid_file);
  // systemd creates /run/RuntimeDirectory and /var/lib/StateDirectory.
  EXPECT_EQ("/run/" + One(unit, "RuntimeDirectory"), pid_file.substr(0, pid_file.rfind('/')));
  EXPECT_EQ("/var/lib/" + One(unit, "StateDirectory"), state_dir);

  // Documentation= names what is installed.
  std::vector<std::string> docs;
  auto range = unit.equal_range("Documentation");
  for (auto it = range.first; it != range.second; ++it) {
    for (const std::string& w : Words(it->second)) docs.push_back(w);
  }
  EXPECT_GE(docs.size(), 2u);
  static const std::regex kMan("man:([a-z-]+)\\(([0-9])\\)");
  for (const std::string& doc : docs) {
    std::smatch m;
    if (std::regex_match(doc, m, kMan)) {
      EXPECT_TRUE(IsFile(p + "/share/man/man" + m[2].str() + "/" + m[1].str() + "." + m[2].str())) << doc;
    } else if (doc.rfind("file://", 0) == 0) {
      EXPECT_TRUE(IsFile(doc.substr(7))) << doc;
    } else {
      ADD_FAILURE() << "Documentation=" << doc;
    }
  }
}

}  // namespace
}  // namespace solar::testing
