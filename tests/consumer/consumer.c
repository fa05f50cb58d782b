/* Uses the installed C API from C: run the default pipeline file to file. */
#include <stdio.h>

#include <tflayout/c_api.h>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  if (tflayout_api_version() != TFLAYOUT_C_API_VERSION) return 3;
  char* error = NULL;
  tflayout_status status = tflayout_run_file(argv[1], argv[2], NULL, &error);
  if (status != TFLAYOUT_OK) {
    fprintf(stderr, "error %d: %s\n", (int)status, error);
    tflayout_free(error);
    return 1;
  }
  printf("ok %s\n", tflayout_version());
  return 0;
}
