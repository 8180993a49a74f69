"""Embedding precisions, what one stored vector costs in each, and how a truncated or quantized variant is named.

The precisions are mteb's `OutputDType` names that its `CompressionWrapper` quantizes to, plus `float32`: the
embeddings as the model gives them, unquantized (evalkit's embedding cache stores them as float32).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNQUANTIZED = "float32"

# Bits per dimension of each precision (int4 and binary as packed storage holds them, not torch's container dtype).
BITS = {
    UNQUANTIZED: 32,
    "float16": 16,
    "bfloat16": 16,
    "float8_e4m3fn": 8,
    "float8_e5m2": 8,
    "float8_e8m0fnu": 8,
    "float8_e4m3fnuz": 8,
    "float8_e5m2fnuz": 8,
    "int8": 8,
    "uint8": 8,
    "int4": 4,
    "uint4": 4,
    "binary": 1,
}


def bytes_per_vector(dim: int, precision: str = UNQUANTIZED) -> float:
    """What one embedding of `dim` dimensions costs in `precision`: dimensions × bits / 8."""
    return dim * BITS[precision] / 8


def precision_label(precision: str, clipping_margin: Any = None) -> str:
    """`int8`, or `int8_clip0.01-0.99` with a clipping margin: a quantization as folders and names call it."""
    return precision + ("_clip" + "-".join(f"{bound:g}" for bound in clipping_margin) if clipping_margin else "")


def variant_suffix(dim: int | None, label: str | None) -> str:
    """The folder and model-name suffix of a variant (`_dim256`, `_int8`, `_dim256_int8`; "" for the model at full
    size and precision), from its truncation and its quantization's `precision_label`."""
    return (f"_dim{dim}" if dim else "") + (f"_{label}" if label else "")


def experiment_suffix(experiment_kwargs: Mapping[str, Any] | None) -> str:
    """The variant suffix of a result folder, from the `experiment_kwargs` its `model_meta.json` records (mteb's
    keys: `embed_dim` for a truncation, `output_dtypes` and `clipping_margin` for a quantization)."""
    kwargs = experiment_kwargs or {}
    dim, precision, margin = kwargs.get("embed_dim"), kwargs.get("output_dtypes"), kwargs.get("clipping_margin")
    quantized = isinstance(precision, str) and precision in BITS and precision != UNQUANTIZED
    label = precision_label(precision, margin if isinstance(margin, list) else None) if quantized else None
    return variant_suffix(dim if isinstance(dim, int) else None, label)
