// The config beyond parsing: the paths it names checked (CheckPaths), the
// state directory resolved, warnings, an error placed at its line
// (LocateFieldError) and the config printed back (solar -T, WorkerInfo).
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>

#include "config/config.h"

namespace solar {

using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;

namespace {

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool IsWritableDir(const std::string& dir) {
  struct stat st;
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && access(dir.c_str(), W_OK | X_OK) == 0;
}

}  // namespace

bool CheckPaths(const Config& config, std::string* error) {
  const std::string pid_dir = Dirname(config.pid_file());
  if (!IsWritableDir(pid_dir)) {
    *error = "pid_file " + config.pid_file() + ": its directory " + pid_dir +
             (access(pid_dir.c_str(), F_OK) == 0 ? " is not a directory this user can write"
                                                 : " does not exist (create it, or set pid_file)");
    return false;
  }
  if (!config.log_dir().empty()) {
    const std::string& dir = config.log_dir();
    // The last level is created at start; its parent must be there.
    const bool exists = access(dir.c_str(), F_OK) == 0;
    if (exists ? !IsWritableDir(dir) : !IsWritableDir(Dirname(dir))) {
      *error = "log_dir " + dir + (exists ? ": not a directory this user can write"
                                          : ": cannot be created (" + Dirname(dir) + " is missing or not writable)");
      return false;
    }
  }
  return true;
}

namespace {

// The string written after the `key` field whose name token is at (line,
// column) of `text` ("a" "b" concatenated, escapes resolved), or "" when no
// string follows.
std::string KeyWrittenAt(const std::string& text, int line, int column) {
  google::protobuf::io::ArrayInputStream in(text.data(), static_cast<int>(text.size()));
  struct Quiet : google::protobuf::io::ErrorCollector { void AddError(int, int, const std::string&) override {} } quiet;
  using Tok = google::protobuf::io::Tokenizer;
  Tok tok(&in, &quiet);
  tok.set_comment_style(Tok::SH_COMMENT_STYLE);
  while (tok.Next() && (tok.current().line < line || (tok.current().line == line && tok.current().column < column))) {
  }
  if (tok.current().line != line || tok.current().column != column || !tok.Next()) return "";
  if (tok.current().type == Tok::TYPE_SYMBOL && tok.current().text == ":" && !tok.Next()) return "";
  std::string key;
  while (tok.current().type == Tok::TYPE_STRING) {
    Tok::ParseStringAppend(tok.current().text, &key);
    if (!tok.Next()) break;
  }
  return key;
}

// Where `worker { settings { key: KEY ... } }` is written in the file parsed
// into `tree`: the line of that entry. line < 0 when it is not there.
TextFormat::ParseLocation SettingLocation(const std::string& text, const TextFormat::ParseInfoTree& tree,
                                          const std::string& key) {
  const FieldDescriptor* worker = Config::descriptor()->FindFieldByName("worker");
  const FieldDescriptor* settings = WorkerConfig::descriptor()->FindFieldByName("settings");
  const FieldDescriptor* key_field = settings->message_type()->FindFieldByName("key");
  const TextFormat::ParseInfoTree* in_worker = tree.GetTreeForNested(worker, -1);
  if (in_worker == nullptr) return {};
  for (int i = 0;; ++i) {
    const auto entry = in_worker->GetLocation(settings, i);
    if (entry.line < 0) break;
    const TextFormat::ParseInfoTree* in_entry = in_worker->GetTreeForNested(settings, i);
    if (in_entry == nullptr) continue;
    const auto at = in_entry->GetLocation(key_field, -1);
    if (at.line >= 0 && KeyWrittenAt(text, at.line, at.column) == key) return entry;
  }
  return {};
}

}  // namespace

std::string LocateFieldError(const std::string& text, const std::string& name, const std::string& error) {
  static const std::regex kDotted(R"(\b([a-z_]+)\.([a-z0-9_]+):)");
  Config scratch;
  TextFormat::Parser parser;
  TextFormat::ParseInfoTree tree;
  parser.WriteLocationsTo(&tree);
  if (text.empty() || !parser.ParseFromString(text, &scratch)) return name + ": " + error;
  auto at = [&](const TextFormat::ParseLocation& loc) {
    return name + ":" + std::to_string(loc.line + 1) + ":" + std::to_string(loc.column + 1) + ": " + error;
  };
  for (auto it = std::sregex_iterator(error.begin(), error.end(), kDotted); it != std::sregex_iterator(); ++it) {
    if ((*it)[1] == "settings") {  // the worker's own: worker { settings { key: "KEY" ... } }
      const auto loc = SettingLocation(text, tree, (*it)[2]);
      if (loc.line >= 0) return at(loc);
      continue;
    }
    const FieldDescriptor* section = Config::descriptor()->FindFieldByName((*it)[1]);
    if (section == nullptr || section->message_type() == nullptr) continue;
    const FieldDescriptor* field = section->message_type()->FindFieldByName((*it)[2]);
    const TextFormat::ParseInfoTree* nested = tree.GetTreeForNested(section, -1);
    auto loc = nested != nullptr && field != nullptr ? nested->GetLocation(field, -1) : tree.GetLocation(section, -1);
    if (loc.line < 0) continue;
    return at(loc);
  }
  return name + ": " + error;
}

std::string ResolveStateDir(const Config& config, bool as_root) {
  if (!config.state_dir().empty()) return config.state_dir();
  // As root the workers run as `user`, who may not be able to enter the start
  // directory (a checkout under /root, a mktemp -d folder): state goes where
  // daemons keep theirs. Unprivileged, the server's own user owns var/ here.
  return as_root ? kRootStateDir : "var";
}

std::vector<std::string> ConfigWarnings(const Config& config, bool as_root) {
  std::vector<std::string> warnings;
  const passwd* pw = getpwnam(config.user().c_str());
  if (as_root && pw != nullptr && pw->pw_uid == 0) {
    warnings.push_back("user \"" + config.user() +
                       "\" is root: every child, and the worker code in it, runs as root with all "
                       "capabilities; name an unprivileged user (the default is \"nobody\")");
  }
  if (config.dispatch() == PER_REQUEST && config.protocol() == RAW) {
    warnings.push_back(
        "dispatch PER_REQUEST with protocol RAW: each read is a request of its own and may run on any worker; "
        "a worker that reassembles a byte stream needs ROUND_ROBIN or LEAST_CONNECTIONS");
  }
  if (config.dispatch() != PER_REQUEST && config.max_in_flight_per_connection() > 1) {
    warnings.push_back("max_in_flight_per_connection applies to dispatch PER_REQUEST only; in a pinned mode a "
                       "connection's requests run one after another on its worker");
  }
  return warnings;
}

namespace {

// Text format with every field of a section shown, zero values included
// (protobuf's printer leaves out proto3 fields that hold their zero value).
void PrintAllFields(const google::protobuf::Message& m, const std::string& indent, std::string* out) {
  const auto* desc = m.GetDescriptor();
  const auto* refl = m.GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    const FieldDescriptor* f = desc->field(i);
    const bool message = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (f->is_repeated()) {
      for (int j = 0; j < refl->FieldSize(m, f); ++j) {
        if (message) {
          *out += indent + f->name() + " {\n";
          PrintAllFields(refl->GetRepeatedMessage(m, f, j), indent + "  ", out);
          *out += indent + "}\n";
        } else {
          std::string v;
          TextFormat::PrintFieldValueToString(m, f, j, &v);
          *out += indent + f->name() + ": " + v + "\n";
        }
      }
    } else if (message) {
      if (!refl->HasField(m, f)) continue;  // an absent section (udp, kv) means "off" or "its defaults"
      *out += indent + f->name() + " {\n";
      PrintAllFields(refl->GetMessage(m, f), indent + "  ", out);
      *out += indent + "}\n";
    } else {
      std::string v;
      TextFormat::PrintFieldValueToString(m, f, -1, &v);
      *out += indent + f->name() + ": " + v + "\n";
    }
  }
}

}  // namespace

std::string ConfigToTextAllFields(const Config& config) {
  std::string out;
  PrintAllFields(config, "", &out);
  return out;
}

std::string ConfigToText(const Config& config) {
  TextFormat::Printer printer;
  std::string text;
  printer.PrintToString(config, &text);
  return text;
}

}  // namespace solar
