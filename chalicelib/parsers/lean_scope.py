"""Lean's scopes while reading a file top to bottom: namespaces, sections, `mutual`, opens,
section variables. Pure state, driven by `chalicelib.parsers.lean`.

- `namespace A.B` pushes one frame per component (as Lean does), so `end A.B` pops two and
  `end B` then `end A` works too. A stray `end` with nothing open is ignored; an `end` whose
  name does not match still pops as many frames as its name has components.
- `open X` inside namespaces `A.B` opens the candidates `A.B.X`, `A.X`, `X` (Lean resolves a
  namespace name relative to the current namespaces; only existing ones matter, and the
  resolver filters by declared names anyway). Opens end with their frame.
- Scopes for a name used at some point: the namespaces innermost to outermost, then the opens
  (the `open ... in` ones of this command first, then the innermost frame's, most recent
  first), then "" (the root), without repeats.

Bounds keep hostile files linear: frames nest at most `MAX_DEPTH` deep (deeper ones are only
counted, so their `end`s still match), a frame keeps its `MAX_OPENS` latest opens and scopes
hold at most `MAX_OPENS` opened namespaces. The scopes and bound names in effect are cached
until the state changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field

MAX_DEPTH = 100
MAX_OPENS = 64


@dataclass
class _Frame:
    kind: str
    namespace: str
    namespaces: tuple[str, ...]  # this frame's namespaces, innermost first, no root
    opens: dict[tuple[str, ...], None] = field(default_factory=dict)  # an ordered set
    bound: set[str] = field(default_factory=set)


def join(prefix: str, name: str) -> str:
    """`prefix.name`, or `name` at the root."""
    return f"{prefix}.{name}" if prefix else name


class ScopeState:
    def __init__(self) -> None:
        self._frames = [_Frame("file", "", ())]
        self._overflow = 0
        self._scopes: tuple[str, ...] | None = None
        self._opens: list[str] | None = None
        self._bound: set[str] | None = None

    @property
    def namespace(self) -> str:
        return self._frames[-1].namespace

    def _changed(self) -> None:
        self._scopes, self._opens, self._bound = None, None, None

    def _push(self, kind: str, namespace: str) -> None:
        if len(self._frames) >= MAX_DEPTH:
            self._overflow += 1
            return
        outer = self._frames[-1]
        names = outer.namespaces
        if namespace != outer.namespace:
            names = (namespace, *names)
        self._frames.append(_Frame(kind, namespace, names))
        self._changed()

    def enter_namespace(self, name: str) -> None:
        for part in name.split("."):
            self._push("namespace", join(self.namespace, part))

    def enter(self, kind: str) -> None:
        """A `section` (named or not) or a `mutual` block: same namespace, own opens."""
        self._push(kind, self.namespace)

    def end(self, name: str | None) -> None:
        for _ in range(name.count(".") + 1 if name else 1):
            if self._overflow:
                self._overflow -= 1
            elif len(self._frames) > 1:
                self._frames.pop()
        self._changed()

    def open(self, names: Iterable[str]) -> None:
        frame = self._frames[-1]
        for name in names:
            candidates = tuple(self.open_candidates(name))
            frame.opens.pop(candidates, None)
            frame.opens[candidates] = None
            if len(frame.opens) > MAX_OPENS:
                del frame.opens[next(iter(frame.opens))]
        self._scopes, self._opens = None, None

    def open_candidates(self, name: str) -> list[str]:
        return [join(ns, name) for ns in self.namespaces()] + [name]

    def bind(self, names: Iterable[str]) -> None:
        added = set(names)
        self._frames[-1].bound.update(added)
        if self._bound is not None:
            self._bound.update(added)

    def bound(self) -> Set[str]:
        """Section variables and universes in effect (read-only for the caller)."""
        if self._bound is None:
            self._bound = set().union(*(frame.bound for frame in self._frames))
        return self._bound

    def namespaces(self) -> tuple[str, ...]:
        """The enclosing namespaces, innermost first, without the root."""
        return self._frames[-1].namespaces

    def _opened(self) -> list[str]:
        """The first `MAX_OPENS` opened namespaces, innermost frame and latest open first."""
        if self._opens is None:
            frames = reversed(self._frames)
            groups = (group for frame in frames for group in reversed(frame.opens))
            names = dict.fromkeys(name for group in groups for name in group if name)
            self._opens = list(names)[:MAX_OPENS]
        return self._opens

    def scopes(self, own: str | None, once: Sequence[str]) -> tuple[str, ...]:
        """Resolution prefixes for a name used in a command: `own` is the namespace a dotted
        declaration name adds (`def Foo.bar` reads its body inside `Foo`), `once` the opens of
        an `open ... in` prefix."""
        if own is None and not once:
            if self._scopes is None:
                self._scopes = self._build(None, once)
            return self._scopes
        return self._build(own, once)

    def _build(self, own: str | None, once: Sequence[str]) -> tuple[str, ...]:
        namespaces = [own] if own else []
        namespaces += self.namespaces()
        opens = [name for name in dict.fromkeys([*once, *self._opened()]) if name]
        names = dict.fromkeys([*namespaces, *opens[:MAX_OPENS], ""])
        return tuple(names)
