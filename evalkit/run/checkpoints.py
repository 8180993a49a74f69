"""The models of a run: names as given, and globs of local folders (`ckpts/step-*`) expanded in checkpoint order."""

from __future__ import annotations

import glob
import re
from pathlib import Path

from evalkit.errors import OptionError


def _natural(text: str) -> list:
    """A sort key that orders `step-2` before `step-10`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def expand(models: list[str], option: str = "model") -> list[str]:
    """Each model once, in the order given; a glob becomes the model folders it matches, numbers in numeric order.

    `option` names the parameter in errors."""
    out: list[str] = []
    for spec in models:
        if not isinstance(spec, str):
            raise OptionError(option, type(spec).__name__, "several models are given by name or folder")
        if glob.has_magic(spec) and not Path(spec).expanduser().exists():
            matches = [m for m in glob.glob(str(Path(spec).expanduser())) if Path(m).is_dir()]
            if not matches:
                raise OptionError(option, spec, "matches no model folder")
            out.extend(sorted(matches, key=_natural))
        else:
            out.append(spec)
    return list(dict.fromkeys(out))
