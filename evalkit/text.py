"""Text for people: plain-text tables, name suggestions, Markdown escaping."""

from __future__ import annotations

import difflib
import re
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


def suggest(name: str, choices) -> str:
    """`; did you mean A, B?` with the closest of `choices` (ignoring case), or nothing."""
    by_lower = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(by_lower[c] for c in close)}?" if close else ""


MD_SPECIAL = re.compile(r"([\\`*\[\]!#|])")  # what could start markup, a link, an image or a heading, or end a cell
LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def md_escape(text: str) -> str:
    """`text` shown literally in Markdown (tables included) and in the HTML it becomes: the one escaping function
    of every Markdown output.

    Line breaks and control characters become a space (a name never starts a line), markup characters get a
    backslash, and `&`, `<`, `>` become HTML entities (no tag, comment or image survives).
    """
    text = LINE_BREAKS.sub(" ", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return MD_SPECIAL.sub(r"\\\1", text)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, every cell escaped with `md_escape`."""
    lines = ["| " + " | ".join(map(md_escape, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(md_escape, row)) + " |" for row in rows]
    return "\n".join(lines)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
