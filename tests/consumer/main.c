/* Calls the C API with a deliberately bad argument and checks the error path links and works. */
#include <stdio.h>
#include <string.h>

#include <ropekit/ropekit.h>

int main(void) {
  int status = ropekit_rotary_embedding(NULL, NULL, NULL, 64, NULL, 1, NULL);
  if (status == 0 || strstr(ropekit_last_error(), "positions") == NULL) {
    printf("unexpected: status %d, error '%s'\n", status, ropekit_last_error());
    return 1;
  }
  printf("ropekit %s consumer (C): ok, error was: %s\n", ropekit_version(), ropekit_last_error());
  return 0;
}
