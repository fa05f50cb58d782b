/* tflayout C API: run a pass pipeline on an ONNX model from any language with a C FFI.
 *
 * Every function is thread-safe (no global state). Buffers and messages returned through out
 * parameters are allocated by the library and released with tflayout_free(). Status codes
 * match tflayout-opt's exit codes. */
#ifndef TFLAYOUT_C_API_H_
#define TFLAYOUT_C_API_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of this header. */
#define TFLAYOUT_C_API_VERSION 1

typedef enum {
  TFLAYOUT_OK = 0,
  TFLAYOUT_ERROR_USAGE = 1,  /* bad pipeline text or arguments */
  TFLAYOUT_ERROR_INPUT = 2,  /* the model cannot be read, parsed or validated */
  TFLAYOUT_ERROR_PASS = 3,   /* a pass or the verification after it failed */
  TFLAYOUT_ERROR_OUTPUT = 4  /* the output cannot be written */
} tflayout_status;

/* TFLAYOUT_C_API_VERSION of the library actually loaded. */
int tflayout_api_version(void);
/* The library version, e.g. "0.1.0". Static storage; do not free. */
const char* tflayout_version(void);

/* Runs `pipeline` (NULL or "default": the default TF pipeline; "" : no pass) on a serialized
 * model. External data, if the model has any, is resolved inside `base_dir` (NULL: refused).
 * On success *out_model / *out_size receive the serialized result (weights embedded). On
 * failure *error (if error is not NULL) receives a message naming the model, node and tensor. */
tflayout_status tflayout_run_bytes(const void* model, size_t size, const char* pipeline,
                                   const char* base_dir, void** out_model, size_t* out_size,
                                   char** error);

/* Same for files, as `tflayout-opt input_path -o output_path` runs it: external data is
 * resolved next to the input and kept external; weights (external ones and embedded ones of
 * 1 MiB or more) stream from the input to the output one tensor at a time, so memory stays
 * about one tensor. output_path is written atomically and must differ from input_path. */
tflayout_status tflayout_run_file(const char* input_path, const char* output_path,
                                  const char* pipeline, char** error);

/* The pipeline text for a consumer of the output ("onnxruntime", "onnx-tf", "onnx2tf"; see
 * tflayout-opt --help), to pass as `pipeline` above; NULL for an unknown name. Static
 * storage; do not free. Added after TFLAYOUT_C_API_VERSION 1 without changing it (a new
 * function only). */
const char* tflayout_target_pipeline(const char* target);

/* Enumeration for front ends (the Python package reads these through ctypes). Each returns
 * static storage (do not free), or NULL when `index` is past the end. Added after
 * TFLAYOUT_C_API_VERSION 1 without changing it (new functions only). */
/* The default pipeline's text (what `pipeline` NULL or "default" runs). */
const char* tflayout_default_pipeline(void);
/* The built-in passes in registration order: name and one-line summary. */
const char* tflayout_pass_name(size_t index);
const char* tflayout_pass_summary(size_t index);
/* The consumer names tflayout_target_pipeline() knows, in --help order. */
const char* tflayout_target_name(size_t index);

void tflayout_free(void* pointer);

#ifdef __cplusplus
}
#endif

#endif /* TFLAYOUT_C_API_H_ */
