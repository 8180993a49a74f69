"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(rows: Sequence[Sequence[str]], right: Sequence[int] = (), rule: bool = False) -> str:
    """Columns padded to their widest cell, `right` ones right-aligned, a trailing left column unpadded.

    The first row is the header; `rule` draws a line under it.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    last = len(widths) - 1

    def cell(i: int, text: str) -> str:
        if i in right:
            return text.rjust(widths[i])
        return text if i == last else text.ljust(widths[i])

    lines = ["  ".join(cell(i, text) for i, text in enumerate(row)) for row in rows]
    if rule:
        lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)
