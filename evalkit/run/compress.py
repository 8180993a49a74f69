"""Smaller embeddings, scored as mteb scores them: Matryoshka truncation and mteb's own `CompressionWrapper`.

A run's variants are (dimension, precision) pairs. A quantized variant is evaluated through mteb's
`CompressionWrapper` around the encoder of its dimension, so the quantization is mteb's, not a copy of it: int8,
uint8, int4 and uint4 estimate each dimension's range on the embeddings of each encode call (after clipping them
to the clipping margin's percentiles, when one is given), binary keeps the sign, the float types cast; the
evaluators then score the quantized vectors with the model's own similarity function. In cached mode the wrapped
encoder is the embedding cache's: each encode call mteb makes is answered with the stored embeddings of exactly
the texts it asked for, so the calibration sees what it sees in plain mteb, while the texts are encoded once for
every variant. The reference mode wraps the model's own mteb encoder, as
`mteb.evaluate(CompressionWrapper(model, dtype), task)` does, and truncates through sentence-transformers'
`truncate_dim`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from evalkit.errors import OptionError
from evalkit.precision import BITS, UNQUANTIZED, precision_label


@dataclass(frozen=True)
class Precision:
    """A quantization: mteb's `OutputDType` name and `CompressionWrapper`'s optional clipping margin (the lower and
    upper percentiles, between 0 and 1, that integer quantization clips each dimension to before calibrating)."""

    dtype: str
    clipping_margin: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        """`int8`, or `int8_clip0.01-0.99`: how folders, names and progress lines call it."""
        return precision_label(self.dtype, self.clipping_margin)

    def wrap(self, encoder):
        """`encoder` behind mteb's CompressionWrapper. The wrapper rewrites the model metadata of what it wraps, so
        it wraps a shallow copy: the run's own encoder (a registry model's, shared by the variants) keeps its own."""
        from mteb.models import CompressionWrapper
        from mteb.types import OutputDType

        return CompressionWrapper(copy.copy(encoder), OutputDType(self.dtype), self.clipping_margin)


class _MetaOnly:
    """Stands in for a model where only its mteb metadata is read."""

    def __init__(self, meta) -> None:
        self.mteb_model_meta = meta


INTEGER = ("int8", "uint8", "int4", "uint4")  # what CompressionWrapper calibrates, and clips with a clipping margin


def precisions(names: list[str] | None, clipping_margin: Any = None) -> list[Precision | None] | None:
    """The precisions a run evaluates (None: `float32`, the embeddings unquantized), in the order given; None when
    no quantization was asked for. Each name is one of mteb's output dtypes that `CompressionWrapper` supports. The
    clipping margin goes to the integer precisions, the only ones CompressionWrapper clips, and is checked by
    CompressionWrapper itself."""
    margin = tuple(float(bound) for bound in clipping_margin) if clipping_margin is not None else None
    if margin is not None and not set(names or ()) & set(INTEGER):
        raise OptionError("clipping_margin", list(margin), f"applies to quantize's integer types: {', '.join(INTEGER)}")
    if not names:
        return None
    out: list[Precision | None] = []
    for name in dict.fromkeys(names):
        if name not in BITS:
            raise OptionError("quantize", repr(name), f"use mteb's output dtypes: {', '.join(BITS)}")
        out.append(None if name == UNQUANTIZED else Precision(name, margin if name in INTEGER else None))
    if margin is not None:
        from mteb.models.model_meta import ModelMeta

        try:
            Precision(INTEGER[0], margin).wrap(_MetaOnly(ModelMeta.create_empty()))
        except (ValueError, TypeError) as exc:
            raise OptionError("clipping_margin", list(margin), str(exc).splitlines()[0]) from exc
    return out


def experiment_meta(meta, dim: int | None, precision: Precision | None):
    """The mteb metadata of a variant, with the `experiment_kwargs` mteb records for it: `embed_dim` for a truncation
    (as `ModelMeta.load_model(embed_dim=...)` records it), and what `CompressionWrapper` adds for a quantization
    (`output_dtypes`, `clipping_margin`). Its `experiment_name` is mteb's name of the experiment."""
    kwargs = dict(meta.experiment_kwargs or {})
    if dim:
        kwargs["embed_dim"] = dim
    meta = meta.model_copy(update={"experiment_kwargs": kwargs or None, **({"embed_dim": dim} if dim else {})})
    if precision is None:
        return meta
    return precision.wrap(_MetaOnly(meta)).mteb_model_meta


def quantized(encoder, precision: Precision | None):
    """`encoder` quantized to `precision` through mteb's CompressionWrapper (unchanged for None)."""
    return encoder if precision is None else precision.wrap(encoder)


def renamed(meta, name: str, dim: int | None):
    """A truncated variant's mteb metadata: its name and embedding dimension."""
    return meta.model_copy(update={"name": name, "embed_dim": dim}) if dim else meta


def check_reference_truncation(model, dim: int) -> None:
    """The reference mode truncates as sentence-transformers' `truncate_dim` does, so it needs a SentenceTransformer."""
    if not hasattr(model.model, "truncate_embeddings"):
        raise OptionError(
            "dims",
            dim,
            f"the reference mode truncates through sentence-transformers' truncate_dim, and {model.name} is not a "
            "SentenceTransformer; evaluate dimensions in cached mode",
        )


class Truncated:
    """The reference mode's encoder of a truncation: the model's mteb encoder, with sentence-transformers cutting each
    embedding to `dim` dimensions (`SentenceTransformer.truncate_embeddings`), as plain mteb evaluates
    `SentenceTransformer(..., truncate_dim=dim)`."""

    def __init__(self, inner, sentence_transformer, dim: int, meta) -> None:
        self.inner = inner
        self.sentence_transformer = sentence_transformer
        self.dim = dim
        self.mteb_model_meta = meta

    def encode(self, inputs, **kwargs):
        with self.sentence_transformer.truncate_embeddings(self.dim):
            return self.inner.encode(inputs, **kwargs)

    def similarity(self, embeddings1, embeddings2):
        return self.inner.similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1, embeddings2):
        return self.inner.similarity_pairwise(embeddings1, embeddings2)


def reference_encoder(wrapper, sentence_transformer, name: str, dim: int | None, precision: Precision | None):
    """What the reference mode evaluates a variant with: the model's mteb encoder, truncated and quantized."""
    if dim:
        wrapper = Truncated(wrapper, sentence_transformer, dim, renamed(wrapper.mteb_model_meta, name, dim))
    return quantized(wrapper, precision)
