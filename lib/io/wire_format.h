// Framing of length-delimited protobuf fields written by hand: the streamed inline output
// (lib/io/inline_plan.cc) and the model skeleton of lib/io/weights_on_disk.cc frame messages whose
// payloads are not in memory. Built on protobuf's own wire-format primitives.
#pragma once

#include <cstdint>
#include <string>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace tflayout::wire {

using google::protobuf::internal::WireFormatLite;

// Tag and length of a length-delimited field; its value follows.
inline void PutHeader(uint32_t number, uint64_t length, std::string& out) {
  uint8_t buffer[16];
  uint8_t* end = WireFormatLite::WriteTagToArray(
      static_cast<int>(number), WireFormatLite::WIRETYPE_LENGTH_DELIMITED, buffer);
  end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(length, end);
  out.append(reinterpret_cast<const char*>(buffer), static_cast<size_t>(end - buffer));
}

// Bytes a length-delimited field of `length` value bytes takes in all.
inline int64_t FieldSize(uint32_t number, int64_t length) {
  return static_cast<int64_t>(
      WireFormatLite::TagSize(static_cast<int>(number), WireFormatLite::TYPE_BYTES) +
      WireFormatLite::LengthDelimitedSize(static_cast<size_t>(length)));
}

}  // namespace tflayout::wire
