"""tflayout Python helpers.

``tflayout.run(model, passes=None)`` runs the C++ pipeline (tflayout.api: the C library
libtflayout.so through its C API, loaded on first call). ``tflayout-opt`` and
``python -m tflayout`` run the command-line tool the wheel carries.

Modules (import the one you need; importing this package does not import TensorFlow):

- ``tflayout.annotation``: read the ``tflayout.annotation`` JSON from a model's metadata_props.
- ``tflayout.tf_ops``: the transposed convolution in TensorFlow ops, straight on a TF-layout
  kernel ``(k..., M/group, C)`` with ONNX semantics (explicit begin/end pads, output_padding,
  group, dilations) -- shared by the onnx-tf handler and the reference path; and the
  convolution (``conv``) on a TF-layout kernel ``(k..., C/group, M)``.
- ``tflayout.tf_reference``: compute one annotated ConvTranspose with ``tf.nn`` directly.
- ``tflayout.onnx_tf_handler``: importing it registers the onnx-tf backend handlers for
  ``tflayout.ConvTransposeTF`` and ``tflayout.ConvTF`` (import it before
  ``onnx_tf.backend.prepare``).
- ``tflayout.keras``: Keras-ready kernels and layer settings for hand-written Keras models.
- ``tflayout.reference``: a NumPy ConvTranspose (any float dtype) and the ONNX pad rule.
"""

CUSTOM_DOMAIN = "tflayout"
CUSTOM_OP = "ConvTransposeTF"
CUSTOM_CONV_OP = "ConvTF"  # conv-to-tf{form=custom-op}: a Conv reading its TF-layout weight
CUSTOM_OPSET_VERSION = 1
ANNOTATION_KEY = "tflayout.annotation"

from .api import Error, default_pipeline, list_passes, run, target_pipelines  # noqa: E402  (library loaded lazily)

__all__ = ["CUSTOM_DOMAIN", "CUSTOM_OP", "CUSTOM_CONV_OP", "CUSTOM_OPSET_VERSION", "ANNOTATION_KEY", "Error",
           "default_pipeline", "list_passes", "run", "target_pipelines"]
