#include "progress.hpp"

#include <cstdio>
#include <unistd.h>

namespace ropekit::cli {

constexpr int kLogLines = 20;

Progress::Progress(int total_steps, bool enabled)
    : total_(total_steps), enabled_(enabled), terminal_(isatty(STDERR_FILENO) != 0) {}

Progress::~Progress() {
  if (enabled_ && terminal_ && done_ > 0) std::fprintf(stderr, "\r\033[K");
}

void Progress::step(const std::string& what) {
  ++done_;
  if (!enabled_) return;
  if (terminal_)
    std::fprintf(stderr, "\r\033[K[%d/%d] %s ...", done_, total_, what.c_str());
  else if (done_ == 1 || done_ == total_ || done_ * kLogLines / total_ > printed_lines_) {
    printed_lines_ = done_ * kLogLines / total_;
    std::fprintf(stderr, "[%d/%d] %s ...\n", done_, total_, what.c_str());
  }
  std::fflush(stderr);
}

}  // namespace ropekit::cli
