// `ropekit`: benchmark and verify the RoPE backends, inspect model caches, from the command line.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "commands.hpp"
#include "ropekit/ropekit.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ropekit: rotary position embedding kernels (benchmark and verification tool)",
               "ropekit"};
  app.set_version_flag("--version", std::string("ropekit ") + ropekit::kVersion);
  app.require_subcommand(1);
  ropekit::cli::add_bench_command(app);
  ropekit::cli::add_verify_command(app);
  ropekit::cli::add_cache_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Error& e) {
    // Bad flags (named in CLI11's message), --help, --version, and CLI::RuntimeError from a
    // subcommand that already printed why it failed.
    return app.exit(e);
  } catch (const std::exception& e) {
    // Subcommands run from their callbacks: library errors (ropekit::Error) already name the
    // argument; print them plainly instead of letting the program abort.
    std::fprintf(stderr, "ropekit: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
