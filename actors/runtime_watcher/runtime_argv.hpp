// Parsing the argv of an OCI runtime exec (runc, crun or anything with
// runc's command line; conmon), as bpf/execruntime captured it.
//
// The argv is untrusted: anyone allowed to exec a watched runtime (rootless
// podman users included) controls every byte. The parser is bounded by the
// capture format, validates everything it extracts, and never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/runtime_watcher/parse_result.hpp"

namespace nw {

// -- bounds -------------------------------------------------------------------

/// Most argv entries the BPF capture records; an argv with exactly this many
/// may have lost entries at its end (see runtime_command::argv_capped).
inline constexpr size_t max_argv_entries = 20;

/// Longest argv entry the BPF capture records: a 256-byte slot minus the NUL.
/// An entry of exactly this length may have been cut; a value we would use
/// taken from such an entry is rejected rather than trusted (a cut path or id
/// names something else).
inline constexpr size_t max_argv_entry_bytes = 255;

/// Longest container id accepted (ids become file names; runtimes use 64).
inline constexpr size_t max_container_id_bytes = 1024;

// -- the parsed command -------------------------------------------------------

/// What a runtime invocation is, as far as container detection cares.
enum class runtime_command_kind : uint8_t {
  /// Not to be looked at: runc's own re-exec (`/proc/self/exe`), an argv
  /// without a usable argv[0]. `reason` says which.
  ignored,
  /// `RUNTIME [global flags] create [flags] ID`: a container is being created
  /// and its pidfile is about to be written.
  create,
  /// `conmon ... -c ID`: a monitor about to run `create`; it arrives first
  /// and carries the manager's name for the container (`-n`).
  conmon,
  /// Any other runtime subcommand (start, run, delete, exec, state, ...), a
  /// conmon exec session, or help/version output.
  other,
};

/// The name of `x` ("ignored", "create", "conmon", "other").
const char* to_string(runtime_command_kind x);

/// One runtime invocation, as parsed from its argv. Fields that do not apply
/// to `kind`, or that the argv did not give, are empty.
struct runtime_command {
  /// What the invocation is.
  runtime_command_kind kind = runtime_command_kind::ignored;
  /// The basename of argv[0] ("runc", "crun", "conmon", ...).
  std::string runtime;
  /// runc/crun: the subcommand ("create", "start", ...); empty for conmon.
  std::string subcommand;
  /// Why `kind` is `ignored` or `other`, for logs.
  std::string reason;
  /// The container id: create's last positional, conmon's `-c`/`--cid`.
  /// Always valid per check_container_id() for `create` and `conmon`.
  std::string id;
  /// `--bundle`/`-b`; empty when not given (the runtime uses its cwd).
  std::string bundle;
  /// create's `--pid-file`, conmon's `-p`/`--container-pidfile`/`--pidfile`.
  std::string pid_file;
  /// The runtime's state root: the global `--root`, or for conmon the
  /// `--root` it passes through `--runtime-arg`. Empty when not given.
  std::string root;
  /// crun's `--config`/`-f` (config.json under another name); empty when not
  /// given or when it names the default `config.json` in the bundle.
  std::string config;
  /// conmon's `-n`/`--name`: the name the manager gave the container.
  std::string name;
  /// conmon's `-r`/`--runtime`: the runtime it will run `create` with.
  std::string runtime_path;
  /// The argv had max_argv_entries entries, so trailing entries may have
  /// been lost: a flag at the very end whose value is missing was tolerated,
  /// and flags that were not seen may still have been given.
  bool argv_capped = false;
};

// -- parsing ------------------------------------------------------------------

/// The part of `argv0` after its last '/' (all of it if there is none); empty
/// when argv0 is empty or ends with '/'.
std::string runtime_basename(std::string_view argv0);

/// Checks a container id: 1..max_container_id_bytes bytes of
/// `[A-Za-z0-9_+.-]`, not "." or ".." (ids become file and directory names).
/// Returns why it is rejected, or nothing when it is acceptable.
std::optional<parse_error> check_container_id(std::string_view id);

/// Parses one runtime argv.
///
/// - runc-compatible runtimes (any basename but "conmon"): global flags, then
///   the subcommand; for `create`, its flags and the id, which is the last
///   positional (an unknown flag is taken to have no value, so a value it did
///   have shows up as an earlier positional and is passed over). Flags are
///   `--flag value`, `--flag=value`, Go's single-dash `-flag`, and short
///   `-b value`/`-bvalue`.
/// - conmon: its flags in any order (positionals are ignored, as conmon does:
///   `--api-version` takes no value, so podman's `--api-version 1` leaves a
///   stray "1"); unknown flags are taken to have no value.
///
/// Rejects (returns why): more than max_argv_entries entries, an entry longer
/// than max_argv_entry_bytes or containing NUL, a value-taking flag without a
/// value (unless the argv is capped), a create/conmon without a valid id, a
/// relative or over-long path, a used value that may have been truncated.
parse_result<runtime_command>
parse_runtime_argv(const std::vector<std::string>& argv);

} // namespace nw
