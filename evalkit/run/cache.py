"""Encoding each unique text once: a bounded embedding store on disk and the mteb encoder that uses it.

The store keeps one folder per model identity. Every encode call that computes something new appends a
shard: `<id>.npy` (float32 rows) and then `<id>.keys` (one 32-byte SHA-256 key per row). Both are written
to a temporary name and renamed, the keys last, so a shard is visible only when complete; shard names are
unique, so concurrent runs never write the same file. Eviction (oldest shards first, past the size limit)
runs under a file lock; a shard evicted under a reader is treated as missing and encoded again.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.run.registry import applied_prompt

logger = logging.getLogger(__name__)

KEY_BYTES = 32


def default_cache_dir() -> Path:
    """`$EVALKIT_CACHE`, else `$XDG_CACHE_HOME/evalkit/embeddings`, else `~/.cache/evalkit/embeddings`."""
    if os.environ.get("EVALKIT_CACHE"):
        return Path(os.environ["EVALKIT_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "evalkit" / "embeddings"


class EmbeddingStore:
    """Embeddings of one model identity (`root/<model_identity>/`), looked up by 32-byte keys.

    `max_bytes` bounds the whole `root`, every identity's shards together.
    """

    def __init__(self, root: Path, model_identity: str, max_bytes: int | None = None) -> None:
        self.root = Path(root)
        self.folder = self.root / model_identity
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._index: dict[bytes, tuple[str, int]] = {}
        self._shard_keys: dict[str, bytes] = {}
        self._vectors_of: dict[str, np.ndarray] = {}

    def _refresh(self) -> None:
        """Index the complete shards that appeared since the last look (other runs may add them)."""
        for keys_file in self.folder.glob("*.keys"):
            shard = keys_file.stem
            if shard in self._shard_keys:
                continue
            try:
                raw = keys_file.read_bytes()
            except FileNotFoundError:  # evicted meanwhile
                continue
            self._shard_keys[shard] = raw
            for row in range(len(raw) // KEY_BYTES):
                self._index.setdefault(raw[row * KEY_BYTES : (row + 1) * KEY_BYTES], (shard, row))

    def _vectors(self, shard: str) -> np.ndarray | None:
        if shard not in self._vectors_of:
            try:
                self._vectors_of[shard] = np.load(self.folder / f"{shard}.npy", mmap_mode="r")
            except FileNotFoundError:  # evicted by another run: encode those texts again
                self._forget(shard)
                return None
            except (OSError, ValueError):  # damaged: encode those texts again; the shard's keys go, or they would
                self._forget(shard)  # keep hiding the new shard that holds those texts
                self._shard_keys[shard] = b""
                (self.folder / f"{shard}.keys").unlink(missing_ok=True)
                return None
        return self._vectors_of[shard]

    def _forget(self, shard: str) -> None:
        raw = self._shard_keys.pop(shard, b"")
        self._vectors_of.pop(shard, None)
        for row in range(len(raw) // KEY_BYTES):
            key = raw[row * KEY_BYTES : (row + 1) * KEY_BYTES]
            if self._index.get(key, ("",))[0] == shard:
                del self._index[key]

    def get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """The stored vectors among `keys`."""
        self._refresh()
        rows: dict[str, list[tuple[bytes, int]]] = {}
        for key in keys:
            where = self._index.get(key)
            if where is not None:
                rows.setdefault(where[0], []).append((key, where[1]))
        found = {}
        for shard, items in rows.items():
            vectors = self._vectors(shard)
            if vectors is not None:
                block = np.asarray(vectors[[row for _, row in items]])
                found.update(zip((key for key, _ in items), block))
        return found

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Store one shard atomically, then keep the cache under its size limit."""
        if not keys:
            return
        shard = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        data_tmp = self.folder / f".{shard}.npy.tmp"
        keys_tmp = self.folder / f".{shard}.keys.tmp"
        try:
            with data_tmp.open("wb") as f:
                np.save(f, np.ascontiguousarray(vectors, dtype=np.float32))
            keys_tmp.write_bytes(b"".join(keys))
            os.replace(data_tmp, self.folder / f"{shard}.npy")
            os.replace(keys_tmp, self.folder / f"{shard}.keys")
        finally:
            data_tmp.unlink(missing_ok=True)
            keys_tmp.unlink(missing_ok=True)
        self._evict(keep=self.folder / f"{shard}.npy")

    def _evict(self, keep: Path) -> None:
        """Delete the oldest shards of any identity until the cache fits its limit (never the one just written)."""
        if self.max_bytes is None:
            return
        with (self.root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            shards = sorted(self.root.glob("*/*.npy"), key=lambda p: p.name)  # names start with their time
            sizes = {p: _size(p) + _size(p.with_suffix(".keys")) for p in shards}
            total = sum(sizes.values())
            for data in shards:
                if total <= self.max_bytes:
                    break
                if data == keep:
                    continue
                total -= sizes[data]
                data.with_suffix(".keys").unlink(missing_ok=True)
                data.unlink(missing_ok=True)
                if data.parent == self.folder:
                    self._forget(data.stem)
                logger.info("embedding cache over its limit: evicted %s", data)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@dataclass
class EncodeStats:
    """What a run asked the model to embed and what it actually encoded."""

    texts_requested: int = 0
    texts_encoded: int = 0
    encode_seconds: float = 0.0
    unique: set[bytes] = field(default_factory=set)

    def record(self) -> dict[str, Any]:
        return {
            "texts_requested": self.texts_requested,
            "unique_texts": len(self.unique),
            "texts_encoded": self.texts_encoded,
            "cache_hits": self.texts_requested - self.texts_encoded,
            "encode_seconds": round(self.encode_seconds, 3),
        }


class CachedEncoder:
    """An mteb encoder around the model's mteb wrapper that encodes each unique text once.

    A text's key is the model identity, the prompt type, the exact prompt or instruction the wrapper applies for
    the task (`registry.applied_prompt`), and the text. Only texts missing from the store reach the model, in one
    call (sentence-transformers sorts it by length); the result is the same array mteb would get, optionally
    truncated to `dim` dimensions the way sentence-transformers' `truncate_dim` does (after the model's own
    normalization, without renormalizing).
    """

    def __init__(
        self,
        inner,
        model_identity: str,
        store: EmbeddingStore,
        stats: EncodeStats,
        dim: int | None = None,
        meta=None,
        encode_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.inner = inner
        self.model_identity = model_identity.encode()
        self.store = store
        self.stats = stats
        self.dim = dim
        self.mteb_model_meta = meta or inner.mteb_model_meta
        self.encode_kwargs = encode_kwargs or {}

    def _keys(self, texts: list[str], task_metadata, prompt_type, hf_split: str, hf_subset: str) -> list[bytes]:
        prompt = applied_prompt(self.inner, task_metadata, prompt_type, hf_split, hf_subset)
        head = hashlib.sha256(self.model_identity)
        head.update(f"\0{prompt_type.value if prompt_type else ''}\0{prompt}\0".encode())
        keys = []
        for text in texts:
            digest = head.copy()
            digest.update(text.encode("utf-8", "surrogatepass"))
            keys.append(digest.digest())
        return keys

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str, prompt_type=None, **kwargs) -> np.ndarray:
        from datasets import Dataset
        from torch.utils.data import DataLoader

        texts = [text for batch in inputs for text in batch["text"]]
        keys = self._keys(texts, task_metadata, prompt_type, hf_split, hf_subset)
        self.stats.texts_requested += len(keys)
        self.stats.unique.update(keys)
        found = self.store.get(list(dict.fromkeys(keys)))
        missing = {key: text for key, text in zip(keys, texts) if key not in found}
        if missing:
            start = time.perf_counter()
            batch_size = kwargs.get("batch_size", 32)
            loader = DataLoader(Dataset.from_dict({"text": list(missing.values())}), batch_size=batch_size)
            vectors = np.asarray(
                self.inner.encode(
                    loader,
                    task_metadata=task_metadata,
                    hf_split=hf_split,
                    hf_subset=hf_subset,
                    prompt_type=prompt_type,
                    **{**kwargs, **self.encode_kwargs},
                ),
                dtype=np.float32,
            )
            self.stats.encode_seconds += time.perf_counter() - start
            self.stats.texts_encoded += len(missing)
            self.store.add(list(missing), vectors)
            found.update(zip(missing, vectors))
        out = np.stack([found[key] for key in keys]) if keys else np.zeros((0, 0), dtype=np.float32)
        return out[:, : self.dim] if self.dim else out

    def similarity(self, embeddings1, embeddings2):
        return self.inner.similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1, embeddings2):
        return self.inner.similarity_pairwise(embeddings1, embeddings2)
