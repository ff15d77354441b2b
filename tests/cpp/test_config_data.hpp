// Where the real model configs of tests/data/configs live, for the config and variant tests.
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ropekit::testing {

inline std::filesystem::path config_dir() {
  // This header sits in tests/cpp; the data in tests/data/configs.
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "configs";
}

inline std::vector<std::filesystem::path> all_config_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(config_dir()))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

inline std::string config_path(const std::string& name) { return (config_dir() / name).string(); }

inline std::string read_text(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace ropekit::testing
