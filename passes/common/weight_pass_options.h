// Options shared by the passes that rewrite constant weights.
#pragma once

#include <string>

#include "tflayout/graph_view.h"
#include "tflayout/pass.h"

namespace tflayout {

// initializers-as-inputs=auto|constant: whether an initializer that is also listed as a graph
// input counts as a constant. Below IR 4 it always does (the spec lists every initializer);
// from IR 4 it is a default the caller may override at run time, so `auto` leaves it alone.
class InitializersAsInputsOption : public PassOption<std::string> {
 public:
  explicit InitializersAsInputsOption(Pass* owner)
      : PassOption(owner, "initializers-as-inputs", "auto",
                   "auto: an initializer listed as a graph input is a constant below IR 4 and "
                   "an overridable default (left alone) from IR 4; constant: a constant at any "
                   "IR",
                   {"auto", "constant"}) {}
  ConstantOptions constant_options() const {
    ConstantOptions options;
    options.initializer_inputs_are_constant = **this == "constant";
    return options;
  }
};

}  // namespace tflayout
