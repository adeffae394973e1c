#include "actors/runtime_watcher/runtime_argv.hpp"

#include <exception>
#include <utility>

namespace nw {

namespace {

/// Returned as `result{std::move(cmd)}`: the move into a different type is
/// implicit only for some compilers in C++17 (GCC moves, clang 14 copies).
using result = parse_result<runtime_command>;

// -- flag tables --------------------------------------------------------------

/// Where a flag's value goes (or what a value-less flag means to us).
enum class field : uint8_t {
  none,
  bundle,
  pid_file,
  root,
  config,
  id,
  name,
  runtime_path,
  runtime_arg,
  help,
  exec,
};

/// One flag a runtime knows. Knowing whether it takes a value matters more
/// than knowing what it means: a value mistaken for a positional would be
/// taken for the container id.
struct flag_spec {
  /// Without dashes; empty for a short-only flag.
  std::string_view long_name;
  /// '\0' for a long-only flag.
  char short_name;
  bool takes_value;
  field target;
};

/// runc's global flags (runc 1.1 main.go) and crun's (crun.c), merged: both
/// share runc's command line, and no flag means different things in the two.
/// `--rootless` takes a value in both (runc: true|false|auto).
constexpr flag_spec runtime_global_flags[] = {
  {"root", '\0', true, field::root},
  {"log", '\0', true, field::none},
  {"log-format", '\0', true, field::none},
  {"log-level", '\0', true, field::none},
  {"criu", '\0', true, field::none},
  {"rootless", '\0', true, field::none},
  {"cgroup-manager", '\0', true, field::none},
  {"debug", '\0', false, field::none},
  {"systemd-cgroup", '\0', false, field::none},
  {"help", 'h', false, field::help},
  {"usage", '\0', false, field::help},
  {"version", 'v', false, field::help},
  {"", 'V', false, field::help},
};

/// `create`'s flags in runc 1.1 (create.go) and crun (create.c; `-f` is
/// crun's config override, `--no-subreaper` its ignored legacy flag).
constexpr flag_spec runtime_create_flags[] = {
  {"bundle", 'b', true, field::bundle},
  {"pid-file", '\0', true, field::pid_file},
  {"console-socket", '\0', true, field::none},
  {"preserve-fds", '\0', true, field::none},
  {"config", 'f', true, field::config},
  {"no-pivot", '\0', false, field::none},
  {"no-new-keyring", '\0', false, field::none},
  {"no-subreaper", '\0', false, field::none},
  {"help", 'h', false, field::help},
};

/// conmon's options (src/cli.c, 2.1). `--api-version` is G_OPTION_ARG_NONE
/// there although podman passes `--api-version 1`; glib leaves the "1" as a
/// positional, which conmon (and we) ignore.
constexpr flag_spec conmon_flags[] = {
  {"api-version", '\0', false, field::none},
  {"bundle", 'b', true, field::bundle},
  {"cid", 'c', true, field::id},
  {"conmon-pidfile", 'P', true, field::none},
  {"container-pidfile", 'p', true, field::pid_file},
  {"pidfile", '\0', true, field::pid_file},
  {"cuuid", 'u', true, field::none},
  {"exec", 'e', false, field::exec},
  {"exec-attach", '\0', false, field::none},
  {"exec-process-spec", '\0', true, field::none},
  {"exit-command", '\0', true, field::none},
  {"exit-command-arg", '\0', true, field::none},
  {"exit-delay", '\0', true, field::none},
  {"exit-dir", '\0', true, field::none},
  {"leave-stdin-open", '\0', false, field::none},
  {"log-level", '\0', true, field::none},
  {"log-path", 'l', true, field::none},
  {"log-size-max", '\0', true, field::none},
  {"log-global-size-max", '\0', true, field::none},
  {"log-tag", '\0', true, field::none},
  {"name", 'n', true, field::name},
  {"no-new-keyring", '\0', false, field::none},
  {"no-pivot", '\0', false, field::none},
  {"no-sync-log", '\0', false, field::none},
  {"persist-dir", '0', true, field::none},
  {"replace-listen-pid", '\0', false, field::none},
  {"restore", '\0', true, field::none},
  {"restore-arg", '\0', true, field::none},
  {"runtime", 'r', true, field::runtime_path},
  {"runtime-arg", '\0', true, field::runtime_arg},
  {"runtime-opt", '\0', true, field::none},
  {"sdnotify-socket", '\0', true, field::none},
  {"socket-dir-path", '\0', true, field::none},
  {"seccomp-notify-socket", '\0', true, field::none},
  {"seccomp-notify-plugins", '\0', true, field::none},
  {"stdin", 'i', false, field::none},
  {"sync", '\0', false, field::none},
  {"syslog", '\0', false, field::none},
  {"systemd-cgroup", 's', false, field::none},
  {"terminal", 't', false, field::none},
  {"timeout", 'T', true, field::none},
  {"full-attach", '\0', false, field::none},
  {"version", '\0', false, field::help},
  {"help", 'h', false, field::help},
};

/// A view of one of the tables above.
struct flag_table {
  const flag_spec* first;
  const flag_spec* last;

  template <size_t N>
  constexpr flag_table(const flag_spec (&xs)[N]) : first(xs), last(xs + N) {
    // nop
  }

  const flag_spec* find_long(std::string_view name) const {
    if (name.empty())
      return nullptr;
    for (auto* i = first; i != last; ++i)
      if (i->long_name == name)
        return i;
    return nullptr;
  }

  const flag_spec* find_short(char c) const {
    for (auto* i = first; i != last; ++i)
      if (i->short_name != '\0' && i->short_name == c)
        return i;
    return nullptr;
  }
};

// -- scanning -----------------------------------------------------------------

/// A value taken from argv, with whether it may have been cut by the capture.
struct argv_value {
  std::string text;
  bool maybe_truncated = false;
  bool given = false;
};

/// One flag occurrence. `spec` is null for a flag the table does not know;
/// `value` is set only for a value-taking flag that got one.
struct flag_hit {
  const flag_spec* spec = nullptr;
  std::optional<std::string_view> value;
  bool value_maybe_truncated = false;
};

bool maybe_truncated(const std::string& entry) {
  return entry.size() == max_argv_entry_bytes;
}

/// Walks argv[first..] as getopt/Go's flag package would, calling
/// `on_flag(const flag_hit&)` per flag and `on_positional(index)` per
/// positional; scanning stops when on_positional returns false (global flags
/// end at the subcommand). Returns a reason when argv is malformed.
template <class OnFlag, class OnPositional>
std::string scan(const std::vector<std::string>& argv, size_t first,
                 flag_table table, bool capped, OnFlag&& on_flag,
                 OnPositional&& on_positional) {
  for (size_t i = first; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      for (++i; i < argv.size(); ++i)
        if (!on_positional(i))
          return {};
      return {};
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (!on_positional(i))
        return {};
      continue;
    }
    auto dashdash = arg[1] == '-';
    auto body = arg.substr(dashdash ? 2 : 1);
    auto eq = body.find('=');
    auto* spec = table.find_long(body.substr(0, eq));
    if (spec == nullptr && !dashdash) {
      // A getopt-style group of short flags (`-ti`, `-bDIR`, `-b DIR`).
      for (size_t k = 0; k < body.size(); ++k) {
        auto* s = table.find_short(body[k]);
        if (s == nullptr) {
          // An unknown letter: the rest of the group is unreadable.
          on_flag(flag_hit{});
          break;
        }
        if (!s->takes_value) {
          on_flag(flag_hit{s, std::nullopt, false});
          continue;
        }
        auto rest = body.substr(k + 1);
        if (!rest.empty()) {
          if (rest.front() == '=') // Go's `-b=DIR`
            rest.remove_prefix(1);
          on_flag(flag_hit{s, rest, maybe_truncated(argv[i])});
        } else if (i + 1 < argv.size()) {
          ++i;
          on_flag(
            flag_hit{s, std::string_view{argv[i]}, maybe_truncated(argv[i])});
        } else if (!capped) {
          return "flag " + quote_input(arg) + " needs a value";
        }
        break;
      }
      continue;
    }
    if (spec == nullptr || !spec->takes_value) {
      on_flag(flag_hit{spec, std::nullopt, false});
      continue;
    }
    if (eq != std::string_view::npos) {
      on_flag(flag_hit{spec, body.substr(eq + 1), maybe_truncated(argv[i])});
    } else if (i + 1 < argv.size()) {
      // Like Go's flag package, glib and getopt, the next entry is the value
      // even if it starts with '-' (`--runtime-arg --log-format=json`).
      ++i;
      on_flag(
        flag_hit{spec, std::string_view{argv[i]}, maybe_truncated(argv[i])});
    } else if (!capped) {
      return "flag " + quote_input(arg) + " needs a value";
    }
    // else: the value was probably cut off with the end of a capped argv.
  }
  return {};
}

void assign(argv_value& out, const flag_hit& hit) {
  // Every runtime here lets the last occurrence of a flag win.
  out.text.assign(hit.value->data(), hit.value->size());
  out.maybe_truncated = hit.value_maybe_truncated;
  out.given = true;
}

std::string truncated_reason(std::string_view what) {
  return std::string{what} + " may have been truncated: its argv entry has "
         + std::to_string(max_argv_entry_bytes)
         + " bytes, the BPF capture limit";
}

/// Moves a path value into `out` if it was given and passes the checks.
std::string use_path(argv_value& value, std::string_view what,
                     std::string& out) {
  if (!value.given)
    return {};
  if (value.maybe_truncated)
    return truncated_reason(what);
  if (auto err = check_absolute_path(value.text, what); !err.empty())
    return err;
  out = std::move(value.text);
  return {};
}

std::string use_id(argv_value& value, std::string_view what, std::string& out) {
  if (value.maybe_truncated)
    return truncated_reason(what);
  if (auto err = check_container_id(value.text))
    return std::string{what} + ": " + err->reason;
  out = std::move(value.text);
  return {};
}

std::string capped_hint(bool capped) {
  if (!capped)
    return {};
  return " (argv reached the " + std::to_string(max_argv_entries)
         + "-entry capture limit; it may have been cut off)";
}

// -- runc-compatible runtimes -------------------------------------------------

parse_result<runtime_command>
parse_runc_like(const std::vector<std::string>& argv, runtime_command cmd) {
  auto capped = cmd.argv_capped;
  argv_value root;
  auto help = false;
  size_t subcommand_index = 0;
  auto err = scan(
    argv, 1, runtime_global_flags, capped,
    [&](const flag_hit& hit) {
      if (hit.spec == nullptr)
        return;
      if (hit.spec->target == field::root && hit.value)
        assign(root, hit);
      else if (hit.spec->target == field::help)
        help = true;
    },
    [&](size_t index) {
      subcommand_index = index;
      return false;
    });
  if (!err.empty())
    return parse_error{std::move(err)};
  if (subcommand_index == 0) {
    cmd.kind = runtime_command_kind::other;
    cmd.reason = help ? "help or version output" : "no subcommand";
    return result{std::move(cmd)};
  }
  cmd.subcommand = argv[subcommand_index];
  if (help) {
    cmd.kind = runtime_command_kind::other;
    cmd.reason = "help or version output";
    return result{std::move(cmd)};
  }
  if (cmd.subcommand != "create") {
    cmd.kind = runtime_command_kind::other;
    cmd.reason
      = "subcommand " + quote_input(cmd.subcommand) + " creates no container";
    return result{std::move(cmd)};
  }
  argv_value bundle;
  argv_value pid_file;
  argv_value config;
  argv_value id;
  err = scan(
    argv, subcommand_index + 1, runtime_create_flags, capped,
    [&](const flag_hit& hit) {
      if (hit.spec == nullptr)
        return;
      switch (hit.spec->target) {
        case field::bundle:
          assign(bundle, hit);
          break;
        case field::pid_file:
          assign(pid_file, hit);
          break;
        case field::config:
          assign(config, hit);
          break;
        case field::help:
          help = true;
          break;
        default:
          break;
      }
    },
    [&](size_t index) {
      // The last positional is the id: an unknown flag's value, mistaken
      // for a positional, comes before it in every shape shims produce.
      id.text = argv[index];
      id.maybe_truncated = maybe_truncated(argv[index]);
      id.given = true;
      return true;
    });
  if (!err.empty())
    return parse_error{std::move(err)};
  if (help) {
    cmd.kind = runtime_command_kind::other;
    cmd.reason = "help output";
    return result{std::move(cmd)};
  }
  if (!id.given)
    // Say where the argv ends: a create cut short (a capture that lost its
    // tail) and a create really given no id read differently in a log.
    return parse_error{"create without a container id ("
                       + std::to_string(argv.size())
                       + " argv entries, the last " + quote_input(argv.back())
                       + ")" + capped_hint(capped)};
  cmd.kind = runtime_command_kind::create;
  if (err = use_id(id, "container id", cmd.id); !err.empty())
    return parse_error{std::move(err)};
  if (err = use_path(bundle, "--bundle", cmd.bundle); !err.empty())
    return parse_error{std::move(err)};
  if (err = use_path(pid_file, "--pid-file", cmd.pid_file); !err.empty())
    return parse_error{std::move(err)};
  if (err = use_path(root, "--root", cmd.root); !err.empty())
    return parse_error{std::move(err)};
  // crun compares with "config.json" too: that name means the bundle's own.
  if (config.given && config.text == "config.json")
    config.given = false;
  if (err = use_path(config, "--config", cmd.config); !err.empty())
    return parse_error{std::move(err)};
  return result{std::move(cmd)};
}

// -- conmon -------------------------------------------------------------------

/// The state root conmon passes on to the runtime: `--runtime-arg
/// --root=DIR` (CRI-O) or `--runtime-arg --root --runtime-arg DIR`.
argv_value root_from_runtime_args(std::vector<argv_value>& args) {
  argv_value result;
  for (size_t k = 0; k < args.size(); ++k) {
    std::string_view arg = args[k].text;
    for (std::string_view prefix : {"--root=", "-root="}) {
      if (arg.substr(0, prefix.size()) == prefix) {
        result.text = std::string{arg.substr(prefix.size())};
        result.maybe_truncated = args[k].maybe_truncated;
        result.given = true;
      }
    }
    if ((arg == "--root" || arg == "-root") && k + 1 < args.size()) {
      result = std::move(args[k + 1]);
      ++k;
    }
  }
  return result;
}

parse_result<runtime_command> parse_conmon(const std::vector<std::string>& argv,
                                           runtime_command cmd) {
  auto capped = cmd.argv_capped;
  argv_value id;
  argv_value bundle;
  argv_value pid_file;
  argv_value name;
  argv_value runtime_path;
  std::vector<argv_value> runtime_args;
  auto help = false;
  auto exec = false;
  auto err = scan(
    argv, 1, conmon_flags, capped,
    [&](const flag_hit& hit) {
      if (hit.spec == nullptr)
        return;
      switch (hit.spec->target) {
        case field::id:
          assign(id, hit);
          break;
        case field::bundle:
          assign(bundle, hit);
          break;
        case field::pid_file:
          assign(pid_file, hit);
          break;
        case field::name:
          assign(name, hit);
          break;
        case field::runtime_path:
          assign(runtime_path, hit);
          break;
        case field::runtime_arg:
          // Bounded: at most one per argv entry, and argv is bounded.
          assign(runtime_args.emplace_back(), hit);
          break;
        case field::help:
          help = true;
          break;
        case field::exec:
          exec = true;
          break;
        default:
          break;
      }
    },
    [](size_t) { return true; });
  if (!err.empty())
    return parse_error{std::move(err)};
  if (help) {
    cmd.kind = runtime_command_kind::other;
    cmd.reason = "help or version output";
    return result{std::move(cmd)};
  }
  if (exec) {
    cmd.kind = runtime_command_kind::other;
    cmd.reason = "conmon exec session";
    return result{std::move(cmd)};
  }
  if (!id.given)
    return parse_error{"conmon without -c/--cid" + capped_hint(capped)};
  cmd.kind = runtime_command_kind::conmon;
  if (err = use_id(id, "-c/--cid", cmd.id); !err.empty())
    return parse_error{std::move(err)};
  if (err = use_path(bundle, "-b/--bundle", cmd.bundle); !err.empty())
    return parse_error{std::move(err)};
  if (err = use_path(pid_file, "-p/--container-pidfile", cmd.pid_file);
      !err.empty())
    return parse_error{std::move(err)};
  if (err = use_path(runtime_path, "-r/--runtime", cmd.runtime_path);
      !err.empty())
    return parse_error{std::move(err)};
  auto root = root_from_runtime_args(runtime_args);
  if (err = use_path(root, "--runtime-arg --root", cmd.root); !err.empty())
    return parse_error{std::move(err)};
  if (name.given && !name.text.empty()) {
    if (name.maybe_truncated)
      return parse_error{truncated_reason("-n/--name")};
    for (auto c : name.text) {
      auto u = static_cast<unsigned char>(c);
      // The name reaches logs and tables; control bytes could forge lines.
      if (u < 0x20 || u == 0x7f)
        return parse_error{"-n/--name " + quote_input(name.text)
                           + " contains a control character"};
    }
    cmd.name = std::move(name.text);
  }
  return result{std::move(cmd)};
}

} // namespace

const char* to_string(runtime_command_kind x) {
  switch (x) {
    case runtime_command_kind::ignored:
      return "ignored";
    case runtime_command_kind::create:
      return "create";
    case runtime_command_kind::conmon:
      return "conmon";
    case runtime_command_kind::other:
      break;
  }
  return "other";
}

std::string runtime_basename(std::string_view argv0) {
  auto slash = argv0.rfind('/');
  if (slash != std::string_view::npos)
    argv0.remove_prefix(slash + 1);
  return std::string{argv0};
}

std::optional<parse_error> check_container_id(std::string_view id) {
  if (id.empty())
    return parse_error{"container id is empty"};
  if (id.size() > max_container_id_bytes)
    return parse_error{"container id is " + std::to_string(id.size())
                       + " bytes long (at most "
                       + std::to_string(max_container_id_bytes) + ")"};
  if (id == "." || id == "..")
    return parse_error{"container id " + quote_input(id)
                       + " names a directory"};
  for (auto c : id) {
    auto ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '.'
              || c == '-';
    if (!ok)
      return parse_error{"container id " + quote_input(id)
                         + " has a character outside [A-Za-z0-9_+.-]"};
  }
  return std::nullopt;
}

parse_result<runtime_command>
parse_runtime_argv(const std::vector<std::string>& argv) try {
  if (argv.size() > max_argv_entries)
    return parse_error{"argv has " + std::to_string(argv.size())
                       + " entries; the capture records at most "
                       + std::to_string(max_argv_entries)};
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i].size() > max_argv_entry_bytes)
      return parse_error{"argv[" + std::to_string(i) + "] is "
                         + std::to_string(argv[i].size())
                         + " bytes; the capture records at most "
                         + std::to_string(max_argv_entry_bytes)};
    if (argv[i].find('\0') != std::string::npos)
      return parse_error{"argv[" + std::to_string(i) + "] contains a NUL byte"};
  }
  runtime_command cmd;
  if (argv.empty()) {
    cmd.reason = "empty argv";
    return result{std::move(cmd)};
  }
  // runc re-executes itself through /proc/self/exe (runc init): not a
  // command a user or shim gave.
  if (argv[0] == "/proc/self/exe") {
    cmd.reason = "runtime re-exec through /proc/self/exe";
    return result{std::move(cmd)};
  }
  cmd.runtime = runtime_basename(argv[0]);
  if (cmd.runtime.empty()) {
    cmd.reason = "argv[0] " + quote_input(argv[0]) + " has an empty basename";
    return result{std::move(cmd)};
  }
  cmd.argv_capped = argv.size() == max_argv_entries;
  if (cmd.runtime == "conmon")
    return parse_conmon(argv, std::move(cmd));
  return parse_runc_like(argv, std::move(cmd));
} catch (const std::exception& e) {
  // Only std::bad_alloc can get here; an actor must not die of it.
  return parse_error{std::string{"argv parser failed: "} + e.what()};
}

} // namespace nw
