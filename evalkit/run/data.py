"""Where each task's data comes from: the hub at mteb's pinned revision, or a local snapshot folder."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import UserError
from evalkit.text import first_line

LOCAL_REVISION = "local"
SNAPSHOT_LINKS = "evalkit-snapshots"  # under the datasets cache: content-named links to local snapshots


class SnapshotMissing(UserError):
    """A task's local snapshot folder does not exist."""


def repo_id(task) -> str:
    """The HF dataset repo that mteb loads for `task`."""
    return str(task.metadata.dataset["path"])


def snapshot_folder(data_dir: Path, task) -> Path:
    """`DATA_DIR/<repo id>`, the folder `hf download --local-dir` makes for the task's repo."""
    return Path(data_dir) / repo_id(task)


def snapshot_revision(folder: Path) -> str:
    """The commit a snapshot records (huggingface_hub's `.cache/huggingface/download/*.metadata`), else `local`."""
    for meta in sorted((folder / ".cache" / "huggingface" / "download").rglob("*.metadata")):
        first = meta.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
        if first and len(first[0].strip()) == 40:
            return first[0].strip()
    return LOCAL_REVISION


@dataclass(frozen=True)
class DataVersion:
    """Which data a result was computed on: the revision to record and, for a local snapshot, its content."""

    revision: str
    fingerprint: str | None = None


def check_snapshot(task, data_dir: Path) -> Path:
    """The task's snapshot folder under `data_dir`; a missing one is a `SnapshotMissing` saying how to get it."""
    folder = snapshot_folder(data_dir, task)
    if not folder.is_dir():
        raise SnapshotMissing(
            f"no local snapshot for {task.metadata.name}: looked for {folder} "
            f"(get it with `hf download --repo-type dataset {repo_id(task)} --local-dir {folder}`)"
        )
    return folder


def use_local_snapshot(task, data_dir: Path) -> DataVersion:
    """Point `task` at its snapshot under `data_dir`; returns the revision to record and the content fingerprint."""
    folder = check_snapshot(task, data_dir)
    # metadata is shared by every instance of the task class: copy before changing it
    task.metadata = task.metadata.model_copy(deep=True)
    fingerprint = folder_fingerprint(folder)
    task.metadata.dataset["path"] = str(content_keyed_path(folder, fingerprint))
    return DataVersion(snapshot_revision(folder), fingerprint)


def folder_fingerprint(folder: Path) -> str:
    """SHA-256 over the relative path and bytes of every file of a folder, hidden folders (`.cache`, `.git`) aside.

    Bytes, not size and mtime: copies that keep mtimes and same-size rewrites within the clock's granularity must
    not look unchanged, and hashing (about 1 GB/s) costs seconds against the minutes the evaluation takes.
    """
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            with path.open("rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def content_keyed_path(folder: Path, fingerprint: str) -> Path:
    """A link to `folder` named after its content fingerprint, for `datasets` to load it through.

    `datasets` caches a local folder under its last path component and a hash that, for README `configs:`, covers
    only config names and relative file patterns (for plain folders, file mtimes): a rewritten or another folder of
    the same name would load the old rows. Through this link the cache folder changes whenever the content does.
    """
    import datasets

    folder = folder.resolve()
    place = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    name = f"{folder.name}-{fingerprint[:16]}"
    link = Path(datasets.config.HF_DATASETS_CACHE).expanduser() / SNAPSHOT_LINKS / place / name
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        link.symlink_to(folder, target_is_directory=True)
    except FileExistsError:  # made before, by this or a concurrent run: it points at `folder` too
        pass
    return link


def prefetch(specs, data_dir: Path, model: str | None = None) -> None:
    """Download each task's dataset repo (at mteb's pinned revision) and optionally a model; resumable.

    huggingface_hub does every request, so proxies (`HTTPS_PROXY`), `HF_ENDPOINT` and tokens work as for `hf`.
    """
    from huggingface_hub import snapshot_download

    from evalkit.suite import load_task

    jobs = []
    for spec in specs:
        task = load_task(spec)
        jobs.append((repo_id(task), task.metadata.revision, snapshot_folder(data_dir, task)))
    jobs = list(dict.fromkeys(jobs))
    _check_hub_reachable(*jobs[0][:2])
    try:
        for repo, revision, folder in jobs:
            print(f"downloading dataset {repo}@{revision} -> {folder}", flush=True)
            snapshot_download(repo, repo_type="dataset", revision=revision, local_dir=folder)
        if model:
            print(f"downloading model {model}", flush=True)
            snapshot_download(model)
    except Exception as exc:  # noqa: BLE001 - hub errors, and the HTTP library's, which differs by version
        raise UserError(f"download failed: {first_line(exc)} (run prefetch again to resume)") from exc


def _check_hub_reachable(repo: str, revision: str) -> None:
    """Fail in one line, at once, when huggingface_hub cannot reach the hub (offline mode, no network, bad proxy)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    if constants.HF_HUB_OFFLINE:
        raise UserError(
            "HF_HUB_OFFLINE is set: prefetch needs the Hugging Face hub; unset it on a machine with a network"
        )
    try:
        HfApi().dataset_info(repo, revision=revision, timeout=10)
    except HfHubHTTPError as exc:
        status = getattr(exc.response, "status_code", None)
        if status is not None and status < 500 and status != 407:
            return  # the hub answered: the download says what is wrong with this repo
        problem = exc  # a proxy or gateway answered instead of the hub
    except Exception as exc:  # noqa: BLE001 - the HTTP library's connection error (httpx or requests, by version)
        problem = exc
    else:
        return
    raise UserError(
        f"cannot reach the Hugging Face hub at {constants.ENDPOINT} ({first_line(problem)}); prefetch needs a "
        "network (a proxy is taken from HTTPS_PROXY)"
    ) from problem


BULK_ROWS = 10_000  # rows read at once from a dataset column inside `bulk_columns`


@contextlib.contextmanager
def bulk_columns() -> Iterator[None]:
    """Let mteb read a loaded dataset's columns in bulk while it evaluates: the same values, far fewer calls.

    `datasets` hands out a column (`dataset["label"]`) as a lazy `Column` that yields its values one formatted row
    at a time, and reads `column[i]` by selecting the column into a new dataset and formatting row i. mteb's
    classification scoring turns the test labels into an array by iterating, several times for every metric of
    every experiment, and its undersampling reads the training labels one index at a time, ten times per task: at
    C-MTEB's real size (AmazonReviews' 200,000 training rows) that is millions of row reads, most of a rerun's time.
    Here a plain (unformatted) dataset's column yields its values from batches of `BULK_ROWS` rows, and an integer
    index reads from the column's values, read once per `Column` in such batches, decoded by the same features; any
    other column, or key, is read as before. The reference mode (`--no-cache`) runs without it, as plain mteb does.
    """
    from datasets.arrow_dataset import Column, Dataset

    rowwise, indexed = Column.__iter__, Column.__getitem__

    def plain(column: Column) -> bool:
        return isinstance(column.source, Dataset) and column.source._format_type is None  # noqa: SLF001

    def in_bulk(self: Column) -> Iterator:
        if not plain(self):
            yield from rowwise(self)
            return
        for start in range(0, len(self), BULK_ROWS):
            yield from self[start : start + BULK_ROWS]

    def by_index(self: Column, key):
        if not isinstance(key, int) or isinstance(key, bool) or not plain(self):
            return indexed(self, key)
        values = self.__dict__.get("_evalkit_values")
        if values is None:
            values = self.__dict__["_evalkit_values"] = list(in_bulk(self))
        return values[key]

    Column.__iter__, Column.__getitem__ = in_bulk, by_index
    try:
        yield
    finally:
        Column.__iter__, Column.__getitem__ = rowwise, indexed
