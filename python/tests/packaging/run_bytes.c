/* tflayout.run's bytes from the C library directly: reads MODEL, runs the default pipeline
 * through tflayout_run_bytes (external data resolved next to MODEL), writes OUT. Used by
 * scripts/test_dist.sh as the source build's reference for the installed Python package. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tflayout/c_api.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: run_bytes MODEL OUT\n");
    return 1;
  }
  FILE* in = fopen(argv[1], "rb");
  if (in == NULL) {
    perror(argv[1]);
    return 1;
  }
  fseek(in, 0, SEEK_END);
  long size = ftell(in);
  fseek(in, 0, SEEK_SET);
  char* data = malloc(size > 0 ? (size_t)size : 1);
  if (data == NULL || fread(data, 1, (size_t)size, in) != (size_t)size) {
    fprintf(stderr, "%s: read failed\n", argv[1]);
    return 1;
  }
  fclose(in);
  char* path = strdup(argv[1]);
  void* out = NULL;
  size_t out_size = 0;
  char* error = NULL;
  tflayout_status status =
      tflayout_run_bytes(data, (size_t)size, NULL, dirname(path), &out, &out_size, &error);
  if (status != TFLAYOUT_OK) {
    fprintf(stderr, "%s: %s\n", argv[1], error ? error : "error");
    return (int)status;
  }
  FILE* dst = fopen(argv[2], "wb");
  if (dst == NULL || fwrite(out, 1, out_size, dst) != out_size || fclose(dst) != 0) {
    fprintf(stderr, "%s: write failed\n", argv[2]);
    return 1;
  }
  tflayout_free(out);
  free(path);
  free(data);
  return 0;
}
