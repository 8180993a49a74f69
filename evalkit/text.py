"""Text for people: plain-text tables, name suggestions, Markdown escaping, spreadsheet-safe CSV, and text safe
for a terminal."""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Iterable, Mapping, Sequence


def text_table(rows: Sequence[Sequence[str]], right: Sequence[int] = (), rule: bool = False) -> str:
    """Columns padded to their widest cell, `right` ones right-aligned, a trailing left column unpadded.

    The first row is the header; `rule` draws a line under it. Cells are `printable`.
    """
    rows = [[printable(text) for text in row] for row in rows]
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


# Control characters (line breaks among them), and the bidirectional marks and overrides that reorder what follows
CONTROL = "[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]"
# What could start markup, a link, an image or a heading, or end a cell; `_` and `~` only where they could open or
# close emphasis or strikethrough (`_` inside a word cannot, and `~` between spaces cannot).
MD_SPECIAL = re.compile(r"[\\`*\[\]!#|]|(?<![^\W_])_|_(?![^\W_])|(?<=\S)~|~(?=\S)")


def md_escape(text: str) -> str:
    """`text` shown literally in Markdown (tables included) and in the HTML it becomes: the one escaping function
    of every Markdown output.

    Line breaks, control characters and bidirectional overrides become a space (a name never starts a line, nor
    reverses what follows it), markup characters get a backslash, and `&`, `<`, `>` become HTML entities (no tag,
    comment or image survives).
    """
    text = re.sub(CONTROL + "+", " ", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return MD_SPECIAL.sub(lambda m: "\\" + m[0], text)


def printable(text: str) -> str:
    """`text` safe to print on a terminal: control characters (ESC, NUL, BEL, line breaks) and bidirectional
    overrides shown as escapes (`\\x1b`), so that a name can neither drive the terminal nor move a line."""
    return re.sub(CONTROL, lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet runs as a formula at the start of a cell


def csv_text(fields: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    """CSV of `rows` (field -> value) under a header of `fields`: the one CSV writer, safe for spreadsheets.

    A text cell that a spreadsheet would run as a formula (`=HYPERLINK(...)`, `+`, `-`, `@`) gets a leading `'`, and
    every text cell is quoted, so that a line break in it (a bare CR too) never ends a row; numbers stay bare.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "'" + v if isinstance(v, str) and v.startswith(FORMULA) else v for k, v in row.items()})
    return out.getvalue()


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, every cell escaped with `md_escape`."""
    lines = ["| " + " | ".join(map(md_escape, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(md_escape, row)) + " |" for row in rows]
    return "\n".join(lines)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
