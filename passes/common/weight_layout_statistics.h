// The statistics every weight-layout pass reports, filled from its WeightLayoutReport.
#pragma once

#include <string>

#include "tflayout/pass.h"

namespace tflayout {

class WeightLayoutStatistics {
 public:
  // The first counter is the distinct weights the operator reads ("conv-weights").
  WeightLayoutStatistics(Pass* owner, const std::string& weights_name,
                         const std::string& weights_help, const std::string& already_tf_help)
      : weights_(owner, weights_name, weights_help),
        rewritten_(owner, "weights-rewritten", "weights stored in TF layout"),
        already_tf_(owner, "weights-already-tf", already_tf_help),
        left_alone_(owner, "weights-left-alone", "weights left alone (with a remark)"),
        nodes_(owner, "nodes-annotated", "nodes now reading a rewritten weight"),
        bytes_(owner, "bytes-permuted", "bytes of weights permuted") {}

  void Add(const WeightLayoutReport& report) {
    weights_ += report.weights;
    rewritten_ += report.rewritten;
    already_tf_ += report.already_tf;
    left_alone_ += report.left_alone;
    nodes_ += report.nodes;
    bytes_ += report.bytes;
  }

 private:
  PassStatistic weights_, rewritten_, already_tf_, left_alone_, nodes_, bytes_;
};

}  // namespace tflayout
