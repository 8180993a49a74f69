"""Result files on disk: mteb's TaskResult JSON in `<output>/<org>__<name>/<revision>/<Task>.json`."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any


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


def write_text_atomic(path: Path, text: str) -> None:
    """Write text through a temporary file and a rename, so readers never see a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any, allow_nan: bool = False) -> None:
    """Write JSON atomically (see `write_text_atomic`)."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=allow_nan) + "\n")


def task_result_json(task_result) -> dict[str, Any]:
    """mteb's TaskResult as `TaskResult.to_disk` writes it (NaN included), but with unrounded scores."""
    data = task_result.model_dump()
    data["date"] = task_result.date.timestamp() if task_result.date else None
    return data


def write_task_result(task_result, path: Path, **marks: str | None) -> None:
    """Write one mteb TaskResult atomically, with evalkit's marks (`sampled`, `dataset_fingerprint`) beside
    mteb's keys; mteb's reader ignores them."""
    data = task_result_json(task_result) | {key: value for key, value in marks.items() if value is not None}
    write_json_atomic(path, data, allow_nan=True)
