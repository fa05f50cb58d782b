// tflayout-opt: the command-line driver. All logic lives in lib/api/driver.cc.
#include "lib/api/driver.h"

int main(int argc, char** argv) { return tflayout::OptMain(argc, argv); }
