"""Bounded, line-aware YAML reading: a file's bytes become plain documents, or Problems naming the file.

Rule files are written by people and by scripts, so they are input like any other: a file is
refused before it can cost much, with one problem that names it and the fix. Limits (also in
docs/rules.md): size, nesting depth, the size a document expands to through aliases (the
"billion laughs"), and the length of one scalar. Encoding is UTF-8; a BOM of another encoding,
NUL bytes or undecodable bytes are reported with their line. libyaml parses when available.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Problem

MAX_FILE_BYTES = 2 * 1024 * 1024  # a 500-rule manifest is about 120 KB
MAX_DEPTH = 32  # a suite nests 4 levels deep; params a few more
MAX_NODES = 200_000  # YAML nodes after expanding aliases
MAX_SCALAR_CHARS = 100_000  # any one value; descriptions have their own, smaller limit

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)
_SAVE_AS_UTF8 = "save the file as UTF-8 (most editors: File > Save with encoding > UTF-8)"


class LineMap(dict):  # type: ignore[type-arg]
    """A mapping that remembers the line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list):  # type: ignore[type-arg]
    """A list that remembers the line of itself and of each item."""

    line: int = 0
    item_lines: list[int]


class _Loader(_Base):  # type: ignore[misc, valid-type]
    duplicate_keys: list[tuple[str, int]]


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineMap:
    loader.flatten_mapping(node)
    mapping = LineMap()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise _Refused(line, f"a mapping key must be a plain value, got {type(key).__name__}",
                           "write keys as plain words, e.g. `name:`")
        if key in mapping:
            loader.duplicate_keys.append((str(key), line))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[str(key)] = line
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    items = LineList(loader.construct_object(child, deep=True) for child in node.value)
    items.line = node.start_mark.line + 1
    items.item_lines = [child.start_mark.line + 1 for child in node.value]
    return items


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)

# What the limits' messages call the file, and how to get under them, per kind of file.
_KINDS = {
    "manifest": ("a manifest", "split it into one file per suite (table)",
                 "a manifest is a suite with a list of flat rules; flatten the structure"),
    "config": ("a config file", "a config file is a page of YAML: check that this is the file you meant",
               "flatten the structure (see the comments in the shipped file)"),
}


@dataclass
class _Refused(Exception):
    line: int | None
    message: str
    hint: str


def read_documents(path: Path, problems: list[Problem], *, kind: str = "manifest", max_bytes: int | None = None) -> list[Any]:
    """The non-empty YAML documents of `path` (mappings are LineMaps, lists LineLists); problems appended
    instead of raising. `kind` ("manifest" or "config") words the limits' messages."""
    try:
        text = _text(path, kind, max_bytes or MAX_FILE_BYTES)
        _scan(text, kind)
        documents = _construct(text, str(path), problems)
    except _Refused as refused:
        problems.append(Problem(str(path), refused.line, refused.message, refused.hint))
        return []
    except yaml.YAMLError as exc:
        mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
        what = str(getattr(exc, "problem", None) or _first_line(exc))
        context = getattr(exc, "context", None)
        if context and context_mark is not None:  # what the parser was reading, and where it started
            what += f"; {context} that starts at line {context_mark.line + 1}"
        problems.append(Problem(str(path), mark.line + 1 if mark else None, f"not valid YAML ({what})",
                                "fix the YAML syntax (indentation, quotes, colons)"))
        return []
    return [d for d in documents if d is not None]


def _text(path: Path, kind: str, max_bytes: int) -> str:
    what, too_big, _ = _KINDS[kind]
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _Refused(None, f"is {size / 1024 / 1024:.1f} MB, more than the {max_bytes / 1024 / 1024:g} MB "
                                 f"{what} may have", too_big)
        raw = path.read_bytes()
    except OSError as exc:
        raise _Refused(None, f"cannot be read ({exc.strerror})", "check the path and its permissions") from None
    for bom, name in _FOREIGN_BOMS:
        if raw.startswith(bom):
            raise _Refused(1, f"is encoded as {name}, not UTF-8", _SAVE_AS_UTF8)
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise _Refused(line, "holds NUL bytes: it is a binary file, not YAML",
                       "give the manifest's .yaml file; a binary file cannot hold rules")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _Refused(line, f"is not UTF-8 (byte 0x{raw[exc.start]:02x} cannot be decoded; Latin-1 or Windows-1252?)",
                       _SAVE_AS_UTF8) from None


def _scan(text: str, kind: str) -> None:
    """Refuse deep nesting and huge scalars from the event stream, before anything recursive runs."""
    depth = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(_line_of(event), f"nests deeper than {MAX_DEPTH} levels", _KINDS[kind][2])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR_CHARS:
            raise _Refused(_line_of(event),
                           f"holds a value of {len(event.value):,} characters (limit {MAX_SCALAR_CHARS:,})",
                           "keep long text in docs and link to it")


def _construct(text: str, file: str, problems: list[Problem]) -> list[Any]:
    loader = _Loader(text)
    loader.duplicate_keys = []
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            _check_expansion(node)
            documents.append(loader.construct_document(node))
    finally:
        loader.dispose()
    for key, line in loader.duplicate_keys:
        problems.append(Problem(file, line, f"key {key!r} appears twice in one mapping", "keep one of them", key=key))
    return documents


def _check_expansion(root: yaml.Node) -> None:
    """Count the nodes `root` stands for once aliases are expanded, without expanding them."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done or not children:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(node)] > MAX_NODES:
                raise _Refused(node.start_mark.line + 1,
                               f"expands to more than {MAX_NODES:,} values through YAML aliases (*name)",
                               "use anchors and aliases sparingly; repeat the few shared keys instead")
            continue
        if any(id(c) in open_nodes for c in children) or id(node) in open_nodes:
            raise _Refused(node.start_mark.line + 1, "holds an alias that refers to itself (a recursive structure)",
                           "an alias (*name) must point at a finished anchor (&name) outside itself")
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _line_of(event: yaml.Event) -> int | None:
    return event.start_mark.line + 1 if event.start_mark is not None else None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
