"""References from tree-sitter captures: imports as written and calls by callee. Pure.

- `import`: the captured node's text without quotes or angle brackets (`"fmt"` -> `fmt`,
  `<stdio.h>` -> `stdio.h`, `'./util'` -> `./util`).
- `import.python`: `from M import a, b as c` -> `M.a`, `M.b`; `from . import x` -> `.x`;
  `from M import *` -> `M`.
- `import.rust`: a use tree expanded: `use std::io::{self, Read as R}` -> `std::io`,
  `std::io::Read`.
- `import.java`: `import static java.lang.Math.max;` -> `java.lang.Math.max`.
- `import.scala`: `import a.b.{C, D => E}, f.g._` -> `a.b.C`, `a.b.D`, `f.g._`.
- `import.shell`: the file `source`d, after quote removal (`"$DIR/lib.sh"` -> `$DIR/lib.sh`).
- `import.php`: `use A\\B\\{C, D as E};` -> `A\\B\\C`, `A\\B\\D` (also `use function`).
- `call`: the callee node; `callsite`: the call node, whose callee is the text before its
  `arguments`; `callsite.method`: the call node, whose callee is its text up to the end of its
  `method` field, a Ruby `?`/`!` suffix kept (`entries.create!(x) do ... end` ->
  `entries.create!`). The callee is kept as written, without whitespace and type arguments,
  when it is a plain path of identifiers joined by `.`, `::`, `->` or `?.` (`self.store.get`,
  `std::sort`, `obj->run`); otherwise its last identifier (`get_client().send` -> `send`), or
  nothing when it does not end in one (`make()()`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from tree_sitter import Node

from chalicelib.domain.models import Reference
from chalicelib.parsers.ts_languages import strip_type_arguments, text_of

MAX_CALLEE_BYTES = 200

_IDENTIFIER = r"(?:[^\W\d]|\$)[\w$]*"
_SIMPLE_CALLEE = re.compile(rf"{_IDENTIFIER}(?:(?:\.|::|->|\?\.)~?{_IDENTIFIER})*")
_LAST_IDENTIFIER = re.compile(rf"{_IDENTIFIER}$")
_NOT_NAME = re.compile(r"[^\w$]")
_JAVA_IMPORT = re.compile(r"^import\s+(?:static\s+)?|;$")

Found = tuple[int, int, str, str]  # byte offset, line, kind, name


class Scope(Protocol):
    """A definition as seen by `attach_sources`: its byte range and qualified name."""

    @property
    def start_byte(self) -> int: ...

    @property
    def end_byte(self) -> int: ...

    @property
    def qualified(self) -> str: ...


def _line(node: Node) -> int:
    return node.start_point.row + 1


def _compact(text: str) -> str:
    return "".join(text.split())


def _plain(node: Node) -> list[tuple[str, Node]]:
    return [(_compact(text_of(node)).strip("\"'`<>"), node)]


def _python_from(node: Node) -> list[tuple[str, Node]]:
    module = _compact(text_of(node.child_by_field_name("module_name")))
    names = node.children_by_field_name("name")
    if not names:
        return [(module, node)]
    found = []
    for name in names:
        target = name.child_by_field_name("name") if name.type == "aliased_import" else name
        text = text_of(target)
        found.append((module + text if module.endswith(".") else f"{module}.{text}", name))
    return found


def _rust_use(node: Node, prefix: str = "") -> list[tuple[str, Node]]:
    def join(path: str) -> str:
        path = _compact(path)
        return f"{prefix}::{path}" if prefix and path else prefix or path

    kind = node.type
    if kind == "scoped_use_list":
        base = join(text_of(node.child_by_field_name("path")))
        items = node.child_by_field_name("list")
        if items is None:
            return [(base, node)]
        return [found for item in items.named_children for found in _rust_use(item, base)]
    if kind == "use_list":
        return [found for item in node.named_children for found in _rust_use(item, prefix)]
    if kind == "use_as_clause":
        return [(join(text_of(node.child_by_field_name("path"))), node)]
    if kind == "self":
        return [(prefix, node)]
    return [(join(text_of(node)), node)]


def _java(node: Node) -> list[tuple[str, Node]]:
    return [(_compact(_JAVA_IMPORT.sub("", text_of(node).strip())), node)]


def _scala_import(node: Node) -> list[tuple[str, Node]]:
    """One name per imported path or selector (see the module docstring)."""
    found: list[tuple[str, Node]] = []
    path: list[str] = []
    for index, child in enumerate(node.children):
        if node.field_name_for_child(index) == "path":
            if child.is_named:
                path.append(text_of(child))
        elif child.type in ("namespace_selectors", "namespace_wildcard"):
            items = child.named_children if child.type == "namespace_selectors" else [child]
            for item in items:
                name = item.child_by_field_name("name") or item
                found.append((".".join([*path, text_of(name)]), item))
            path = []
        elif child.type == "," and path:
            found.append((".".join(path), node))
            path = []
    if path:
        found.append((".".join(path), node))
    return found


def _shell_source(node: Node) -> list[tuple[str, Node]]:
    return [(text_of(node).replace('"', "").replace("'", ""), node)]


def _php_use(node: Node) -> list[tuple[str, Node]]:
    group = node.child_by_field_name("body")
    prefix = ""
    if group is not None:  # `use A\B\{C, D as E}`
        base = next((c for c in node.named_children if c.type == "namespace_name"), None)
        prefix = _compact(text_of(base)).strip("\\") + "\\"
    found = []
    for clause in (group or node).named_children:
        target = clause.named_child(0) if clause.type == "namespace_use_clause" else None
        if target is not None and target.type in ("name", "qualified_name"):
            found.append((prefix + _compact(text_of(target)).lstrip("\\"), clause))
    return found


IMPORT_READERS: dict[str, Callable[[Node], list[tuple[str, Node]]]] = {
    "import": _plain,
    "import.python": _python_from,
    "import.rust": _rust_use,
    "import.java": _java,
    "import.scala": _scala_import,
    "import.shell": _shell_source,
    "import.php": _php_use,
}


def callee(data: bytes, start: int, end: int) -> str | None:
    """The callee written in data[start:end], as the module docstring describes."""
    short = end - start <= MAX_CALLEE_BYTES
    raw = data[start:end] if short else data[end - MAX_CALLEE_BYTES : end]
    text = raw.decode("utf-8", "replace")
    if short and _SIMPLE_CALLEE.fullmatch(text):  # the common case: nothing to clean up
        return text
    text = strip_type_arguments(_compact(text), brackets=False)
    if short and _SIMPLE_CALLEE.fullmatch(text):
        return text
    # Searched in the trailing run of name characters only: searching the whole text would
    # try every position of it, each up to the end of its run.
    match = _LAST_IDENTIFIER.search(_NOT_NAME.split(text)[-1])
    return match.group(0) if match else None


def find_references(captures: dict[str, list[Node]], data: bytes) -> list[Found]:
    """Imports and calls among the captures, in source order."""
    found: list[Found] = []
    for capture, read in IMPORT_READERS.items():
        for node in captures.get(capture, ()):
            found.extend((n.start_byte, _line(n), "import", name) for name, n in read(node) if name)
    for node in captures.get("call", ()):
        start = node.start_byte
        name = callee(data, start, node.end_byte)
        if name:
            found.append((start, node.start_point.row + 1, "call", name))
    for node in captures.get("callsite", ()):
        start = node.start_byte
        arguments = node.child_by_field_name("arguments")
        name = callee(data, start, arguments.start_byte if arguments is not None else node.end_byte)
        if name:
            found.append((start, node.start_point.row + 1, "call", name))
    for node in captures.get("callsite.method", ()):
        start = node.start_byte
        method = node.child_by_field_name("method")
        end = method.end_byte if method is not None else node.end_byte
        suffix = data[end - 1 : end] if data[end - 1 : end] in (b"?", b"!") else b""
        name = callee(data, start, end - len(suffix))
        if name:
            found.append((start, node.start_point.row + 1, "call", name + suffix.decode()))
    found.sort()
    return found


def attach_sources(found: Iterable[Found], scopes: Sequence[Scope]) -> list[Reference]:
    """References with the innermost of `scopes` (sorted by start, outer first) around them."""
    references: list[Reference] = []
    stack: list[Scope] = []
    index = 0
    for position, line, kind, name in found:
        while index < len(scopes) and scopes[index].start_byte <= position:
            scope = scopes[index]
            while stack and stack[-1].end_byte <= scope.start_byte:
                stack.pop()
            stack.append(scope)
            index += 1
        while stack and stack[-1].end_byte <= position:
            stack.pop()
        source = stack[-1].qualified if stack else None
        references.append(Reference(name, kind, line, source))
    return references
