"""Loading the model only when a text must be encoded: a cached run whose texts are all cached never loads it.

What a run needs from a sentence-transformers model besides its embeddings (its identity, dimension, prompts, mteb
metadata and similarity function) is remembered beside the embedding cache, in `<cache>/.models/<key>.json`, the
first time the model loads. The key covers everything the model is loaded from and with (the folder's content or
the hub commit, dtype, max length, prompts, loader options, library versions), so a remembered entry describes
exactly the model that loading would give; the identity is checked again whenever the model does load.

Registry models and cross-encoders are loaded at once (their mteb loaders may do anything per task).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from evalkit.errors import UserError
from evalkit.fileio import write_json_atomic
from evalkit.run.cache import FACTS_FOLDER, MissingEmbeddings, cannot_write
from evalkit.run.models import (
    NO_REVISION,
    LoadedModel,
    ModelOptions,
    Resolution,
    _checked_wrapper_class,
    check_batch_size,
    check_revision,
    load_model,
    recorded_revision,
    resolve_devices,
    resolve_dtype,
)

logger = logging.getLogger(__name__)


@dataclass
class ModelFacts:
    """What a run needs from a model without encoding anything."""

    model_identity: str
    embed_dim: int
    max_seq_length: int | None
    prompts: dict[str, Any]  # evalkit's recorded prompts
    model_prompts: dict[str, str] | None  # the prompts mteb's wrapper resolves from them
    similarity_fn_name: str
    meta: dict[str, Any]  # mteb's ModelMeta of the wrapper, without its loader class

    @classmethod
    def of(cls, loaded: LoadedModel, wrapper) -> ModelFacts:
        """The facts of a loaded sentence-transformers model and its mteb wrapper."""
        return cls(
            loaded.model_identity,
            loaded.embed_dim,
            loaded.max_seq_length,
            loaded.prompts,
            wrapper.model_prompts,
            loaded.model.similarity_fn_name,
            wrapper.mteb_model_meta.model_dump(mode="json", exclude={"loader"}),
        )

    def mteb_meta(self):
        """The wrapper's ModelMeta. evalkit names a local model after its folder, which mteb's name check refuses:
        it is validated without the name and revision, which are then set as `LoadedModel.mteb_wrapper` sets them."""
        from mteb.models.model_meta import ModelMeta

        names = {"name": self.meta["name"], "revision": self.meta["revision"]}
        unnamed = {**self.meta, "loader": _checked_wrapper_class(), "name": None, "revision": None}
        return ModelMeta.model_validate(unnamed).model_copy(update=names)


class _Unloaded:
    """Stands in for the SentenceTransformer until something needs its weights, then loads it."""

    def __init__(self, owner: LazyModel) -> None:
        self._owner = owner

    @property
    def max_seq_length(self) -> int | None:
        return self._owner.facts.max_seq_length

    max_length = max_seq_length  # what `LoadedModel.max_seq_length` asks next where the first is None (static models)

    def get_embedding_dimension(self) -> int:
        return self._owner.facts.embed_dim

    def __getattr__(self, name: str):
        return getattr(self._owner.load(), name)


@dataclass
class LazyModel(LoadedModel):
    """A `LoadedModel` whose SentenceTransformer is loaded on first use (`load_seconds` is None until then)."""

    spec: Resolution | None = None
    requested_revision: str | None = None
    facts_file: Path | None = None
    facts: ModelFacts | None = None
    _loaded_wrapper: Any = field(default=None, repr=False)

    @property
    def loaded(self) -> bool:
        return not isinstance(self.model, _Unloaded)

    def load(self):
        """The SentenceTransformer, loaded now if it is not yet; remembers its facts for the next run."""
        if self.loaded:
            return self.model
        real = load_model(self.spec, self.options, self.requested_revision, self.name)
        if self.facts is not None and real.model_identity != self.facts.model_identity:
            raise RuntimeError(f"{self.facts_file} describes another model than {self.spec.target} loads; delete it")
        self.model, self.prompts, self.load_seconds = real.model, real.prompts, real.load_seconds
        self.__dict__["model_identity"] = real.model_identity
        self._loaded_wrapper = LoadedModel.mteb_wrapper(self)
        self.facts = ModelFacts.of(self, self._loaded_wrapper)
        try:
            # mteb's metadata says `max_tokens: inf` for a model without a length limit (static embeddings)
            write_json_atomic(self.facts_file, asdict(self.facts), allow_nan=True)
        except UserError as exc:  # a full or read-only cache disk: remembered by a later run
            cannot_write(self.facts_file.parent.parent, exc.__cause__ or exc)
        return self.model

    def mteb_wrapper(self):
        """mteb's wrapper of the model; it loads the model only when a text must be encoded."""
        return lazy_wrapper(self.facts, self._real_wrapper)

    def _real_wrapper(self):
        self.load()
        return self._loaded_wrapper


class _SimilarityOnly:
    """The part of a SentenceTransformer that scores embeddings: sentence-transformers' own similarity functions."""

    def __init__(self, name: str) -> None:
        from sentence_transformers import SimilarityFunction

        self.similarity = SimilarityFunction.to_similarity_fn(name)
        self.similarity_pairwise = SimilarityFunction.to_similarity_pairwise_fn(name)


@cache
def _lazy_wrapper_class():
    """mteb's SentenceTransformer wrapper (evalkit's checked one) built from remembered facts: it scores with mteb's
    own wrapper code over the model's similarity function, and encodes through the real wrapper, loaded then."""

    class LazyWrapper(_checked_wrapper_class()):
        def __init__(self, facts: ModelFacts, load=None) -> None:  # noqa: D107 - the base __init__ needs the model
            self.model = _SimilarityOnly(facts.similarity_fn_name)
            self.model_prompts = facts.model_prompts
            self.mteb_model_meta = facts.mteb_meta()
            self._load = load

        def encode(self, inputs, **kwargs):
            if self._load is None:
                raise MissingEmbeddings("a text is missing from the embedding cache")
            return self._load().encode(inputs, **kwargs)

    return LazyWrapper


def lazy_wrapper(facts: ModelFacts, load=None):
    """The model's mteb wrapper from its facts; `load()` gives the real wrapper (None: encoding raises
    `MissingEmbeddings`)."""
    return _lazy_wrapper_class()(facts, load)


def can_defer(found) -> bool:
    """Whether this model's loading can wait until a text must be encoded: a sentence-transformers embedding model
    named by a spec (not a registry entry, not a cross-encoder, not an object in memory)."""
    return isinstance(found, Resolution) and found.meta is None and not found.cross_encoder


def open_model(
    found: Resolution, options: ModelOptions, cache_root: Path, revision: str | None = None, name: str | None = None
) -> LazyModel:
    """The model for a cached run as a `LazyModel`, loaded at once when its facts are not remembered yet."""
    check_batch_size(options)
    check_revision(found, revision)
    devices = resolve_devices(options.device)
    dtype = resolve_dtype(options.dtype, devices[0])
    recorded = recorded_revision(found, revision)
    model = LazyModel(
        model=None,
        name=name or found.name,
        revision=recorded,
        source=found.target,
        device=devices[0],
        dtype=dtype,
        options=options,
        devices=devices,
        loader=found.loader,
        spec=found,
        requested_revision=revision,
        facts_file=cache_root / FACTS_FOLDER / f"{_facts_key(found, recorded, dtype, options, name)}.json",
    )
    model.model = _Unloaded(model)
    try:
        model.facts = ModelFacts(**json.loads(model.facts_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        model.load()
        return model
    model.prompts = model.facts.prompts
    model.__dict__["model_identity"] = model.facts.model_identity
    return model


def _facts_key(found: Resolution, revision: str, dtype: str, options: ModelOptions, name: str | None) -> str:
    """What the loaded model depends on: its files (content, or hub commit), the load options, the libraries."""
    from evalkit.run.data import folder_fingerprint

    folder = Path(found.target)
    key = {
        "target": found.target,
        "name": name or found.name,
        "revision": revision,
        "content": folder_fingerprint(folder) if revision == NO_REVISION and folder.is_dir() else None,
        "dtype": dtype,
        "options": {k: v for k, v in asdict(options).items() if k not in ("device", "batch_size")},
        "versions": [version(p) for p in ("sentence-transformers", "transformers", "mteb", "torch")],
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
