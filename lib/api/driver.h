// The tflayout-opt command line, as a library function so that tests and other front ends
// share it. Exit codes are part of the interface (see kExit* below and --help).
#pragma once

namespace tflayout {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;   // bad flags, unknown pass, bad pipeline text
inline constexpr int kExitInput = 2;   // the input cannot be read, parsed or validated
inline constexpr int kExitPass = 3;    // a pass or the verification after it failed
inline constexpr int kExitOutput = 4;  // the output cannot be written (nothing is left behind)
// --require-all-converted: a ConvTranspose weight was left alone (remarks say why); no output
// is written.
inline constexpr int kExitNotAllConverted = 5;

int OptMain(int argc, char** argv);

}  // namespace tflayout
