#include "tflayout/tensor.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tflayout {
namespace {

using onnx::TensorProto;

// Bytes a typed-field slot of this data type occupies, and the field that holds it.
enum class TypedField { kNone, kFloat, kInt32, kInt64, kDouble, kUint64 };

TypedField FieldFor(int32_t data_type) {
  switch (data_type) {
    case TensorProto::FLOAT:
    case TensorProto::COMPLEX64:
      return TypedField::kFloat;
    case TensorProto::INT32:
    case TensorProto::INT16:
    case TensorProto::INT8:
    case TensorProto::UINT16:
    case TensorProto::UINT8:
    case TensorProto::BOOL:
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16:
    case 17: case 18: case 19: case 20:  // FLOAT8 variants (ONNX >= 1.14)
      return TypedField::kInt32;
    case TensorProto::INT64:
      return TypedField::kInt64;
    case TensorProto::DOUBLE:
    case TensorProto::COMPLEX128:
      return TypedField::kDouble;
    case TensorProto::UINT32:
    case TensorProto::UINT64:
      return TypedField::kUint64;
    default:
      return TypedField::kNone;
  }
}

int TypedFieldSize(const TensorProto& t, TypedField field) {
  switch (field) {
    case TypedField::kFloat: return t.float_data_size();
    case TypedField::kInt32: return t.int32_data_size();
    case TypedField::kInt64: return t.int64_data_size();
    case TypedField::kDouble: return t.double_data_size();
    case TypedField::kUint64: return t.uint64_data_size();
    case TypedField::kNone: return 0;
  }
  return 0;
}

bool IsComplex(int32_t data_type) {
  return data_type == TensorProto::COMPLEX64 || data_type == TensorProto::COMPLEX128;
}

}  // namespace

size_t RawElementSize(int32_t data_type) {
  switch (data_type) {
    case TensorProto::UINT8:
    case TensorProto::INT8:
    case TensorProto::BOOL:
    case 17: case 18: case 19: case 20:
      return 1;
    case TensorProto::UINT16:
    case TensorProto::INT16:
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16:
      return 2;
    case TensorProto::FLOAT:
    case TensorProto::INT32:
    case TensorProto::UINT32:
      return 4;
    case TensorProto::INT64:
    case TensorProto::UINT64:
    case TensorProto::DOUBLE:
    case TensorProto::COMPLEX64:
      return 8;
    case TensorProto::COMPLEX128:
      return 16;
    default:
      return 0;
  }
}

std::string DataTypeName(int32_t data_type) {
  if (TensorProto::DataType_IsValid(data_type)) {
    return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(data_type));
  }
  switch (data_type) {
    case 17: return "FLOAT8E4M3FN";
    case 18: return "FLOAT8E4M3FNUZ";
    case 19: return "FLOAT8E5M2";
    case 20: return "FLOAT8E5M2FNUZ";
    default: return absl::StrCat("UNKNOWN(", data_type, ")");
  }
}

absl::StatusOr<int64_t> CheckedElementCount(const TensorProto& tensor) {
  constexpr int64_t kMaxElements = int64_t{1} << 62;
  int64_t count = 1;
  for (int i = 0; i < tensor.dims_size(); ++i) {
    const int64_t d = tensor.dims(i);
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", tensor.name(), "' has negative dim ", d, " at axis ", i));
    }
    if (d != 0 && count > kMaxElements / d) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", tensor.name(), "': element count overflows (dims too large)"));
    }
    count *= d;
  }
  return count;
}

TensorStorage StorageOf(const TensorProto& tensor) {
  if (tensor.data_location() == TensorProto::EXTERNAL) return TensorStorage::kExternal;
  if (tensor.has_raw_data()) return TensorStorage::kRaw;
  return TensorStorage::kTyped;
}

absl::StatusOr<MutableSlots> GetMutableSlots(TensorProto& tensor) {
  auto count_or = CheckedElementCount(tensor);
  if (!count_or.ok()) return count_or.status();
  const int64_t count = *count_or;
  const int32_t type = tensor.data_type();
  const std::string type_name = DataTypeName(type);

  switch (StorageOf(tensor)) {
    case TensorStorage::kExternal:
      return absl::FailedPreconditionError(absl::StrCat(
          "tensor '", tensor.name(), "' is external and was not loaded"));
    case TensorStorage::kRaw: {
      const size_t elem = RawElementSize(type);
      if (elem == 0) {
        return absl::UnimplementedError(absl::StrCat(
            "tensor '", tensor.name(), "' has unsupported element type ", type_name));
      }
      std::string* raw = tensor.mutable_raw_data();
      if (raw->size() / elem != static_cast<uint64_t>(count) || raw->size() % elem != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tensor '", tensor.name(), "': raw_data holds ", raw->size(), " bytes but dims need ",
            count, " x ", elem, " bytes"));
      }
      return MutableSlots{raw->data(), elem, count};
    }
    case TensorStorage::kTyped: {
      const TypedField field = FieldFor(type);
      if (field == TypedField::kNone) {
        return absl::UnimplementedError(absl::StrCat(
            "tensor '", tensor.name(), "' has unsupported element type ", type_name));
      }
      const int64_t per_element = IsComplex(type) ? 2 : 1;
      const int64_t stored = TypedFieldSize(tensor, field);
      // count may be up to 2^62: compare by division, count * per_element could overflow.
      if (stored % per_element != 0 || stored / per_element != count) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tensor '", tensor.name(), "': typed field holds ", stored, " values but dims need ",
            count, per_element == 2 ? " x 2" : ""));
      }
      switch (field) {
        case TypedField::kFloat:
          return MutableSlots{tensor.mutable_float_data()->mutable_data(),
                              sizeof(float) * per_element, count};
        case TypedField::kInt32:
          return MutableSlots{tensor.mutable_int32_data()->mutable_data(), sizeof(int32_t), count};
        case TypedField::kInt64:
          return MutableSlots{tensor.mutable_int64_data()->mutable_data(), sizeof(int64_t), count};
        case TypedField::kDouble:
          return MutableSlots{tensor.mutable_double_data()->mutable_data(),
                              sizeof(double) * per_element, count};
        case TypedField::kUint64:
          return MutableSlots{tensor.mutable_uint64_data()->mutable_data(), sizeof(uint64_t),
                              count};
        case TypedField::kNone:
          break;
      }
    }
  }
  return absl::InternalError("unreachable storage kind");
}

absl::StatusOr<std::string> ReadElementBytes(const TensorProto& tensor) {
  // GetMutableSlots only reads through the pointer here; the cast keeps one validation path.
  auto slots_or = GetMutableSlots(const_cast<TensorProto&>(tensor));
  if (!slots_or.ok()) return slots_or.status();
  const MutableSlots slots = *slots_or;
  const size_t elem = RawElementSize(tensor.data_type());
  std::string out(static_cast<size_t>(slots.count) * elem, '\0');
  if (slots.slot_size == elem) {
    if (!out.empty()) std::memcpy(out.data(), slots.data, out.size());
    return out;
  }
  // Narrow types in wider typed slots: little-endian low bytes of each slot.
  const auto* src = static_cast<const unsigned char*>(slots.data);
  for (int64_t i = 0; i < slots.count; ++i) {
    std::memcpy(out.data() + i * elem, src + i * slots.slot_size, elem);
  }
  return out;
}

void SetRawData(TensorProto& tensor, std::string bytes) {
  tensor.clear_float_data();
  tensor.clear_int32_data();
  tensor.clear_int64_data();
  tensor.clear_double_data();
  tensor.clear_uint64_data();
  tensor.clear_string_data();
  tensor.set_raw_data(std::move(bytes));
}

}  // namespace tflayout
