"""Safe YAML for suites, cards and tolerance files: line-numbered errors, no duplicate keys, located mappings, and
bounded documents (aliases that expand a small file into a huge one, the "billion laughs", are refused)."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

import yaml

from evalkit.errors import UserError
from evalkit.text import suggest

MAX_NODES = 200_000  # scalars, lists and mappings of a document with every alias expanded
MAX_DEPTH = 200  # nesting of lists and mappings


class YamlMap(dict):
    """A YAML mapping that remembers its line and each key's line (1-based) and offset in the parsed text."""

    line: int = 0
    key_lines: dict
    key_offsets: dict
    merge_offsets: list  # offsets of the YAML merge keys (`<<:`), which are no key of the mapping


class _LineLoader(yaml.SafeLoader):
    """PyYAML's safe loader, plus: duplicate keys are an error, and mappings record their lines."""

    first_line = 1  # the file line of the text's first line (a card's front matter starts below `---`)

    def line_of(self, node: yaml.Node) -> int:
        return node.start_mark.line + self.first_line

    def construct_located_map(self, node: yaml.MappingNode):
        data = YamlMap()
        data.line, data.key_lines, data.key_offsets, data.merge_offsets = self.line_of(node), {}, {}, []
        yield data
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                data.merge_offsets.append(key_node.start_mark.index)
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # construct_mapping reports it
            if key in data.key_lines:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {data.key_lines[key]})", key_node.start_mark
                )
            data.key_lines[key], data.key_offsets[key] = self.line_of(key_node), key_node.start_mark.index
        data.update(self.construct_mapping(node))

    def get_single_data(self):
        """The document, once its size with every alias expanded and its nesting are known to be bounded."""
        node = self.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return self.construct_document(node)


def _check_size(root: yaml.Node) -> None:
    """Refuse a document of more than MAX_NODES nodes once aliases are expanded, or nested deeper than MAX_DEPTH.

    An alias is the same node object as its anchor, so each node's expanded size is counted once (memoized).
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if depth > MAX_DEPTH:
            raise _bounded_error(node, f"nested more than {MAX_DEPTH} levels deep")
        children = _children(node)
        if children_done:
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_NODES + 1)
            if sizes[id(node)] > MAX_NODES:
                raise _bounded_error(node, f"more than {MAX_NODES} values once its aliases are expanded")
        else:
            stack.append((node, depth, True))
            stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _bounded_error(node: yaml.Node, problem: str) -> yaml.MarkedYAMLError:
    return yaml.MarkedYAMLError(problem=f"the document is {problem}", problem_mark=node.start_mark)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_located_map)


def load_yaml(text: str, path: Path, first_line: int = 1, what: str = "not valid YAML") -> object:
    """Safely parse YAML; a syntax error, a duplicate key or a bad character is a `UserError` naming `path:line`."""
    try:
        loader = _LineLoader(text)
        loader.first_line = first_line
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + first_line
        raise UserError(f"{path}:{line}: {what} (character {exc.character:#x} is not allowed)") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + first_line}" if mark else ""
        raise UserError(f"{path}{where}: {what} ({getattr(exc, 'problem', None) or exc})") from exc
    except RecursionError as exc:
        raise UserError(f"{path}: {what} (nested too deeply)") from exc


def located(path: Path, value: object, key: object = None) -> str:
    """`path:line` of a YAML mapping (of its `key`, when given and present); just `path` for other values."""
    if not isinstance(value, YamlMap):
        return str(path)
    return f"{path}:{value.key_lines.get(key, value.line) if isinstance(key, Hashable) else value.line}"


def check_keys(path: Path, mapping: dict, allowed: tuple[str, ...], label: str) -> None:
    """A key outside `allowed` is a `UserError` naming it and its line, with the closest allowed names."""
    for key in mapping:
        if key not in allowed:
            raise UserError(
                f"{located(path, mapping, key)}: {label}unknown key {key!r}{suggest(str(key), allowed)} "
                f"(allowed: {', '.join(allowed)})"
            )


def text_field(path: Path, mapping: dict, key: str, label: str, default: str | None = None) -> str:
    """A name-like field (numbers taken as written), else `default`; a missing or non-scalar one is a `UserError`."""
    value = mapping.get(key)
    if value in (None, "") and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        shown = "missing" if value is None or value == "" else f"a {type(value).__name__}, not a name"
        raise UserError(f"{located(path, mapping, key)}: {label}`{key}` is {shown}")
    return str(value)
