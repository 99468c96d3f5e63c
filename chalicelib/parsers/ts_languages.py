"""What tree-sitter should find in each language: one `LanguageSpec` per language. Data only.

A spec's query (in `ts_queries`) names what it captures, and the capture name says what the
node is:

- a definition kind (`function`, `method`, `class`, `struct`, `interface`, `enum`, `trait`,
  `type`, `module`, `constant`, `variable`), or `impl` (a Rust impl block, a Swift extension:
  a scope and a chunk but not a symbol), or `package` (a Go/Java/Scala package clause, a Lua
  module table the file returns: a "module" symbol, not a scope);
  a node captured under several kinds keeps the first in `KIND_PRIORITY`;
- `call` (the callee expression), `callsite` (a call whose callee is the text before its
  `arguments`, for Java), `callsite.method` (a Ruby call, whose callee ends at its
  `method`), `import` (the imported path, quotes stripped) or `import.<how>`
  (an import statement that `ts_references.IMPORT_READERS` takes apart);
- names starting with `_` only serve predicates.

A definition's name is read by `names[node.type]` (default: its `name` field) as parts:
`["ns", "Box", "put"]` for C++'s `ns::Box<int>::put`, `["S", "M"]` for Go's `func (s *S) M()`.
`wrappers` are parents whose start a definition's chunk takes when the definition is their
first named child (`decorated_definition`, `export_statement`, `template_declaration`), and
`leading` are siblings (comments, attributes, decorators) attached to the next definition's
chunk when they sit on the lines right above it. `dialect` switches a C file to the C++
grammar when it holds C++, and `conceal` blanks `#ifdef __cplusplus` bodies before parsing
(`source_for` applies both). `top_query` holds the patterns anchored at the root node.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import tree_sitter_bash
import tree_sitter_c
import tree_sitter_c_sharp
import tree_sitter_cpp
import tree_sitter_go
import tree_sitter_java
import tree_sitter_javascript
import tree_sitter_kotlin
import tree_sitter_lua
import tree_sitter_php
import tree_sitter_python
import tree_sitter_ruby
import tree_sitter_rust
import tree_sitter_scala
import tree_sitter_swift
import tree_sitter_typescript
from tree_sitter import Node

from chalicelib.parsers.ts_queries import (
    C_QUERY,
    C_TOP_QUERY,
    CPP_QUERY,
    CSHARP_QUERY,
    ECMASCRIPT_TOP_QUERY,
    GO_QUERY,
    GO_TOP_QUERY,
    JAVA_QUERY,
    JAVASCRIPT_QUERY,
    KOTLIN_QUERY,
    LUA_QUERY,
    PHP_QUERY,
    PYTHON_QUERY,
    PYTHON_TOP_QUERY,
    RUBY_QUERY,
    RUST_QUERY,
    SCALA_QUERY,
    SHELL_QUERY,
    SWIFT_QUERY,
    TYPESCRIPT_QUERY,
)

NameRule = Callable[[Node], list[str] | None]

# When one node is captured under several kinds, the earliest kind here wins.
KIND_PRIORITY = (
    "function", "method", "class", "struct", "interface", "enum", "trait", "impl", "module",
    "type", "package", "constant", "variable",
)  # fmt: skip
CLASS_KINDS = frozenset({"class", "struct", "interface", "enum", "trait", "impl"})
# Kinds whose definitions prefix the qualified names of the definitions inside them.
SCOPE_KINDS = CLASS_KINDS | {"function", "method", "module"}
# Kinds that are chunk boundaries (constants, variables and packages are symbols only).
CHUNK_KINDS = SCOPE_KINDS | {"type"}

_TYPE_ARGUMENTS = re.compile(r"(?:::)?<[^<>]*>")
_TYPE_ARGUMENTS_OR_GO_PARAMETERS = re.compile(r"(?:::)?<[^<>]*>|\[[^\[\]]*\]")
_NAME_SEPARATOR = re.compile(r"::|\.")


def text_of(node: Node | None) -> str:
    """A node's source text ("" for None)."""
    raw = node.text if node is not None else None
    return raw.decode("utf-8", "replace") if raw else ""


def strip_type_arguments(name: str, *, brackets: bool = True) -> str:
    """`ns::Box<std::pair<A, B>>::put` -> `ns::Box::put`; with `brackets` (names of
    definitions, where Go writes type parameters in brackets) also `S[K]` -> `S`."""
    if "<" not in name and not (brackets and "[" in name):
        return name
    pattern = _TYPE_ARGUMENTS_OR_GO_PARAMETERS if brackets else _TYPE_ARGUMENTS
    previous = None
    while previous != name:
        previous, name = name, pattern.sub("", name)
    return name


def split_name(name: str) -> list[str] | None:
    """Parts of a possibly qualified name: `a::b.c` -> [a, b, c]; None when empty."""
    if name.isidentifier():
        return [name]
    name = "".join(strip_type_arguments(name).split()).strip("\"'`")
    parts = [p for p in _NAME_SEPARATOR.split(name) if p]
    return parts or None


def _field(name: str) -> NameRule:
    def rule(node: Node) -> list[str] | None:
        return split_name(text_of(node.child_by_field_name(name)))

    return rule


def _whole(node: Node) -> list[str] | None:
    """A package clause's name as one part: `com.example` stays whole."""
    child = node.named_child(0) if node.named_child_count else None
    name = "".join(text_of(child).split())
    return [name] if name else None


_DECLARATOR_NAMES = frozenset(
    {"identifier", "field_identifier", "type_identifier", "qualified_identifier",
     "destructor_name", "operator_name", "template_function", "primitive_type"}
)  # fmt: skip


def _declarator(node: Node) -> list[str] | None:
    """C/C++: the name at the bottom of a declarator chain (`*(*f)(int)` -> f)."""
    current: Node | None = node
    while current is not None and current.type not in _DECLARATOR_NAMES:
        inner = current.child_by_field_name("declarator")
        if inner is None and current.named_child_count:
            inner = current.named_child(0) if current.type.endswith("declarator") else None
        current = inner
    return split_name(text_of(current)) if current is not None else None


def _go_method(node: Node) -> list[str] | None:
    """`func (s *Stack[T]) Push(...)` -> [Stack, Push]."""
    name = text_of(node.child_by_field_name("name"))
    receiver = node.child_by_field_name("receiver")
    first = receiver.named_child(0) if receiver is not None and receiver.named_child_count else None
    type_name = strip_type_arguments(text_of(first and first.child_by_field_name("type")))
    type_name = type_name.lstrip("*").strip()
    return [type_name, name] if type_name and name else None


def _rust_impl(node: Node) -> list[str] | None:
    return split_name(text_of(node.child_by_field_name("type")))


def _swift_property(node: Node) -> list[str] | None:
    """`let timeout = 30` -> [timeout]; None for a tuple pattern (`let (a, b) = ...`)."""
    pattern = node.child_by_field_name("name")
    return split_name(text_of(pattern and pattern.child_by_field_name("bound_identifier")))


def _lua_function(node: Node) -> list[str] | None:
    """`function M.sub:get()` -> [M, sub, get]."""
    return split_name(text_of(node.child_by_field_name("name")).replace(":", "."))


def _lua_assignment(node: Node) -> list[str] | None:
    """`local f = function` / `M.f = function` / `local M = {}` -> the assigned name."""
    names = node.named_child(0) if node.named_child_count else None
    return split_name(text_of(names and names.child_by_field_name("name")))


def _verbatim(node: Node) -> list[str] | None:
    """A Ruby method's name as written, one part: `save!`, `<=>`, `[]`."""
    name = text_of(node.child_by_field_name("name")).strip()
    return [name] if name else None


def _kotlin_property(node: Node) -> list[str] | None:
    """`val (a, b) = pair` has no one name: None."""
    variable = next((c for c in node.named_children if c.type == "variable_declaration"), None)
    return split_name(text_of(variable.named_child(0))) if variable is not None else None


def _kotlin_constructor(node: Node) -> list[str] | None:
    return ["constructor"]


@dataclass(frozen=True)
class LanguageSpec:
    grammar: Callable[[], object]
    query: str
    names: Mapping[str, NameRule] = field(default_factory=dict)
    wrappers: frozenset[str] = frozenset()
    leading: frozenset[str] = frozenset({"comment"})
    # Another language to parse with when the text shows it (C++ in a `.h` file).
    dialect: tuple[str, Callable[[bytes], bool]] | None = None
    # The bytes to parse, with regions blanked (offsets and lines unchanged).
    conceal: Callable[[bytes], bytes] | None = None
    # Patterns anchored at the root node, matched from the root only (see `ts_queries`).
    top_query: str = ""


# Lines only C++ has: `.h` files are "c" by extension, but many hold C++.
_CPP_MARKERS = re.compile(
    rb"^[ \t]*(?:template\s*<|namespace(?:\s+[\w:]+)?\s*\{|class\s+\w+[^;\n]*$"
    rb"|(?:public|private|protected)\s*:|using\s+namespace\s)",
    re.MULTILINE,
)
# `#ifdef __cplusplus` bodies (`extern "C" {` in one block, its `}` in another) leave braces
# unbalanced for tree-sitter, which then turns the whole file into an error; a C compiler skips
# those bodies too, and C++ loses only the linkage specification.
_CPLUSPLUS_ONLY = re.compile(
    rb"^[ \t]*#[ \t]*if(?:def[ \t]+|[ \t]+defined[ \t]*\(?[ \t]*)__cplusplus\b[^\n]*\n"
    rb"(?P<body>(?:(?![ \t]*#[ \t]*(?:if|el|endif))[^\n]*\n){1,3})(?=[ \t]*#[ \t]*(?:el|endif))",
    re.MULTILINE,
)
_SPACES = bytes(10 if b == 10 else 32 for b in range(256))  # every byte but "\n" to a space
_CPP_WORDS = (b"template", b"namespace", b"class", b"public", b"private", b"protected", b"using")


def _lines_with(data: bytes, word: bytes) -> Iterator[int]:
    """Start offsets of the lines of `data` on which `word` occurs, ascending."""
    position = data.find(word)
    while position != -1:
        yield data.rfind(b"\n", 0, position) + 1
        line_end = data.find(b"\n", position)
        position = data.find(word, line_end) if line_end != -1 else -1


# Both patterns match from the start of a line holding one of a few words, so only those lines
# are tried: a regex search would try every position of the file.
def _holds_cpp(data: bytes) -> bool:
    """Whether `_CPP_MARKERS` matches somewhere in `data`."""
    return any(
        _CPP_MARKERS.match(data, start) for word in _CPP_WORDS for start in _lines_with(data, word)
    )


def _blank_cplusplus_only(data: bytes) -> bytes:
    """`data` with the `body` of each `_CPLUSPLUS_ONLY` match as spaces (newlines kept), as
    `_CPLUSPLUS_ONLY.sub` would."""
    pieces: list[bytes] = []
    done = 0
    for start in _lines_with(data, b"__cplusplus"):
        match = _CPLUSPLUS_ONLY.match(data, start) if start >= done else None
        if match is not None:
            body_start, body_end = match.span("body")
            pieces += (data[done:body_start], data[body_start:body_end].translate(_SPACES))
            done = body_end
    return b"".join(pieces) + data[done:] if pieces else data


def source_for(language: str, data: bytes) -> tuple[str, bytes]:
    """The grammar to parse `data` with (the language's dialect when the text shows one) and
    the bytes to give it (concealed regions blanked)."""
    dialect = SPECS[language].dialect
    if dialect is not None and dialect[1](data):
        language = dialect[0]
    conceal = SPECS[language].conceal
    return language, data if conceal is None else conceal(data)


_C_NAMES: dict[str, NameRule] = {
    "function_definition": _declarator,
    "type_definition": _declarator,
    "declaration": _declarator,
}
_ECMASCRIPT_NAMES: dict[str, NameRule] = {
    "assignment_expression": lambda n: _field("property")(n.child_by_field_name("left") or n),
    "field_definition": _field("property"),
}
_ECMASCRIPT_WRAPPERS = frozenset(
    {"export_statement", "lexical_declaration", "variable_declaration", "expression_statement",
     "ambient_declaration"}
)  # fmt: skip
_TYPESCRIPT_LEADING = frozenset({"comment", "decorator"})


def _typescript(grammar: Callable[[], object]) -> LanguageSpec:
    return LanguageSpec(
        grammar,
        TYPESCRIPT_QUERY,
        _ECMASCRIPT_NAMES,
        _ECMASCRIPT_WRAPPERS,
        _TYPESCRIPT_LEADING,
        top_query=ECMASCRIPT_TOP_QUERY,
    )


SPECS: dict[str, LanguageSpec] = {
    "python": LanguageSpec(
        tree_sitter_python.language,
        PYTHON_QUERY,
        {"assignment": _field("left"), "type_alias_statement": _field("left")},
        frozenset({"decorated_definition"}),
        frozenset({"comment", "decorator"}),
        top_query=PYTHON_TOP_QUERY,
    ),
    "javascript": LanguageSpec(
        tree_sitter_javascript.language,
        JAVASCRIPT_QUERY,
        _ECMASCRIPT_NAMES,
        _ECMASCRIPT_WRAPPERS,
        _TYPESCRIPT_LEADING,
        top_query=ECMASCRIPT_TOP_QUERY,
    ),
    "typescript": _typescript(tree_sitter_typescript.language_typescript),
    "tsx": _typescript(tree_sitter_typescript.language_tsx),
    "go": LanguageSpec(
        tree_sitter_go.language,
        GO_QUERY,
        {"method_declaration": _go_method, "package_clause": _whole},
        frozenset({"type_declaration", "const_declaration", "var_declaration"}),
        top_query=GO_TOP_QUERY,
    ),
    "rust": LanguageSpec(
        tree_sitter_rust.language,
        RUST_QUERY,
        {"impl_item": _rust_impl},
        leading=frozenset({"line_comment", "block_comment", "attribute_item"}),
    ),
    "java": LanguageSpec(
        tree_sitter_java.language,
        JAVA_QUERY,
        {"package_declaration": _whole},
        leading=frozenset({"line_comment", "block_comment"}),
    ),
    "c": LanguageSpec(
        tree_sitter_c.language,
        C_QUERY,
        _C_NAMES,
        dialect=("cpp", _holds_cpp),
        conceal=_blank_cplusplus_only,
        top_query=C_TOP_QUERY,
    ),
    "cpp": LanguageSpec(
        tree_sitter_cpp.language,
        CPP_QUERY,
        _C_NAMES,
        frozenset({"template_declaration", "linkage_specification"}),
        frozenset({"comment", "template_parameter_list"}),
        conceal=_blank_cplusplus_only,
        top_query=C_TOP_QUERY,
    ),
    # Ruby, PHP, C#, Kotlin
    "ruby": LanguageSpec(
        tree_sitter_ruby.language,
        RUBY_QUERY,
        {"assignment": _field("left"), "method": _verbatim, "singleton_method": _verbatim},
    ),
    # PHP with HTML around it (`language_php`), as `.php` files are.
    "php": LanguageSpec(
        tree_sitter_php.language_php,
        PHP_QUERY,
        {"namespace_definition": _whole, "const_element": _whole},
    ),
    "csharp": LanguageSpec(
        tree_sitter_c_sharp.language,
        CSHARP_QUERY,
        {"namespace_declaration": _whole, "file_scoped_namespace_declaration": _whole},
    ),
    "kotlin": LanguageSpec(
        tree_sitter_kotlin.language,
        KOTLIN_QUERY,
        {
            "package_header": _whole,
            "property_declaration": _kotlin_property,
            "secondary_constructor": _kotlin_constructor,
            "type_alias": _field("type"),
        },
        leading=frozenset({"line_comment", "block_comment"}),
    ),
    # Swift, Scala, Lua, Bash
    "swift": LanguageSpec(
        tree_sitter_swift.language,
        SWIFT_QUERY,
        {"property_declaration": _swift_property},
        leading=frozenset({"comment", "multiline_comment"}),
    ),
    "scala": LanguageSpec(
        tree_sitter_scala.language,
        SCALA_QUERY,
        {
            "package_clause": _whole,
            "val_definition": _field("pattern"),
            "var_definition": _field("pattern"),
        },
        leading=frozenset({"comment", "block_comment"}),
    ),
    "lua": LanguageSpec(
        tree_sitter_lua.language,
        LUA_QUERY,
        {"function_declaration": _lua_function, "assignment_statement": _lua_assignment},
        frozenset({"variable_declaration"}),
    ),
    "shell": LanguageSpec(tree_sitter_bash.language, SHELL_QUERY),
}
