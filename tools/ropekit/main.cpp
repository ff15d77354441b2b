#include <cstdio>
#include "ropekit/ropekit.hpp"
int main() { std::printf("ropekit %s\n", ropekit::kVersion); return 0; }
