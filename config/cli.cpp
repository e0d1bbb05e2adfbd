#include "config/cli.hpp"

#include <map>
#include <ostream>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>

namespace config {

namespace {

constexpr std::string_view description =
    "poolserver: an HTTP compute server with a bounded worker pool.\n"
    "Every setting is a flag or an environment variable; a flag overrides the variable.\n"
    "An empty value counts as unset. Settings, endpoints and metrics: docs/ (README.md).";

// The value name --help shows after a flag (--port N): what kind of value it takes.
std::string value_name(const setting& s) {
  switch (s.kind) {
    case value_kind::integer:
    case value_kind::power_of_two:
      return "N";
    case value_kind::milliseconds:
      return "MS";
    case value_kind::address:
      return "ADDR";
    case value_kind::file:
    case value_kind::secret_file:
      return "FILE";
    case value_kind::secret:
      return "TOKEN";
    case value_kind::names:
      return "NAMES";
    case value_kind::choice:
      break;
  }
  // A short list of names reads best as itself: text|json.
  const auto names = fmt::format("{}", fmt::join(s.choices, "|"));
  return names.size() <= 16 ? names : "NAME";
}

// Wraps text at `width` columns, breaking between words.
std::string wrap(std::string_view text, std::size_t width, std::string_view indent) {
  std::string out;
  std::size_t line = 0;
  while (!text.empty()) {
    const auto space = text.find(' ');
    const auto word = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
    if (line > 0 && line + 1 + word.size() > width) {
      out += '\n';
      out += indent;
      line = indent.size();
    } else if (line > 0) {
      out += ' ';
      ++line;
    }
    out += word;
    line += word.size();
  }
  return out;
}

// A flag's --help text: what it does, its variable and default, what it allows.
std::string help_text(const setting& s) {
  return fmt::format("{}\nenv {}, default {}\n{}", s.meaning, s.env, s.fallback,
                     wrap(fmt::format("allowed: {}", s.allowed), 68, "  "));
}

}  // namespace

std::string print_config(const settings& s) {
  std::string out = fmt::format(
      "# poolserver {}: effective configuration (flags over environment over defaults)\n",
      POOLSERVER_VERSION);
  for (const auto& [name, value] : effective(s)) out += fmt::format("{}={}\n", name, value);
  return out;
}

cli_outcome parse_command_line(std::span<const std::string> args, const env_lookup& env,
                               unsigned cores, std::ostream& out, std::ostream& err) {
  CLI::App app{std::string(description), "poolserver"};
  app.get_formatter()->column_width(30);
  app.set_version_flag("--version", fmt::format("poolserver {}", POOLSERVER_VERSION),
                       "Print the version and exit");
  bool print = false;
  app.add_flag("--print-config", print,
               "Print the effective configuration (NAME=value lines) and exit");
  std::map<std::string_view, std::string> given;  // env name -> the flag's value
  std::map<std::string_view, CLI::Option*> options;
  for (const auto& s : setting_table()) {
    options[s.env] = app.add_option(s.flag, given[s.env], help_text(s))
                         ->type_name(value_name(s))
                         ->group("Settings");
  }

  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return {std::nullopt, 0};
  } catch (const CLI::CallForVersion& v) {
    out << v.what() << '\n';
    return {std::nullopt, 0};
  } catch (const CLI::ParseError& e) {
    err << "poolserver: " << e.what() << " (see poolserver --help)\n";
    return {std::nullopt, 2};
  }

  const auto from_flag = [&](std::string_view name) {
    const auto it = options.find(name);
    return it != options.end() && it->second->count() > 0;
  };
  try {
    auto s = load(
        [&](std::string_view name) -> std::optional<std::string> {
          if (from_flag(name)) return given.at(name);
          return env(name);
        },
        cores);
    if (print) {
      out << print_config(s);
      return {std::nullopt, 0};
    }
    return {std::move(s), 0};
  } catch (const config_error& e) {
    // Name what the user wrote: the flag when the value came from one.
    std::string message = e.what();
    for (const auto& s : setting_table())
      if (s.env == e.setting() && from_flag(s.env) && message.starts_with(s.env))
        message = s.flag + message.substr(s.env.size());
    err << "poolserver: " << message << '\n';
    return {std::nullopt, 2};
  }
}

}  // namespace config
