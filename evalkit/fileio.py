"""Files in and out: reading only regular files of bounded size, and writing atomically (readers never see a torn
file, and a file's mode is what the umask, or the file it replaces, says it is). Failures are one-line `UserError`s."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from evalkit.errors import UserError

MAX_INPUT_BYTES = 64 * 2**20  # the largest file evalkit reads (results, cards, suites, tolerances are far smaller)


def read_text(path: Path, what: str = "", encoding: str = "utf-8", limit: int = MAX_INPUT_BYTES) -> str:
    """The text of a regular file of at most `limit` bytes, line endings as they are.

    A FIFO, a device (`/dev/zero`), a folder, a file too large or not in `encoding` is a `UserError`
    (`<path>: cannot read <what> (<why>)`); nothing is read from a special file, and opening one never blocks.
    """

    def refuse(why: str) -> UserError:
        return UserError(f"{path}: cannot read{f' {what}' if what else ''} ({why})")

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from exc
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise refuse("not a regular file")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise refuse(exc.strerror or str(exc)) from exc
    if len(data) > limit:
        raise refuse(f"larger than {limit // 2**20} MiB")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise refuse(f"not {encoding} text: {exc.reason} at byte {exc.start}") from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8) atomically (see `write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` through a temporary file and a rename; failure (a read-only or full disk) is a `UserError`.

    A new file gets 0666 less the umask, as `open()` would give it; a file that exists keeps its mode, and a
    symbolic link keeps being a link: its target is replaced.
    """
    try:
        _write(Path(path), data)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def _write(path: Path, data: bytes) -> None:
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any, allow_nan: bool = False) -> None:
    """Write JSON atomically (see `write_text_atomic`)."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=allow_nan) + "\n")
