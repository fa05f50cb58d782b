// tflayout-opt: the command-line driver. All logic lives in lib/driver.cc.
#include "lib/driver.h"

int main(int argc, char** argv) { return tflayout::OptMain(argc, argv); }
