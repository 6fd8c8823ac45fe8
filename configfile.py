"""Config files read with line numbers into frozen dataclasses: declared schemas, every problem at once.

A config file's schema is a frozen dataclass whose fields are its keys. The annotation says what
a value must be (`bool`, `int`, `float`, `str`, `tuple[X, ...]` for a list, `Mapping[str, X]` for
freely named entries, another dataclass for a section, `X | None`), the default makes a key
optional, and `key(...)` adds bounds, choices and the example the Hint shows. Adding a key is one
line. A schema may also define `problems(self)` yielding `(key, message, hint)` for rules that
span keys. Every problem is reported at once with file, line, key and fix, in the form manifests
use (engine.errors.Problem). Reading is engine/yamlsource.py's, bounded as for manifests (size,
nesting, alias expansion, scalar length, encoding), with a 1 MB limit per config file.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from engine.errors import Problem
from engine.yamlsource import LineList, LineMap, read_documents

MAX_CONFIG_BYTES = 1 << 20  # a config file is a page of YAML; 1 MB is far beyond any real one

Schema = TypeVar("Schema")


class ConfigFileError(Exception):
    """Problems in one configuration file; str() lists every one with file, line, key and Hint."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.file, p.line or 0)))
        files = sorted({p.file for p in self.problems})
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in {', '.join(files)}:\n{lines}")


# --- YAML with line numbers (engine/yamlsource.py, the manifests' reader) ---------------------


def line_of(value: Any, key: str | int | None = None) -> int | None:
    """The line of a mapping's key or a list's item (or of the value itself), when known."""
    if isinstance(value, LineMap):
        return value.key_lines.get(str(key), value.line) if key is not None else value.line
    if isinstance(value, LineList):
        if isinstance(key, int) and 0 <= key < len(value.item_lines):
            return value.item_lines[key]
        return value.line
    return None


def plain(value: Any) -> Any:
    """Line-annotated YAML back to plain dicts and lists (what the store keeps)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --- declared schemas ----------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """What `key(...)` adds to a field beyond its type and default."""

    example: str | None = None  # a valid line, shown in the Hint: "escalate_after_minutes: 15"
    choices: tuple[str, ...] = ()  # allowed values of the strings inside
    names: tuple[str, ...] = ()  # allowed entry names of a Mapping
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None  # strictly greater than
    pattern: str | None = None  # a regular expression every string inside must match
    pattern_hint: str | None = None
    case: str | None = None  # "upper" or "lower": strings are normalised before the checks
    one_or_many: bool = False  # a single value is read as a one-item list
    min_items: int = 0  # of the list or mapping the field declares
    unique: bool = False  # no value twice in the list
    name: str | None = None  # the YAML key, when it differs from the field name
    echo: bool = True  # False: a wrong value is not repeated in the message (it may be a secret)
    check: Callable[[Any], Iterable[tuple[str, str, str]]] | None = None  # (sub-key, message, hint) per problem


def key(default: Any = MISSING, **spec: Any) -> Any:
    """A field of a schema with bounds and an example (see Key); a dict or list default is frozen."""
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
    metadata = {"key": Key(**values)}
    if default is MISSING:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, dict):
        frozen = MappingProxyType(dict(default))
        return dataclasses.field(default_factory=lambda: frozen, metadata=metadata)
    if isinstance(default, list):
        default = tuple(default)
    if dataclasses.is_dataclass(default):
        instance = default
        return dataclasses.field(default_factory=lambda: instance, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def load(path: Path, schema: type[Schema], *, error: type[ConfigFileError] = ConfigFileError,
         max_bytes: int = MAX_CONFIG_BYTES,
         against: Callable[[Any], Iterable[tuple[str, str, str]]] | None = None) -> Schema:
    """Read one YAML document from `path` into `schema`, or raise `error` listing every problem.

    `against` checks the parsed file against something outside it (another file's names), yielding
    `(key, message, hint)` like a schema's `problems()`."""
    problems: list[Problem] = []
    found = read_documents(path, problems, kind="config", max_bytes=max_bytes)
    if len(found) > 1:
        problems.append(Problem(str(path), None, f"holds {len(found)} YAML documents", "keep one (remove the `---` lines)"))
    result: Any = None
    if not problems:
        reader = _Reader(str(path), problems)
        document = found[0] if found else LineMap()
        result = reader.section(schema, document, "", line_of(document) or 1)
        if against is not None and result is not _BAD:
            result = reader.report("", list(against(result)), result, 1)
    if problems or result is _BAD:
        raise error(problems)
    return typing.cast(Schema, result)


def missing_file(path: Path, hint: str, error: type[ConfigFileError] = ConfigFileError) -> ConfigFileError:
    """The error for a required file that is not there."""
    return error([Problem(str(path), None, "not found", hint)])


class _Bad:
    """A value that could not be read; its problem is already recorded."""


_BAD: Any = _Bad()


class _Reader:
    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self.lines: dict[str, int] = {}

    def add(self, key: str, line: int | None, message: str, hint: str) -> None:
        self.problems.append(Problem(self.file, line, message, hint, key=key or None))

    def section(self, cls: type, value: Any, path: str, line: int | None) -> Any:
        if value is None:
            value = LineMap()
        if not isinstance(value, dict):
            what = f"`{_leaf(path)}:` with `key: value` lines under it" if path else "`key: value` lines"
            self.add(path, line, f"must be a mapping, got {_describe(value)}", f"write {what}")
            return _BAD
        fields = {(_spec(f).name or f.name): f for f in dataclasses.fields(cls) if f.init}
        hints = typing.get_type_hints(cls)
        for name in value:
            if not isinstance(name, str):
                self.add(path, line_of(value, name), f"key {name!r} is not a name", "write keys as plain words")
            elif name not in fields:
                self.add(_join(path, name), line_of(value, name), "unknown key", _allowed(name, list(fields)))
        kwargs: dict[str, Any] = {}
        ok = True
        for name, f in fields.items():
            sub = _join(path, name)
            if name not in value:
                if f.default is MISSING and f.default_factory is MISSING:
                    where = line if path and line else line_of(value) or line
                    self.add(sub, where, "is required", f"add `{_spec(f).example or name + ': ...'}`")
                    ok = False
                continue
            self.lines[sub] = line_of(value, name) or line or 0
            converted = self.value(hints[f.name], value[name], sub, line_of(value, name), _spec(f), top=True)
            field_check = _spec(f).check
            if converted is not _BAD and field_check is not None:
                converted = self.report(sub, list(field_check(converted)), converted, line_of(value, name))
            if converted is _BAD:
                ok = False
            else:
                kwargs[f.name] = converted
        if not ok:
            return _BAD
        try:
            instance = cls(**kwargs)
        except (TypeError, ValueError) as exc:  # a __post_init__ that refuses the combination
            self.add(path, line, str(exc), "see the comments in the file")
            return _BAD
        return self.cross_checks(instance, path, line)

    def cross_checks(self, instance: Any, path: str, line: int | None) -> Any:
        check = getattr(instance, "problems", None)
        if not callable(check):
            return instance
        return self.report(path, list(typing.cast(Iterable[tuple[str, str, str]], check())), instance, line)

    def report(self, path: str, found: list[tuple[str, str, str]], value: Any, line: int | None) -> Any:
        """Record the problems a check found under `path`; the value stands only if there are none."""
        for sub, message, hint in found:
            full = _join(path, sub) if sub else path
            self.add(full, self.lines.get(full) or self._nearest(full) or line, message, hint)
        return _BAD if found else value

    def _nearest(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return None

    def value(self, kind: Any, raw: Any, path: str, line: int | None, spec: Key, top: bool = False) -> Any:
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if origin in (typing.Union, types.UnionType):
            if raw is None and type(None) in args:
                return None
            kind = next(a for a in args if a is not type(None))
            origin, args = typing.get_origin(kind), typing.get_args(kind)
        if dataclasses.is_dataclass(kind):
            return self.section(typing.cast(type, kind), raw, path, line)
        if origin is tuple:
            return self.sequence(args[0], raw, path, line, spec, top)
        if origin in (Mapping, dict, typing.Mapping):
            return self.mapping(args[1], raw, path, line, spec, top)
        return self.scalar(kind, raw, path, line, spec)

    def sequence(self, item: Any, raw: Any, path: str, line: int | None, spec: Key, top: bool) -> Any:
        if raw is None:
            raw = LineList()
        if not isinstance(raw, list):
            if spec.one_or_many and not isinstance(raw, dict):
                raw = [raw]
            else:
                self.add(path, line, f"must be a list, got {_describe(raw)}", f"write `{spec.example or _leaf(path) + ': [a, b]'}`")
                return _BAD
        if top and len(raw) < spec.min_items:
            self.add(path, line, f"must list at least {spec.min_items} value{'s' if spec.min_items != 1 else ''}",
                     f"write e.g. `{spec.example or _leaf(path) + ': [a, b]'}`")
            return _BAD
        values = []
        ok = True
        for index, element in enumerate(raw):
            sub = f"{path}.{index}"
            self.lines[sub] = line_of(raw, index) or line or 0
            scalar = not (dataclasses.is_dataclass(item) or typing.get_origin(item) in (tuple, Mapping, dict))
            converted = self.value(item, element, path if scalar else sub, line_of(raw, index) or line, spec)
            ok = ok and converted is not _BAD
            values.append(converted)
        if not ok:
            return _BAD
        if spec.unique and len(set(map(repr, values))) != len(values):
            twice = sorted({repr(v) for v in values if values.count(v) > 1})
            self.add(path, line, f"lists {', '.join(twice)} more than once", "list each value once")
            return _BAD
        return tuple(values)

    def mapping(self, item: Any, raw: Any, path: str, line: int | None, spec: Key, top: bool) -> Any:
        if raw is None:
            raw = LineMap()
        if not isinstance(raw, dict):
            self.add(path, line, f"must be a mapping, got {_describe(raw)}", f"write `{_leaf(path)}:` with `name: value` lines under it")
            return _BAD
        if top and len(raw) < spec.min_items:
            self.add(path, line, f"must have at least {spec.min_items} entr{'ies' if spec.min_items != 1 else 'y'}",
                     f"write e.g. `{spec.example or _leaf(path) + ': {name: value}'}`")
            return _BAD
        result: dict[str, Any] = {}
        ok = True
        for name, element in raw.items():
            sub = _join(path, str(name))
            entry_line = line_of(raw, name) or line
            self.lines[sub] = entry_line or 0
            if not isinstance(name, str):
                self.add(sub, entry_line, f"{name!r} is not a name", f"quote it: `'{name}':`")
                ok = False
                continue
            if top and spec.names and name not in spec.names:
                self.add(sub, entry_line, "unknown key", _allowed(name, list(spec.names)))
                ok = False
                continue
            inner = dataclasses.replace(spec, names=(), min_items=0) if top else spec
            converted = self.value(item, element, sub, entry_line, inner)
            if converted is _BAD:
                ok = False
            else:
                result[name] = converted
        return MappingProxyType(result) if ok else _BAD

    def scalar(self, kind: Any, raw: Any, path: str, line: int | None, spec: Key) -> Any:
        leaf = _leaf(path)
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            self.add(path, line, f"must be true or false, got {_describe(raw)}", f"write `{leaf}: true` or `{leaf}: false`")
            return _BAD
        if kind in (int, float):
            number_ok = isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw)
            if kind is int and number_ok and not isinstance(raw, int):
                number_ok = False
            bounds = _bounds(spec)
            if number_ok and ((spec.minimum is not None and raw < spec.minimum) or (spec.above is not None and raw <= spec.above)
                              or (spec.maximum is not None and raw > spec.maximum)):
                number_ok = False
            if not number_ok:
                what = "a whole number" if kind is int else "a number"
                self.add(path, line, f"must be {what}{bounds}, got {_describe(raw)}", f"write `{spec.example or leaf + ': ...'}`")
                return _BAD
            return kind(raw)
        if kind is str:
            if not isinstance(raw, str) or not raw.strip():
                self.add(path, line, f"must be a non-empty string, got {_describe(raw)}",
                         f"write `{spec.example or leaf + ': some-text'}`")
                return _BAD
            text = raw.upper() if spec.case == "upper" else raw.lower() if spec.case == "lower" else raw
            if spec.choices and text not in spec.choices:
                self.add(path, line, f"unknown value {raw!r}", _allowed(text, list(spec.choices), "use any of"))
                return _BAD
            if spec.pattern and not re.fullmatch(spec.pattern, text):
                shown = repr(raw) if spec.echo else "the value"
                self.add(path, line, f"{shown} {spec.pattern_hint or 'has the wrong form'}",
                         f"write `{spec.example or leaf + ': ...'}`")
                return _BAD
            return text
        if kind is Any:
            return plain(raw)
        raise TypeError(f"{kind!r} cannot be a config value; use bool, int, float, str, tuple, Mapping or a dataclass")


def _spec(f: dataclasses.Field[Any]) -> Key:
    return typing.cast(Key, f.metadata.get("key", Key()))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _leaf(path: str) -> str:
    parts = [p for p in path.split(".") if not p.isdigit()]
    return parts[-1] if parts else path


def _bounds(spec: Key) -> str:
    if spec.minimum is not None and spec.maximum is not None:
        return f" from {spec.minimum:g} to {spec.maximum:g}"
    if spec.above is not None:
        return f" above {spec.above:g}"
    if spec.minimum is not None:
        return f" >= {spec.minimum:g}"
    return ""


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


def _allowed(given: str, allowed: list[str], lead: str = "allowed keys are") -> str:
    by_folded = {a.lower(): a for a in allowed}
    close = difflib.get_close_matches(given.lower(), list(by_folded), n=1, cutoff=0.75)
    if close:
        return f"did you mean {by_folded[close[0]]}? {lead[0].upper()}{lead[1:]} {', '.join(allowed)}"
    return f"{lead} {', '.join(allowed)}"

