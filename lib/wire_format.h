// The few pieces of protobuf's wire format that tflayout writes by hand: the streamed inline
// output (lib/external_data.cc) and the model skeleton of lib/weights_on_disk.cc frame
// messages whose payloads are not in memory.
#pragma once

#include <cstdint>
#include <string>

namespace tflayout::wire {

inline constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

inline void PutVarint(uint64_t v, std::string& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline int64_t VarintSize(uint64_t v) {
  int64_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// Tag and length of a length-delimited field; its value follows.
inline void PutHeader(uint32_t number, uint64_t length, std::string& out) {
  PutVarint((uint64_t{number} << 3) | kLengthDelimited, out);
  PutVarint(length, out);
}

// Bytes a length-delimited field of `length` value bytes takes in all.
inline int64_t FieldSize(uint32_t number, int64_t length) {
  return VarintSize((uint64_t{number} << 3) | kLengthDelimited) +
         VarintSize(static_cast<uint64_t>(length)) + length;
}

}  // namespace tflayout::wire
