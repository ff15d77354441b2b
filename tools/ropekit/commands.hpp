// One function per `ropekit` subcommand: each adds its options and callback to the app.
#pragma once
#include <CLI/CLI.hpp>

namespace ropekit::cli {

void add_bench_command(CLI::App& app);   // cmd_bench.cpp
void add_verify_command(CLI::App& app);  // cmd_verify.cpp
void add_cache_command(CLI::App& app);   // cmd_cache.cpp

}  // namespace ropekit::cli
