// Status helpers shared by the library. Errors cross the API as absl::Status, never as
// exceptions or asserts.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TFL_CONCAT_INNER(a, b) a##b
#define TFL_CONCAT(a, b) TFL_CONCAT_INNER(a, b)

#define TFL_RETURN_IF_ERROR(expr)                  \
  do {                                             \
    ::absl::Status tfl_status_ = (expr);           \
    if (!tfl_status_.ok()) return tfl_status_;     \
  } while (0)

#define TFL_ASSIGN_OR_RETURN(lhs, expr) \
  TFL_ASSIGN_OR_RETURN_IMPL(TFL_CONCAT(tfl_statusor_, __LINE__), lhs, expr)

#define TFL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

namespace tflayout {

// Prefixes a status message with context ("file.onnx: node 'x': ..."), keeping the code.
inline absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  if (status.ok() || context.empty()) return status;
  return absl::Status(status.code(), std::string(context) + ": " + std::string(status.message()));
}

}  // namespace tflayout
