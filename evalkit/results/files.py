"""Result files on disk: mteb's TaskResult JSON in `<output>/<org>__<name>/<revision>/<Task>.json`, beside a
`model_meta.json` that says which model (and model identity) the folder holds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from evalkit.errors import UserError
from evalkit.fileio import read_text, write_json_atomic

META_FILE = "model_meta.json"
SUMMARY_FILE = "run_summary.json"
MODEL_INDEX_FILE = "model-index.yaml"
IDENTITY = "model_identity"  # the key of the model identity, in result files and model_meta.json
OLD_IDENTITY = "identity"  # model_meta.json before 0.2 named it so


def safe_component(text: str) -> str:
    """A single, harmless path component: no separators, no `..`, no leading dot."""
    cleaned = re.sub(r"[^A-Za-z0-9._+=-]", "_", text).lstrip(".")
    return cleaned or "_"


def model_dir(output_dir: Path, folder_name: str, revision: str) -> Path:
    """The folder holding one model revision's results, always inside `output_dir`."""
    return Path(output_dir) / safe_component(folder_name) / safe_component(revision)


def task_file(folder: Path, mteb_task: str) -> Path:
    """The result file of one task, named by its mteb task name."""
    return folder / f"{safe_component(mteb_task)}.json"


def task_result_json(task_result) -> dict[str, Any]:
    """mteb's TaskResult as `TaskResult.to_disk` writes it (NaN included), but with unrounded scores."""
    data = task_result.model_dump()
    data["date"] = task_result.date.timestamp() if task_result.date else None
    return data


def write_task_result(task_result, path: Path, **marks: str | None) -> None:
    """Write one mteb TaskResult atomically, with evalkit's marks (`sampled`, `dataset_fingerprint`,
    `model_identity`) beside mteb's keys; mteb's reader ignores them."""
    data = task_result_json(task_result) | {key: value for key, value in marks.items() if value is not None}
    write_json_atomic(path, data, allow_nan=True)


def write_model_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Write `model_meta.json` atomically."""
    write_json_atomic(Path(folder) / META_FILE, meta)


def recorded_identity(folder: Path) -> str | None:
    """The model identity that a results folder's `model_meta.json` records, None where it records none."""
    try:
        meta = json.loads(read_text(Path(folder) / META_FILE))
    except (UserError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    return meta.get(IDENTITY) or meta.get(OLD_IDENTITY)


def result_identities(folder: Path) -> dict[str, str | None]:
    """The model identity each result file of a folder records (None where it records none), by file stem."""
    found = {}
    for path in sorted(Path(folder).glob("*.json")):
        if path.name in (META_FILE, SUMMARY_FILE):
            continue
        try:
            data = json.loads(read_text(path))
        except (UserError, ValueError):
            data = None
        found[path.stem] = data.get(IDENTITY) if isinstance(data, dict) else None
    return found


def remove_stale_temporaries(folder: Path, older_than: float = 600.0) -> list[Path]:
    """Remove what killed writers left in a results folder: temporary files of atomic writes (`.<name>.*.tmp`)
    untouched for `older_than` seconds (a live write takes milliseconds). The files removed."""
    import time

    removed = []
    for path in Path(folder).glob(".*.tmp"):
        try:
            if time.time() - path.stat().st_mtime > older_than:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # another run cleaned it meanwhile
            continue
    return removed
