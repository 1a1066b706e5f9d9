"""Keras 3 models with tf2onnx, through ``from_function``.

``tf2onnx.convert.from_keras`` reads Keras 2 internals that Keras 3 no longer has; a ``tf.function`` that
calls the model (``training=False``) with an input signature from assay's converts cleanly, at tf2onnx's
highest opset (18). The model must run on the TensorFlow backend. tf2onnx names outputs after the graph
(``Identity:0``): they are renamed to the signature's (``output``, or ``output_<i>`` for several).
"""

from __future__ import annotations

from typing import Any

from assay.models.signature import Signature
from assay.onnx.base import ConversionError, Converted, Converter, Precision
from assay.onnx.graph import OutputMap, load_proto, rename
from assay.onnx.torch_converter import input_names, output_names
from assay.optional import require

#: tf2onnx 1.17 supports opsets up to 18.
OPSET = 18


class KerasConverter(Converter):
    library = "tf2onnx"

    def convert(
        self, model: Any, signature: Signature, precision: Precision, example: Any = None
    ) -> Converted:
        keras = require("keras", "keras", "converting Keras models to ONNX")
        backend = keras.backend.backend()
        if backend != "tensorflow":
            raise ConversionError(
                f"the Keras model runs on the {backend} backend; tf2onnx converts TensorFlow-backed models: "
                "set KERAS_BACKEND=tensorflow"
            )
        tf = require("tensorflow", "keras", "converting Keras models to ONNX")
        tf2onnx = require("tf2onnx", "onnx", "converting Keras models to ONNX")
        schema = signature.inputs
        if schema.kind == "dataframe":
            raise ConversionError("a Keras model takes tensors; this model's signature is a DataFrame")
        names = input_names(schema)
        spec = [
            tf.TensorSpec(
                [None, *(None if n == -1 else n for n in t.shape[1:])], tf.as_dtype(t.dtype), name=n
            )
            for t, n in zip(schema.tensors, names, strict=True)
        ]

        def call(*xs: Any) -> Any:
            return model(xs[0] if len(xs) == 1 else list(xs), training=False)

        proto, _ = tf2onnx.convert.from_function(tf.function(call), input_signature=spec, opset=OPSET)
        proto = load_proto(proto.SerializeToString())
        produced = [o.name for o in proto.graph.output]
        outputs = output_names(signature, len(produced))
        rename(proto, dict(zip([i.name for i in proto.graph.input], names, strict=True)))
        rename(proto, dict(zip(produced, outputs, strict=True)))
        floating = next((t.dtype for t in schema.tensors if t.dtype.startswith("float")), "float32")
        return Converted(
            bytes(proto.SerializeToString()),
            OutputMap(tuple(outputs), "values"),
            converter="tf2onnx.convert.from_function",
            precision="float64" if floating == "float64" else "float32",
            task="network",
        )
