"""Files in and out: reading only regular files of bounded size (compressed ones bounded as they inflate), and
writing atomically (readers never see a torn file, and a file's mode is what the umask, or the file it replaces,
says it is). Failures are one-line `UserError`s."""

from __future__ import annotations

import gzip
import json
import os
import stat
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from evalkit.errors import UserError

MAX_INPUT_BYTES = 64 * 2**20  # the largest file evalkit reads (results, cards, suites, tolerances are far smaller)


def _refusal(path: Path, what: str, why: str) -> UserError:
    return UserError(f"{path}: cannot read{f' {what}' if what else ''} ({why})")


def _open_regular(path: Path, what: str) -> IO[bytes]:
    """`path` opened for reading in binary, if it is a regular file; a FIFO, a device or a folder is a `UserError`
    (opening one never blocks, and nothing is read from it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise _refusal(path, what, exc.strerror or str(exc)) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)  # before `fdopen`, which refuses a folder with its own error
        raise _refusal(path, what, "not a regular file")
    return os.fdopen(fd, "rb")


def read_text(path: Path, what: str = "", encoding: str = "utf-8", limit: int = MAX_INPUT_BYTES) -> str:
    """The text of a regular file of at most `limit` bytes, line endings as they are.

    A FIFO, a device (`/dev/zero`), a folder, a file too large or not in `encoding` is a `UserError`
    (`<path>: cannot read <what> (<why>)`); nothing is read from a special file, and opening one never blocks.
    """
    with _open_regular(path, what) as f:
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise _refusal(path, what, exc.strerror or str(exc)) from exc
    if len(data) > limit:
        raise _refusal(path, what, f"larger than {limit // 2**20} MiB")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _refusal(path, what, f"not {encoding} text: {exc.reason} at byte {exc.start}") from exc


def gzip_lines(path: Path, what: str, limit: int = MAX_INPUT_BYTES) -> Iterator[str]:
    """The UTF-8 lines of a gzip-compressed regular file, read as they inflate: more than `limit` bytes inflated
    (a gzip bomb: a few MB that inflate to GBs) is a `UserError` once `limit` bytes are read, never after; so is
    a file that is no gzip or no UTF-8."""
    left = limit
    with _open_regular(path, what) as raw, gzip.GzipFile(fileobj=raw) as f:
        while True:
            try:
                line = f.readline(left + 1)
            except (OSError, EOFError, zlib.error) as exc:
                raise _refusal(path, what, f"not gzip: {exc}") from exc
            if not line:
                return
            left -= len(line)
            if left < 0:
                raise _refusal(path, what, f"larger than {limit // 2**20} MiB uncompressed")
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _refusal(path, what, f"not utf-8 text: {exc.reason}") from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str, follow_link: bool = False) -> None:
    """Write `text` (UTF-8) atomically (see `write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"), follow_link)


def write_bytes_atomic(path: Path, data: bytes, follow_link: bool = False) -> None:
    """Write `data` through a temporary file and a rename; failure (a read-only or full disk) is a `UserError`.

    A new file gets 0666 less the umask, as `open()` would give it; a file that exists keeps its mode. A symbolic
    link is replaced by a regular file, never written through (a link named like a result file must not reach
    another model's results, or any file it names), unless `follow_link`: then its target is replaced and the link
    stays (a model card's README or a report the user names).
    """
    try:
        _write(Path(path), data, follow_link)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def _write(path: Path, data: bytes, follow_link: bool) -> None:
    if follow_link and path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        existing = path.lstat().st_mode
        mode = 0o666 & ~_umask() if stat.S_ISLNK(existing) else existing & 0o7777
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
