"""Keras (TF 2.15, Keras 2) models with Conv{1,2,3}DTranspose layers, exported by tf2onnx at
opset 13, for test_tf2onnx.py (this venv) and test_onnx2tf_tf2onnx.py (.venv-onnx2tf, which has
no TF 2.15 / tf2onnx: it runs this file with the main venv's python).

    python tf2onnx_models.py OUT_DIR [NAME ...]     (no names: the default cases)

For each case, OUT_DIR gets NAME.onnx (tf2onnx's export), NAME.x.npy (the input, channels-last
as Keras takes it), NAME.y.npy (Keras' own output for it) and NAME.kernels.npz (every
ConvTranspose layer's kernel, as Keras stores it: (k..., filters, in_channels)), and stdout gets
one JSON line per case. Weights, biases and inputs come from fixed seeds; biases are drawn at
random, so that a misplaced bias-only position shows.

TFLAYOUT_FULL_TF2ONNX=1 adds a matrix of single layers (rank x padding x stride x
output_padding x bias) to the default cases.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BATCH = 2


def _layers():
    import tensorflow as tf
    return tf.keras.layers


def _conv_t(rank, filters, kernel, **kw):
    L = _layers()
    cls = {1: L.Conv1DTranspose, 2: L.Conv2DTranspose, 3: L.Conv3DTranspose}[rank]
    if kw.get("use_bias", True):
        kw.setdefault("bias_initializer", "random_normal")
    return cls(filters, kernel, **kw)


def single(rank, filters, kernel, spatial, channels, **kw):
    """One ConvTranspose layer on a (BATCH, *spatial, channels) input."""
    def build():
        import tensorflow as tf
        x = tf.keras.Input(shape=tuple(spatial) + (channels,), batch_size=BATCH, name="x")
        return tf.keras.Model(x, _conv_t(rank, filters, kernel, **kw)(x))
    return build


def dcgan_generator():
    """Dense -> 4x4x32 -> three strided Conv2DTranspose (ReLU, then tanh), as in DCGAN."""
    import tensorflow as tf
    L = _layers()
    z = tf.keras.Input(shape=(16,), batch_size=BATCH, name="x")
    y = L.Reshape((4, 4, 32))(L.Dense(4 * 4 * 32)(z))
    y = L.ReLU()(y)
    y = L.ReLU()(_conv_t(2, 16, 4, strides=2, padding="same")(y))
    y = L.ReLU()(_conv_t(2, 8, 4, strides=2, padding="same")(y))
    y = L.Activation("tanh")(_conv_t(2, 3, 5, strides=2, padding="same", output_padding=1)(y))
    return tf.keras.Model(z, y)


def unet_block():
    """Down (Conv2D, stride 2), up (Conv2DTranspose), skip concatenation, and a valid upsampling
    head with output_padding, as in a U-Net decoder stage."""
    import tensorflow as tf
    L = _layers()
    x = tf.keras.Input(shape=(12, 12, 3), batch_size=BATCH, name="x")
    d1 = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    d2 = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(d1)
    u1 = _conv_t(2, 8, 2, strides=2, padding="same")(d2)
    y = L.Concatenate()([u1, d1])
    y = L.Conv2D(8, 3, padding="same", activation="relu")(y)
    y = _conv_t(2, 4, 3, strides=2, padding="valid", output_padding=1, use_bias=False)(y)
    return tf.keras.Model(x, y)


def decoder_1d():
    """A 1-D upsampler: two Conv1DTranspose with LeakyReLU between."""
    import tensorflow as tf
    L = _layers()
    x = tf.keras.Input(shape=(10, 8), batch_size=BATCH, name="x")
    y = L.LeakyReLU(0.2)(_conv_t(1, 6, 4, strides=2, padding="same")(x))
    y = _conv_t(1, 2, 5, strides=3, padding="valid", output_padding=2)(y)
    return tf.keras.Model(x, y)


def decoder_3d():
    """A 3-D decoder: Conv3DTranspose (same, strided) then Conv3DTranspose (valid, op)."""
    import tensorflow as tf
    L = _layers()
    x = tf.keras.Input(shape=(3, 4, 3, 4), batch_size=BATCH, name="x")
    y = L.ReLU()(_conv_t(3, 4, 3, strides=(1, 2, 2), padding="same")(x))
    y = _conv_t(3, 2, (2, 3, 2), strides=2, padding="valid", output_padding=(1, 1, 0))(y)
    return tf.keras.Model(x, y)


# name -> builder. Single layers cover rank, padding, strides, output_padding, dilation and
# bias; the whole models cover chains and skips.
DEFAULT_CASES = {
    "ct2d_valid_s2_op1": single(2, 4, 3, (6, 6), 3, strides=2, padding="valid", output_padding=1),
    "ct1d_valid_s2_op1": single(1, 4, 3, (8,), 3, strides=2, padding="valid", output_padding=1),
    "ct3d_valid_s2_op1": single(3, 3, 3, (3, 4, 3), 2, strides=2, padding="valid",
                                output_padding=1),
    "ct2d_valid_s1": single(2, 4, (2, 3), (5, 4), 3, padding="valid"),
    "ct2d_same_s2": single(2, 4, (3, 4), (5, 6), 3, strides=2, padding="same"),
    "ct2d_same_s2_k1": single(2, 3, 1, (5, 5), 4, strides=2, padding="same"),
    "ct2d_same_s3_op2": single(2, 3, 3, (4, 5), 2, strides=3, padding="same", output_padding=2),
    "ct2d_valid_s23_op12_nobias": single(2, 5, (3, 2), (4, 5), 3, strides=(2, 3),
                                         padding="valid", output_padding=(1, 2), use_bias=False),
    "ct2d_dilated2_same": single(2, 4, 3, (6, 5), 3, padding="same", dilation_rate=2),
    # TF's CPU kernels run dilated transposed convolutions only in 2-D with equal rates.
    "ct2d_dilated3_valid": single(2, 3, 2, (4, 5), 2, padding="valid", dilation_rate=3),
    "ct3d_same_s122": single(3, 3, (2, 3, 3), (3, 4, 4), 2, strides=(1, 2, 2), padding="same"),
    # tf2onnx splits this negative total (-2 per axis) into begin -1 / end -1; Keras puts both
    # bias-only positions at the end. No standard ConvTranspose means the file's begin pad.
    "ct2d_same_s3_k1": single(2, 3, 1, (4, 4), 2, strides=3, padding="same"),
    "dcgan_generator": dcgan_generator,
    "unet_block": unet_block,
    "decoder_1d": decoder_1d,
    "decoder_3d": decoder_3d,
}


def full_matrix():
    """rank x padding x stride x output_padding (< stride) x bias, kernel 3 (and 2 for
    strides 3: tf2onnx's negative totals); 2-D dilation rates 2 and 3 (TF runs dilated
    transposed convolutions on CPU only in 2-D, with strides 1)."""
    cases = {}
    spatial = {1: (7,), 2: (5, 4), 3: (3, 4, 3)}
    for rank in (1, 2, 3):
        for padding in ("same", "valid"):
            for stride in (1, 2, 3):
                for op in sorted({None, stride - 1} - {0}, key=lambda v: -1 if v is None else v):
                    for kernel in ((3, 2) if stride == 3 else (3,)):
                        for bias in (True, False):
                            name = (f"m{rank}d_{padding}_s{stride}_op{op or 0}_k{kernel}"
                                    f"{'' if bias else '_nobias'}")
                            cases[name] = single(rank, 3, kernel, spatial[rank], 2, strides=stride,
                                                 padding=padding, output_padding=op, use_bias=bias)
    for padding in ("same", "valid"):
        for rate in (2, 3):
            cases[f"m2d_{padding}_d{rate}"] = single(2, 3, 3, (5, 6), 2, padding=padding,
                                                     dilation_rate=rate)
    return cases


def all_cases():
    cases = dict(DEFAULT_CASES)
    if os.environ.get("TFLAYOUT_FULL_TF2ONNX") == "1":
        cases.update(full_matrix())
    return cases


def conv_transpose_kernels(model):
    """{layer name: kernel} for every Conv{1,2,3}DTranspose layer."""
    L = _layers()
    kinds = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
    return {layer.name: layer.get_weights()[0] for layer in model.layers if isinstance(layer, kinds)}


def export(name, builder, folder, seed=0):
    import numpy as np
    import tensorflow as tf
    import tf2onnx
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(seed)
    model = builder()
    shape = tuple(model.inputs[0].shape)
    x = np.random.default_rng(seed + 1).standard_normal(shape).astype(np.float32)
    y = model(x, training=False).numpy()
    spec = (tf.TensorSpec(shape, tf.float32, name="x"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=13)
    path = os.path.join(folder, name + ".onnx")
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())
    np.save(os.path.join(folder, name + ".x.npy"), x)
    np.save(os.path.join(folder, name + ".y.npy"), y)
    np.savez(os.path.join(folder, name + ".kernels.npz"), **conv_transpose_kernels(model))
    return {"name": name, "path": path, "input": list(shape), "output": list(y.shape)}


def versions():
    import keras
    import tensorflow as tf
    import tf2onnx
    return {"tf2onnx": tf2onnx.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "opset": 13}


def main(argv):
    folder, names = argv[1], argv[2:]
    os.makedirs(folder, exist_ok=True)
    cases = all_cases()
    unknown = [n for n in names if n not in cases]
    if unknown:
        sys.exit(f"tf2onnx_models.py: unknown case(s) {unknown}; known: {sorted(cases)}")
    import logging
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    print(json.dumps({"versions": versions()}), flush=True)
    for name in names or list(cases):
        print(json.dumps(export(name, cases[name], folder)), flush=True)


if __name__ == "__main__":
    main(sys.argv)
