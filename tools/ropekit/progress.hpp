// Progress lines on stderr ("[3/40] llama3-8b T=4096 cpu"), so long runs show they are alive
// while stdout stays clean for the table, CSV or JSON.
#pragma once
#include <string>

namespace ropekit::cli {

class Progress {
 public:
  Progress(int total_steps, bool enabled);
  ~Progress();
  void step(const std::string& what);

 private:
  int total_;
  int done_ = 0;
  bool enabled_;
  // On a terminal one line is rewritten in place; otherwise (logs) at most about 20 lines.
  bool terminal_;
  int printed_lines_ = 0;
};

}  // namespace ropekit::cli
