#pragma once
// poolserver's command line: a flag for every setting, over the environment (CLI11).

#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace config {

/// What the command line asks for: serve with `run`, or exit with `exit_code`.
struct cli_outcome {
  std::optional<settings> run;  ///< the effective settings, when the server should start
  int exit_code = 0;            ///< otherwise: 0 after --help, --version, --print-config; 2 on error
};

/// Parses `args` (args[0] is the program): every flag in setting_table() overrides its
/// variable in `env`, then load() validates the result. --help, --version and
/// --print-config write to `out`; a usage or configuration error goes to `err` as one line
/// naming the flag (or the variable) at fault.
cli_outcome parse_command_line(std::span<const std::string> args, const env_lookup& env,
                               unsigned cores, std::ostream& out, std::ostream& err);

/// The --print-config text: a comment line, then NAME=value for every setting.
std::string print_config(const settings& s);

}  // namespace config
