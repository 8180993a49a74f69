"""Encoding each unique text once: a bounded, verified embedding store on disk and the mteb encoder that uses it.

The store's root holds a marker file (`.evalkit-cache`) and one folder per model identity; evalkit refuses a non-
empty root without the marker, and only ever deletes files it can recognise as its own shards. Every encode call
that computes something new appends a shard: `<time>-<pid>-<random>.npy` (float32 rows) and then `<same>.keys`: a
header with the row count, dimension, dtype and a SHA-256 of both files' payload, then one 32-byte key per row. Both
are written to a temporary name and renamed, the keys last, so a shard is visible only when complete; shard names
are unique, so concurrent runs never write the same file. A shard is verified before its first use; one that fails
(bytes changed, truncated, another shape or dtype, or vectors holding NaN or infinity, which the model's fresh
embeddings may not hold either) is quarantined (renamed `*.bad`, evicted first) and its texts are encoded again.
Eviction (bad shards, then the oldest, past the size limit, never a good shard the running store wrote itself) runs
under a file lock; a shard evicted under a reader is treated as missing and encoded again. When anything in the
cache cannot be written (a full or read-only disk: the marker, a shard, a model's facts), evalkit warns once per
cache root (`cannot_write`) and goes on without storing: the cache is an optimisation.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.errors import OptionError
from evalkit.run.models import nonfinite_rows
from evalkit.run.registry import applied_prompt
from evalkit.run.threads import all_threads

logger = logging.getLogger(__name__)

KEY_BYTES = 32
DTYPE = "float32"
MARKER = ".evalkit-cache"  # at the root: this folder is an evalkit embedding cache
KEYS_MAGIC = b"evalkit-keys/2\n"  # first line of a key file; the second is its JSON header
SHARD = re.compile(r"\d{20}-\d+-[0-9a-f]{8}")  # the stem of every shard file evalkit writes
SHARD_FILE = re.compile(rf"({SHARD.pattern})\.(npy|keys)(\.bad)?")
IDENTITY_FOLDER = re.compile(r"[0-9a-f]{32}")  # sha256[:32] of the model identity (evalkit.run.models)
FACTS_FOLDER = ".models"  # at the root: what each model loaded gives besides its embeddings (evalkit.run.lazy)
FACTS_FILE = re.compile(r"[0-9a-f]{32}\.json")
_UNWRITABLE: set[Path] = set()  # the cache roots found unwritable in this run (`claim_root`), each warned about once


def default_cache_dir() -> Path:
    """`$EVALKIT_CACHE`, else `$XDG_CACHE_HOME/evalkit/embeddings`, else `~/.cache/evalkit/embeddings`."""
    if os.environ.get("EVALKIT_CACHE"):
        return Path(os.environ["EVALKIT_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "evalkit" / "embeddings"


def cannot_write(root: Path, exc: OSError) -> None:
    """Say once per cache root and run (see `claim_root`) that the cache cannot be written, a full or read-only
    disk: the run goes on without storing, as the cache is only an optimisation."""
    root = Path(root).absolute()
    if root not in _UNWRITABLE:
        _UNWRITABLE.add(root)
        logger.warning(
            "embedding cache: cannot write to %s (%s); going on without storing embeddings", root, exc.strerror or exc
        )


def claim_root(root: Path, new_run: bool = False) -> bool:
    """Make `root` an evalkit cache: a new or empty folder gets the marker, one with the marker is used as it is.
    Whether the cache can be written: a folder that cannot be made or marked (a full or read-only disk) is warned
    about (`cannot_write`; `new_run` starts a run, which warns afresh), and no empty marker is left behind.

    A folder of evalkit's earlier cache layout (identity folders of shard files, no marker) is adopted; any
    other non-empty folder, or a path that is no folder, is refused, so that eviction never touches files evalkit
    did not write.
    """
    if new_run:
        _UNWRITABLE.discard(Path(root).absolute())
    try:
        root.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise OptionError("cache_dir", root, f"cannot use it ({exc.strerror})") from exc
    except OSError as exc:
        cannot_write(root, exc)
        return False
    marker = root / MARKER
    entries = list(root.iterdir())
    if any(e.name == MARKER for e in entries):
        return True
    if entries and not _is_unmarked_cache(entries):
        raise OptionError(
            "cache_dir",
            root,
            f"holds files that are not an evalkit embedding cache (no {MARKER} marker); give an empty or new folder",
        )
    try:
        with marker.open("x", encoding="utf-8") as f:
            f.write("evalkit embedding cache: evalkit deletes its shard files here to stay under its size limit\n")
    except FileExistsError:  # another run claimed it first
        pass
    except OSError as exc:
        with contextlib.suppress(OSError):
            marker.unlink(missing_ok=True)
        cannot_write(root, exc)
        return False
    return True


def _is_unmarked_cache(entries: list[Path]) -> bool:
    """Whether a root's entries are what evalkit writes without the marker (before it had one, or on a disk too
    full for it): `.lock`, identity folders of shards, and the folder of models' facts."""
    for entry in entries:
        if entry.name == ".lock" and entry.is_file():
            continue
        files = (
            FACTS_FILE if entry.name == FACTS_FOLDER else SHARD_FILE if IDENTITY_FOLDER.fullmatch(entry.name) else None
        )
        if files is None or not entry.is_dir():
            return False
        if not all(files.fullmatch(f.name) or f.name.endswith(".tmp") for f in entry.iterdir()):
            return False
    return True


def holds_embeddings(root: Path) -> bool:
    """Whether the cache at `root` holds any model's embeddings (a run there may be a rerun)."""
    return root.is_dir() and any(IDENTITY_FOLDER.fullmatch(entry.name) for entry in root.iterdir())


class MissingEmbeddings(RuntimeError):
    """A text is not in the cache and this encoder may not encode it (a worker, or the cache-only first pass)."""


class BadShard(Exception):
    """A shard that failed its check; the message says why."""


class EmbeddingStore:
    """Embeddings of one model identity (`root/<model_identity>/`), looked up by 32-byte keys.

    `max_bytes` bounds the whole `root`, every identity's shards together.
    """

    def __init__(self, root: Path, model_identity: str, max_bytes: int | None = None) -> None:
        self.root = Path(root)
        self.folder = self.root / model_identity
        self.max_bytes = max_bytes
        self._written: set[str] = set()  # shards this store wrote: never evicted while it runs
        self._over_limit_told = False
        self.writable = claim_root(self.root)  # False once a write failed: the run goes on without storing
        if self.writable:
            try:
                self.folder.mkdir(exist_ok=True)
            except OSError as exc:
                self._cannot_write(exc)
        self._index: dict[bytes, tuple[str, int]] = {}
        self._shard_keys: dict[str, bytes] = {}
        self._headers: dict[str, dict[str, Any]] = {}
        self._vectors_of: dict[str, np.ndarray] = {}

    def _refresh(self) -> None:
        """Index the complete shards that appeared since the last look (other runs may add them)."""
        for keys_file in self.folder.glob("*.keys"):
            shard = keys_file.stem
            if shard in self._shard_keys or not SHARD.fullmatch(shard):
                continue
            try:
                header, keys = _parse_keys(keys_file.read_bytes())
            except FileNotFoundError:  # evicted or quarantined meanwhile
                continue
            except BadShard as exc:
                self._quarantine(shard, str(exc))
                continue
            self._shard_keys[shard], self._headers[shard] = keys, header
            for row in range(len(keys) // KEY_BYTES):
                self._index.setdefault(keys[row * KEY_BYTES : (row + 1) * KEY_BYTES], (shard, row))

    def _vectors(self, shard: str) -> np.ndarray | None:
        """The verified rows of a shard; None when it is gone or bad (its texts are then encoded again)."""
        if shard not in self._vectors_of:
            try:
                path = self.folder / f"{shard}.npy"
                self._vectors_of[shard] = _verified(path, self._shard_keys[shard], self._headers[shard])
            except FileNotFoundError:  # evicted by another run
                self._forget(shard)
                return None
            except BadShard as exc:
                self._forget(shard)
                self._quarantine(shard, str(exc))
                return None
        return self._vectors_of[shard]

    def _forget(self, shard: str) -> None:
        raw = self._shard_keys.pop(shard, b"")
        self._headers.pop(shard, None)
        self._vectors_of.pop(shard, None)
        for row in range(len(raw) // KEY_BYTES):
            key = raw[row * KEY_BYTES : (row + 1) * KEY_BYTES]
            if self._index.get(key, ("",))[0] == shard:
                del self._index[key]

    def _quarantine(self, shard: str, reason: str) -> None:
        """Move a bad shard aside (`*.bad`, evicted first), keys first so that no reader indexes it again."""
        logger.warning("embedding cache: shard %s failed its check (%s); its texts are encoded again", shard, reason)
        for suffix in (".keys", ".npy"):
            path = self.folder / f"{shard}{suffix}"
            try:
                os.replace(path, path.with_name(path.name + ".bad"))
            except FileNotFoundError:  # another run moved or evicted it
                pass
            except OSError as exc:  # a read-only cache: the shard is checked, and refused, again next time
                cannot_write(self.root, exc)

    def get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """The stored vectors among `keys`, from verified shards only."""
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

    def has(self, keys: list[bytes]) -> set[bytes]:
        """The keys among `keys` that the store indexes (their shards are verified when read)."""
        self._refresh()
        return {key for key in keys if key in self._index}

    def holds_any(self) -> bool:
        """Whether any embedding of this model identity is stored."""
        self._refresh()
        return bool(self._index)

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Store one shard atomically, then keep the cache under its size limit; on a write error, warn once and
        store nothing more (the cache is an optimisation, the run goes on)."""
        if not keys or not self.writable:
            return
        try:
            self._written.add(self._write(keys, np.ascontiguousarray(vectors, dtype=DTYPE)))
            self._refresh()
            self._evict()
        except OSError as exc:
            self._cannot_write(exc)

    def _cannot_write(self, exc: OSError) -> None:
        self.writable = False
        cannot_write(self.root, exc)

    def _write(self, keys: list[bytes], vectors: np.ndarray) -> str:
        shard = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        buf = io.BytesIO()
        np.save(buf, vectors)
        data, key_bytes = buf.getvalue(), b"".join(keys)
        header = {"rows": len(keys), "dim": int(vectors.shape[1]), "dtype": DTYPE, "sha256": _digest(data, key_bytes)}
        data_tmp = self.folder / f".{shard}.npy.tmp"
        keys_tmp = self.folder / f".{shard}.keys.tmp"
        try:
            data_tmp.write_bytes(data)
            keys_tmp.write_bytes(KEYS_MAGIC + json.dumps(header).encode() + b"\n" + key_bytes)
            os.replace(data_tmp, self.folder / f"{shard}.npy")
            os.replace(keys_tmp, self.folder / f"{shard}.keys")
        finally:
            data_tmp.unlink(missing_ok=True)
            keys_tmp.unlink(missing_ok=True)
        return shard

    def _evict(self) -> None:
        """Delete bad shards, then the oldest of any identity, until the cache fits its limit.

        Never the shards this store wrote: a run whose own embeddings exceed the limit keeps them until it ends
        (the encode phase stores every text before the evaluation reads it) and says so once; later runs evict
        them as the oldest. Only files named like evalkit's shards, in the identity folders of a marked root, are
        ever deleted.
        """
        if self.max_bytes is None:
            return
        with (self.root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            shards: dict[tuple[Path, str], list[Path]] = {}
            for folder in self.root.iterdir():
                if folder.is_dir() and not folder.name.startswith("."):
                    for path in folder.iterdir():
                        match = SHARD_FILE.fullmatch(path.name)
                        if match:
                            shards.setdefault((folder, match.group(1)), []).append(path)
            sizes = {shard: sum(_size(p) for p in files) for shard, files in shards.items()}
            total = sum(sizes.values())
            bad = {shard for shard, files in shards.items() if any(p.name.endswith(".bad") for p in files)}
            for folder, stem in sorted(shards, key=lambda s: (s not in bad, s[1])):  # stems start with their time
                if total <= self.max_bytes:
                    break
                if folder == self.folder and stem in self._written and (folder, stem) not in bad:
                    continue
                total -= sizes[folder, stem]
                for path in sorted(shards[folder, stem], key=lambda p: ".keys" not in p.name):  # keys first
                    path.unlink(missing_ok=True)
                if folder == self.folder:
                    self._forget(stem)
                logger.info("embedding cache over its limit: evicted %s", folder / stem)
            if total > self.max_bytes and not self._over_limit_told:
                self._over_limit_told = True
                logger.warning(
                    "embedding cache: this run's embeddings alone (%.1f GB) exceed the cache's limit (%.1f GB); they "
                    "are kept while it runs and evicted by later runs (raise --cache-max-gb to keep them)",
                    sum(sizes.get((self.folder, stem), 0) for stem in self._written) / 2**30,
                    self.max_bytes / 2**30,
                )


def _digest(data: bytes | Path, keys: bytes) -> str:
    """The checksum of a shard: SHA-256 over the SHA-256 of its .npy bytes (or file) and its keys."""
    if isinstance(data, Path):
        with data.open("rb") as f:
            inner = hashlib.file_digest(f, "sha256").digest()
    else:
        inner = hashlib.sha256(data).digest()
    return hashlib.sha256(inner + keys).hexdigest()


def _parse_keys(raw: bytes) -> tuple[dict[str, Any], bytes]:
    """A key file's header and keys; `BadShard` when it is not one evalkit wrote or does not add up."""
    if not raw.startswith(KEYS_MAGIC):
        raise BadShard("not an evalkit key file of this version")
    line, _, keys = raw[len(KEYS_MAGIC) :].partition(b"\n")
    try:
        header = json.loads(line)
        rows, dim = int(header["rows"]), int(header["dim"])
    except (ValueError, TypeError, KeyError) as exc:
        raise BadShard("unreadable key file header") from exc
    if len(keys) != rows * KEY_BYTES:
        raise BadShard(f"key file holds {len(keys) // KEY_BYTES} keys, its header says {rows}")
    if dim <= 0 or header.get("dtype") != DTYPE:
        raise BadShard(f"key file header says {header.get('dtype')!r} rows of {dim} dimensions")
    return header, keys


def _verified(path: Path, keys: bytes, header: dict[str, Any]) -> np.ndarray:
    """The rows of a shard (memory-mapped) whose bytes, shape and dtype are what its key file recorded; else
    `BadShard`."""
    if _digest(path, keys) != header.get("sha256"):
        raise BadShard(f"checksum mismatch ({_size(path)} bytes)")
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise BadShard(f"not a .npy array ({exc})") from exc
    if vectors.dtype != np.dtype(DTYPE) or vectors.shape != (header["rows"], header["dim"]):
        expected = (header["rows"], header["dim"])
        raise BadShard(f"{vectors.dtype} {vectors.shape}, the key file says {DTYPE} {expected}")
    bad = nonfinite_rows(vectors)
    if bad:  # signed, yet no embedding: written by a buggy encoder or an older evalkit
        raise BadShard(f"{bad} of {len(vectors)} vectors hold NaN or infinity")
    return vectors


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

    def merge(self, other: EncodeStats) -> None:
        """Add another process's counts (a parallel evaluation worker's)."""
        self.texts_requested += other.texts_requested
        self.texts_encoded += other.texts_encoded
        self.encode_seconds += other.encode_seconds
        self.unique |= other.unique

    def record(self) -> dict[str, Any]:
        return {
            "texts_requested": self.texts_requested,
            "unique_texts": len(self.unique),
            "texts_encoded": self.texts_encoded,
            "cache_hits": self.texts_requested - self.texts_encoded,
            "encode_seconds": round(self.encode_seconds, 3),
        }


def text_keys(model_identity: str, prompt_type, prompt: str, texts: list[str]) -> list[bytes]:
    """Each text's cache key: the SHA-256 of the model identity, the prompt type, the exact prompt or instruction
    the model applies to it (`registry.applied_prompt`), and the text."""
    head = hashlib.sha256(model_identity.encode())
    head.update(f"\0{prompt_type.value if prompt_type else ''}\0{prompt}\0".encode())
    keys = []
    for text in texts:
        digest = head.copy()
        digest.update(text.encode("utf-8", "surrogatepass"))
        keys.append(digest.digest())
    return keys


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
        encode_kwargs: Callable[[], dict[str, Any]] = dict,
        may_encode: bool = True,
    ) -> None:
        self.inner = inner
        self.model_identity = model_identity
        self.store = store
        self.stats = stats
        self.dim = dim
        self.mteb_model_meta = meta or inner.mteb_model_meta
        self.encode_kwargs = encode_kwargs  # called only when something must be encoded (it may start a pool)
        self.may_encode = may_encode  # False: a miss raises MissingEmbeddings

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str, prompt_type=None, **kwargs) -> np.ndarray:
        from datasets import Dataset
        from torch.utils.data import DataLoader

        texts = [text for batch in inputs for text in batch["text"]]
        prompt = applied_prompt(self.inner, task_metadata, prompt_type, hf_split, hf_subset)
        keys = text_keys(self.model_identity, prompt_type, prompt, texts)
        self.stats.texts_requested += len(keys)
        self.stats.unique.update(keys)
        found = self.store.get(list(dict.fromkeys(keys)))
        missing = {key: text for key, text in zip(keys, texts) if key not in found}
        if missing and not self.may_encode:
            raise MissingEmbeddings(f"{len(missing)} text(s) are missing from the embedding cache")
        if missing:
            start = time.perf_counter()
            batch_size = kwargs.get("batch_size", 32)
            loader = DataLoader(Dataset.from_dict({"text": list(missing.values())}), batch_size=batch_size)
            with all_threads():  # the evaluation around it scores single-threaded
                vectors = np.asarray(
                    self.inner.encode(
                        loader,
                        task_metadata=task_metadata,
                        hf_split=hf_split,
                        hf_subset=hf_subset,
                        prompt_type=prompt_type,
                        **{**kwargs, **self.encode_kwargs()},
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
