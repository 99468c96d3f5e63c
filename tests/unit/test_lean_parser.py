"""The Lean 4 parser: tokens, scopes, declarations, references, chunks, and the fixture project."""

# Lean source is full of Greek letters and double-struck capitals; they are meant here.
# ruff: noqa: RUF001

from __future__ import annotations

import random
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.graph import CodeGraph, GraphFile
from chalicelib.domain.graph_analysis import blocked_by_incomplete
from chalicelib.domain.models import Chunk, Reference, Symbol
from chalicelib.domain.scoped_names import resolve
from chalicelib.parsers import parse_blob
from chalicelib.parsers.lean import parse_lean
from chalicelib.parsers.lean_lexer import tokenize
from chalicelib.parsers.text import split_lines

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lean"
FILES = ("Fixture/Basic.lean", "Fixture/Algebra/Group.lean", "Main.lean")


def parse(text: str) -> tuple[list[Chunk], list[Symbol], list[Reference]]:
    return parse_lean(textwrap.dedent(text).lstrip("\n"))


def symbols(text: str) -> dict[str, Symbol]:
    return {s.qualified_name: s for s in parse(text)[1]}


def names_used(text: str, source: str | None = None) -> set[tuple[str, str | None]]:
    return {(r.name, r.role) for r in parse(text)[2] if r.source == source and r.kind == "name"}


class TestLexer:
    def test_nested_block_comments_and_doc_kinds(self) -> None:
        tokens = tokenize("/- a /- b -/ c -/ x /-- doc -/ /-! mod -/ -- line\ny")
        assert [(t.kind, t.text) for t in tokens] == [
            ("comment", "/- a /- b -/ c -/"),
            ("ident", "x"),
            ("doc", "/-- doc -/"),
            ("moddoc", "/-! mod -/"),
            ("comment", "-- line"),
            ("ident", "y"),
        ]

    def test_literals_with_escapes(self) -> None:
        tokens = tokenize('"a \\"q\\" -- no" \'c\' \'\\n\' s!"{f "x"} y" 0x1F 2.5')
        assert [t.kind for t in tokens] == ["string", "char", "char", "string", "number", "number"]

    @pytest.mark.parametrize(
        "name",
        ["Nat.succ_le", "h₁'", "get?", "map!", "α", "ℕ.foo", "«weird name».x", "x_1.y₂"],
    )
    def test_identifiers(self, name: str) -> None:
        assert [(t.kind, t.text) for t in tokenize(name)] == [("ident", name)]

    def test_lambda_pi_sigma_are_not_letters(self) -> None:
        assert [t.text for t in tokenize("λx")] == ["λ", "x"]
        assert [t.kind for t in tokenize("Πx")] == ["sym", "ident"]

    def test_multi_line_tokens_keep_line_numbers(self) -> None:
        tokens = tokenize('a "x\ny" b\n/- c\n-/ d')
        assert [(t.text[:1], t.line, t.end_line, t.first) for t in tokens] == [
            ("a", 1, 1, True),
            ('"', 1, 2, False),
            ("b", 2, 2, False),
            ("/", 3, 4, True),
            ("d", 4, 4, False),
        ]

    def test_unterminated_comment_and_string_run_to_the_end(self) -> None:
        assert [t.kind for t in tokenize("a /- b /- c -/ d\n\n")] == ["ident", "comment"]
        last = tokenize('a "b\nc\n\n')[-1]
        assert (last.kind, last.text, last.end_line) == ("string", '"b\nc', 2)


class TestScopes:
    def test_namespaces_nest_and_end_by_component(self) -> None:
        found = symbols("""
            namespace A.B
            def x := 1
            end B
            def y := 1
            end A
            def z := 1
            end
            def w := 1
            """)
        assert list(found) == ["A.B.x", "A.y", "z", "w"]

    def test_scopes_list_namespaces_then_opens_then_root(self) -> None:
        refs = parse("""
            open Outer
            namespace A.B
            open C D in
            theorem t : foo = bar := baz
            end A.B
            """)[2]
        assert {r.scopes for r in refs} == {
            ("A.B", "A", "A.B.C", "A.C", "C", "A.B.D", "A.D", "D", "Outer", "")
        }

    def test_open_forms_open_only_the_namespaces(self) -> None:
        refs = parse("""
            open A (x y)
            open B hiding z
            open C renaming u → v
            open scoped D
            def t := qq
            """)[2]
        assert refs[0].scopes == ("D", "C", "B", "A", "")

    def test_opens_and_variables_end_with_their_section(self) -> None:
        refs = parse("""
            section
            variable (num : Nat)
            open Foo
            def inside := used num
            end
            def outside := used num
            """)[2]
        by_source = defaultdict(set)
        for r in refs:
            by_source[r.source].add((r.name, r.scopes))
        assert by_source["inside"] == {("used", ("Foo", ""))}
        assert by_source["outside"] == {("used", ("",)), ("num", ("",))}

    def test_dotted_declaration_name_adds_its_namespace(self) -> None:
        refs = parse("""
            namespace A
            def Nat.double (k : Nat) := k + k
            end A
            """)[2]
        assert {r.scopes for r in refs} == {("A.Nat", "A", "")}

    def test_module_commands_are_not_declarations(self) -> None:
        chunks, syms, refs = parse("""
            import Mathlib.Data.Nat
            universe u
            set_option autoImplicit false
            attribute [simp] foo
            export Bar (baz)
            #check @foo
            #eval main
            """)
        assert syms == []
        assert [c.kind for c in chunks] == ["module"]
        assert [(r.name, r.kind) for r in refs] == [
            ("Mathlib.Data.Nat", "import"),
            ("foo", "name"),
            ("foo", "name"),
            ("main", "name"),
        ]


DECLARATIONS = [
    ("theorem t : True := trivial", "t", "theorem"),
    ("lemma l : True := trivial", "l", "lemma"),
    ("def d : Nat := 1", "d", "def"),
    ("abbrev Ab := Nat", "Ab", "abbrev"),
    ("instance named : Inhabited Nat := ⟨0⟩", "named", "instance"),
    (
        "instance (priority := 100) : Inhabited (List Nat) := ⟨[]⟩",
        "instInhabitedListNat",
        "instance",
    ),
    ("structure S where", "S", "structure"),
    ("class C (α : Type) where", "C", "class"),
    ("class inductive D | a", "D", "class"),
    ("inductive I | a", "I", "inductive"),
    ("axiom ax : False", "ax", "axiom"),
    ("opaque op : Nat", "op", "opaque"),
    ("example : True := trivial", "example@2", "example"),
    ("private def p := 1", "p", "def"),
    ("protected theorem pr : True := trivial", "pr", "theorem"),
    ("noncomputable def nc := 1", "nc", "def"),
    ("partial def pa : Nat := pa", "pa", "def"),
    ("unsafe def us := 1", "us", "def"),
    ("@[simp, reducible] def at1 := 1", "at1", "def"),
    ("def _root_.rooted := 1", "rooted", "def"),
]


class TestDeclarations:
    @pytest.mark.parametrize(("line", "name", "kind"), DECLARATIONS)
    def test_kinds_modifiers_and_names(self, line: str, name: str, kind: str) -> None:
        found = symbols(f"namespace N\n{line}\nend N\n")
        qualified = name if name == "rooted" else f"N.{name}"
        assert (found[qualified].kind, found[qualified].start_line) == (kind, 2)

    def test_names_of_rooted_dotted_and_anonymous_declarations(self) -> None:
        syms = parse("""
            namespace N
            def _root_.R.x := 1
            theorem Nat.y : True := trivial
            example : True := trivial
            end N
            """)[1]
        assert [(s.name, s.qualified_name) for s in syms] == [
            ("R.x", "R.x"),
            ("Nat.y", "N.Nat.y"),
            ("example@4", "N.example@4"),
        ]

    def test_anonymous_instances_are_numbered_when_repeated(self) -> None:
        found = symbols("""
            instance : Add Point := ⟨Point.add⟩
            instance : Add Point := ⟨Point.add⟩
            instance {α} [Add α] : Add (Pair α) := ⟨sorry⟩
            """)
        assert list(found) == ["instAddPoint", "instAddPoint_1", "instAddPair"]

    def test_span_starts_at_docstring_and_attributes(self) -> None:
        found = symbols("""
            /-- Doc
              more. -/
            @[simp]
            private theorem t (n : Nat) :
                n = n := by
              rfl

            -- a trailing comment is a module line
            """)
        t = found["t"]
        assert (t.start_line, t.end_line, t.statement, t.body) == (1, 6, (4, 5), (5, 6))

    def test_open_in_prefix_belongs_to_the_declaration(self) -> None:
        found = symbols("""
            open Nat in
            set_option maxHeartbeats 0 in
            theorem t : x = x := rfl
            """)
        assert (found["t"].start_line, found["t"].statement) == (1, (3, 3))

    def test_statement_and_body_split_at_the_first_bracket_free_separator(self) -> None:
        found = symbols("""
            def f (x : Nat := 1) : Nat :=
              x
            def g : Nat → Nat
              | 0 => 1
              | n + 1 => n
            instance : Inhabited Nat where
              default := 0
            axiom a : ∀ x : Nat,
              x = x
            theorem abs_pos : 0 ≤ |y| := sorry
            """)
        spans = {k: (s.statement, s.body) for k, s in found.items()}
        assert spans == {
            "f": ((1, 1), (2, 2)),
            "g": ((3, 3), (4, 5)),
            "instInhabitedNat": ((6, 6), (7, 7)),
            "a": ((8, 9), None),
            "abs_pos": ((10, 10), (10, 10)),
        }

    def test_structure_fields_and_constructor(self) -> None:
        found = symbols("""
            structure S (α : Type) extends Base α where
              mk' ::
              /-- the value -/
              val : α
              (lo hi : Nat)
              f (x : Nat) : Nat := x
              base := 3
              deriving Repr
            """)
        members = [(s.qualified_name, s.kind, s.start_line, s.end_line) for s in found.values()]
        assert members[1:] == [
            ("S.mk'", "constructor", 2, 2),
            ("S.val", "field", 3, 4),
            ("S.lo", "field", 5, 5),
            ("S.hi", "field", 5, 5),
            ("S.f", "field", 6, 6),
        ]
        assert all(s.container == "S" for s in list(found.values())[1:])

    def test_inductive_constructors(self) -> None:
        found = symbols("""
            inductive Tree (α : Type) : Type where
              | leaf : Tree α
              | node (left : Tree α) (value : α)
                  (right : Tree α) : Tree α
              deriving Repr
            inductive Color | red | green
            """)
        members = [(q, s.start_line, s.end_line) for q, s in found.items() if s.container]
        assert members == [
            ("Tree.leaf", 2, 2),
            ("Tree.node", 3, 4),
            ("Color.red", 6, 6),
            ("Color.green", 6, 6),
        ]

    def test_mutual_blocks_hold_indented_declarations(self) -> None:
        chunks, syms, _ = parse("""
            mutual
              def even : Nat → Bool
                | 0 => true
                | n + 1 => odd n
              def odd : Nat → Bool
                | 0 => false
                | n + 1 => even n
            end
            def after := even 2
            """)
        assert [(s.qualified_name, s.start_line, s.end_line) for s in syms] == [
            ("even", 2, 4),
            ("odd", 5, 7),
            ("after", 9, 9),
        ]
        assert [(c.start_line, c.kind) for c in chunks] == [
            (1, "module"),
            (2, "def"),
            (5, "def"),
            (8, "module"),
            (9, "def"),
        ]

    def test_fake_declarations_in_comments_and_strings_produce_nothing(self) -> None:
        _, syms, refs = parse("""
            /- theorem fake : 1 = 2 := sorry
               /- nested -/ def also_fake := 0 -/
            -- theorem line_fake := sorry
            def real := "theorem in_string := sorry"
            """)
        assert [s.qualified_name for s in syms] == ["real"]
        assert not syms[0].incomplete
        assert refs == []

    @pytest.mark.parametrize("marker", ["sorry", "admit", "(by sorry)"])
    def test_sorry_and_admit_mark_a_declaration_incomplete(self, marker: str) -> None:
        found = symbols(f"theorem t : P := by\n  {marker}\ntheorem u : P := v\n")
        assert (found["t"].incomplete, found["u"].incomplete) == (True, False)


class TestReferences:
    def test_binders_locals_and_keywords_are_skipped(self) -> None:
        used = names_used(
            """
            theorem t {β : Type} (xs : List β) [inst : Monoid β] [Group β] (hyp : P xs) :
                ∀ elem ∈ xs, foo elem hyp = (fun (w : Nat) => bar w) 0 := by
              intro elem helem
              obtain ⟨wit, hwit⟩ := baz helem
              have key : Q wit := qux wit hwit
              exact key.trans (Lemma.x hyp) |>.symm
            """,
            "t",
        )
        assert used == {
            ("List", "statement"),
            ("Monoid", "statement"),
            ("Group", "statement"),
            ("foo", "statement"),
            ("Nat", "statement"),
            ("bar", "statement"),
            ("baz", "proof"),
            ("qux", "proof"),
            ("Lemma.x", "proof"),
        }

    def test_match_arms_bind_their_variables(self) -> None:
        used = names_used(
            """
            def f : Option Nat → List Nat → Nat
              | some val, head :: tail => val + head + go tail
              | none, _ => k
            """,
            "f",
        )
        assert used == {
            ("Option", "statement"),
            ("Nat", "statement"),
            ("List", "statement"),
            ("some", "proof"),
            ("go", "proof"),
        }

    def test_tactic_names_are_uses_only_outside_tactic_position(self) -> None:
        used = names_used("theorem t : swap = x := by\n  simp [swap]\n  exact swap\n", "t")
        assert used == {("swap", "statement"), ("swap", "proof")}

    def test_field_assignments_and_where_entries_are_not_uses(self) -> None:
        used = names_used(
            """
            instance : Add Point where
              add p q := Point.add p q
            def mk := { x := one, y := two : Point }
            """,
            None,
        )
        assert used == set()
        refs = parse("def mk := { x := one, y := two : Point }")[2]
        assert {r.name for r in refs} == {"one", "two", "Point"}

    def test_one_reference_per_name_and_role_at_its_first_line(self) -> None:
        refs = parse("theorem t : foo = foo :=\n  foo.trans foo\n")[2]
        assert [(r.name, r.line, r.role) for r in refs] == [
            ("foo", 1, "statement"),
            ("foo.trans", 2, "proof"),
            ("foo", 2, "proof"),
        ]


class TestResolve:
    DECLARED = frozenset({"A.B.x", "A.y", "Open.z", "w", "Lemma"})

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("x", "A.B.x"),
            ("y", "A.y"),
            ("B.x", "A.B.x"),
            ("z", "Open.z"),
            ("w", "w"),
            ("_root_.w", "w"),
            ("_root_.y", None),
            ("Lemma.symm", "Lemma"),
            ("Nat.succ", None),
            ("example@3", None),
        ],
    )
    def test_first_declared_scope_wins(self, name: str, expected: str | None) -> None:
        assert resolve(name, ("A.B", "A", "Open", ""), self.DECLARED) == expected


Parsed = dict[str, tuple[list[Chunk], list[Symbol], list[Reference]]]
Edge = tuple[str, str, str | None]


def fixture_project() -> Parsed:
    return {path: parse_lean((FIXTURES / path).read_text()) for path in FILES}


def resolved_edges(project: Parsed) -> tuple[set[Edge], set[str]]:
    """(source, target, role) for every reference that resolves, and the external names."""
    declared = {s.qualified_name for _, syms, _ in project.values() for s in syms}
    edges: set[Edge] = set()
    external: set[str] = set()
    for _, _, refs in project.values():
        for r in refs:
            if r.kind != "name" or r.source is None:
                continue
            target = resolve(r.name, r.scopes, declared)
            if target is None:
                external.add(r.name)
            else:
                edges.add((r.source, target, r.role))
    return edges, external


class TestFixtureProject:
    def test_basic_file_symbols_exactly(self) -> None:
        _, syms, _ = fixture_project()["Fixture/Basic.lean"]
        got = [
            (s.qualified_name, s.kind, (s.start_line, s.end_line), s.statement, s.body)
            for s in syms
        ]
        assert got == [
            ("Fixture.double", "def", (17, 18), (18, 18), (18, 18)),
            ("Fixture.double_zero", "theorem", (20, 21), (21, 21), (21, 21)),
            ("Fixture.double_add", "theorem", (23, 27), (24, 25), (25, 27)),
            ("Fixture.helper", "def", (33, 33), (33, 33), (33, 33)),
            ("Fixture.helper_pos", "theorem", (35, 36), (35, 35), (35, 36)),
            ("Fixture.Point", "structure", (40, 44), (41, 41), (42, 44)),
            ("Fixture.Point.mk", "constructor", (40, 44), None, None),
            ("Fixture.Point.x", "field", (42, 42), None, None),
            ("Fixture.Point.y", "field", (43, 43), None, None),
            ("Fixture.Shape", "inductive", (46, 49), (46, 46), (47, 49)),
            ("Fixture.Shape.dot", "constructor", (47, 47), None, None),
            ("Fixture.Shape.segment", "constructor", (48, 48), None, None),
            ("Fixture.Point.add", "def", (53, 53), (53, 53), (53, 53)),
            ("Fixture.Point.instAddPoint", "instance", (55, 56), (55, 55), (56, 56)),
            ("Fixture.Point.add_x", "theorem", (58, 58), (58, 58), (58, 58)),
            ("Fixture.isEven", "def", (63, 65), (63, 63), (64, 65)),
            ("Fixture.isOdd", "def", (66, 68), (66, 66), (67, 68)),
            ("Fixture.chosen", "def", (71, 72), (71, 71), (71, 72)),
            ("Fixture.chosen_eq", "theorem", (74, 74), (74, 74), (74, 74)),
            ("Fixture.label", "def", (76, 76), (76, 76), (76, 76)),
        ]
        assert [s.qualified_name for s in syms if s.incomplete] == ["Fixture.chosen"]

    def test_edges_of_a_few_declarations_exactly(self) -> None:
        edges, _ = resolved_edges(fixture_project())
        by_source = defaultdict(set)
        for source, target, role in edges:
            by_source[source].add((target, role))
        assert by_source["Fixture.Algebra.one_mul'"] == {
            ("Fixture.Algebra.MulOne.mul", "statement"),
            ("Fixture.Algebra.MulOne.one", "statement"),
            ("Fixture.Algebra.Monoid'.one_mul", "proof"),
        }
        assert by_source["Fixture.Algebra.uses_transitively"] == {
            ("Fixture.Algebra.MulOne.mul", "statement"),
            ("Fixture.Algebra.uses_sorry", "proof"),
        }
        assert by_source["Fixture.helper_pos"] == {
            ("Fixture.helper", "statement"),
            ("Fixture.helper", "proof"),
        }
        assert by_source["Fixture.Point.instAddPoint"] == {
            ("Fixture.Point", "statement"),
            ("Fixture.Point.add", "proof"),
        }
        assert by_source["Fixture.Algebra.main_fine"] == {
            ("Fixture.double", "statement"),
            ("Fixture.double_add", "proof"),
        }
        assert by_source["doubles"] == {("Fixture.double", "proof")}

    def test_core_names_stay_external(self) -> None:
        _, external = resolved_edges(fixture_project())
        assert {"Nat", "Nat.succ", "Nat.mul", "List.map", "IO.println", "Repr"} <= external
        assert not any(name.startswith("Fixture.") for name in external)

    def test_blocked_set_is_the_sorry_and_everything_depending_on_it(self) -> None:
        project = fixture_project()
        edges, _ = resolved_edges(project)
        users = defaultdict(set)
        for source, target, _ in edges:
            users[target].add(source)
        incomplete = {
            s.qualified_name for _, syms, _ in project.values() for s in syms if s.incomplete
        }
        blocked, frontier = set(incomplete), list(incomplete)
        while frontier:
            for user in users[frontier.pop()] - blocked:
                blocked.add(user)
                frontier.append(user)
        assert incomplete == {"Fixture.chosen", "Fixture.Algebra.mul_comm_of_sorry"}
        assert blocked == {
            "Fixture.chosen",
            "Fixture.chosen_eq",
            "Fixture.Algebra.mul_comm_of_sorry",
            "Fixture.Algebra.uses_sorry",
            "Fixture.Algebra.uses_transitively",
            "Fixture.Algebra.main_blocked",
            "Fixture.Algebra.example@21",
        }

    def test_the_code_graph_finds_the_same_blocked_set_without_examples(self) -> None:
        files = [
            GraphFile(path, "lean", syms, refs)
            for path, (_, syms, refs) in fixture_project().items()
        ]
        incomplete, blocked = blocked_by_incomplete(CodeGraph.build(files))
        assert {n.name for n in incomplete} == {
            "Fixture.chosen",
            "Fixture.Algebra.mul_comm_of_sorry",
        }
        # The graph keeps examples out of its nodes: their uses count for their file.
        assert {n.name for n in blocked} == {
            "Fixture.chosen_eq",
            "Fixture.Algebra.uses_sorry",
            "Fixture.Algebra.uses_transitively",
            "Fixture.Algebra.main_blocked",
        }

    def test_parse_blob_wires_lean_files(self) -> None:
        data = (FIXTURES / "Main.lean").read_bytes()
        artifact = parse_blob("oid", "Main.lean", data)
        assert artifact.language == "lean"
        assert tuple(parse_lean(data.decode())[1]) == artifact.symbols
        assert {r.name for r in artifact.references if r.kind == "import"} == {
            "Fixture.Basic",
            "Fixture.Algebra.Group",
        }


def assert_chunks_cover(text: str) -> None:
    """Every non-blank line in exactly one chunk; declarations are chunks; spans nest."""
    chunks, syms, _ = parse_lean(text)
    lines = split_lines(text)
    covered: list[int] = []
    for chunk in chunks:
        assert 1 <= chunk.start_line <= chunk.end_line <= len(lines)
        assert lines[chunk.start_line - 1].strip() and lines[chunk.end_line - 1].strip()
        covered += range(chunk.start_line, chunk.end_line + 1)
    assert covered == sorted(set(covered))
    assert {i + 1 for i, line in enumerate(lines) if line.strip()} <= set(covered)
    spans = {(c.start_line, c.end_line, c.symbol) for c in chunks}
    for s in syms:
        if s.container is None:
            assert (s.start_line, s.end_line, s.qualified_name) in spans
        for part in (s.statement, s.body):
            assert part is None or s.start_line <= part[0] <= part[1] <= s.end_line


FIXTURE_LINES = [line for path in FILES for line in (FIXTURES / path).read_text().splitlines()]
PATHOLOGICAL = [
    "/-", "-/", "/--", "/-!", '"', "'", "«", "s!\"{", "end", "end Foo.Bar", "namespace",
    "@[", "]", "open A in", "mutual", "| x =>", "where", ":=", "(", "⟨", "instance", "  ",
    "theorem", "def _root_.", "example", "private", "structure S where", "class inductive",
]  # fmt: skip


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.lists(st.sampled_from(FIXTURE_LINES + PATHOLOGICAL), max_size=80),
    st.randoms(use_true_random=False),
    st.text(max_size=20),
)
def test_chunks_cover_every_line_of_lean_like_text(
    lines: list[str], rng: random.Random, noise: str
) -> None:
    if lines:
        lines[rng.randrange(len(lines))] += noise
    assert_chunks_cover("\n".join(lines) + "\n")


@settings(max_examples=150, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list("ab (){}[]⟨⟩:=|/-!\"'«»@\n ._λ∀#")), max_size=200))
def test_never_raises_on_nonsense(text: str) -> None:
    assert_chunks_cover(text)


def test_whole_fixture_files_and_their_concatenation_cover() -> None:
    texts = [(FIXTURES / path).read_text() for path in (*FILES, "lakefile.lean")]
    for text in [*texts, "".join(texts) * 3]:
        assert_chunks_cover(text)


PATHOLOGICAL_FILES = {
    "unterminated comment": "def a := 1\n/- never closed\ndef b := 2\n",
    "unterminated string": 'def a := "never closed\ndef b := 2\n',
    "stray end": "end\nend Foo\ndef a := 1\nend\n",
    "unclosed attribute": "@[simp\ntheorem t : x := y\n",
    "deep brackets": "def f := " + "(" * 500 + "\n" + ")" * 500 + "\n",
    "open in chain": "open A in\n" * 300 + "theorem t : x := y\n",
    "deep namespaces": "namespace A\n" * 300 + "def f := gg\n" + "end A\n" * 300 + "def g := 1\n",
    "many bars": "inductive T " + "| a " * 500 + "\n",
    "only comments": "-- a\n/- b -/\n/-- c -/\n",
    "crlf": "def a := 1\r\n\r\ntheorem b : a = a := rfl\r\n",
    "odd spaces": "\tdef a := 1\n\u00a0\n\x1f\ndef b := 2\n",
}


@pytest.mark.parametrize("text", PATHOLOGICAL_FILES.values(), ids=PATHOLOGICAL_FILES.keys())
def test_pathological_files_still_cover(text: str) -> None:
    assert_chunks_cover(text)


def test_unterminated_comment_hides_the_rest_and_a_string_extends_its_declaration() -> None:
    chunks, syms, _ = parse_lean(PATHOLOGICAL_FILES["unterminated comment"])
    assert [(s.qualified_name, s.end_line) for s in syms] == [("a", 1)]
    assert [(c.start_line, c.end_line, c.kind) for c in chunks] == [(1, 1, "def"), (2, 3, "module")]
    _, syms, _ = parse_lean(PATHOLOGICAL_FILES["unterminated string"])
    assert [(s.qualified_name, s.end_line) for s in syms] == [("a", 2)]


def test_nesting_is_bounded_but_ends_still_match() -> None:
    syms = parse_lean(PATHOLOGICAL_FILES["deep namespaces"])[1]
    assert syms[0].qualified_name.count("A.") < 100
    assert syms[1].qualified_name == "g"


def test_a_guillemet_name_never_spans_lines() -> None:
    """Hypothesis found `«` on one line and `»` two lines later: the token hid the blank line
    between them from the line count, and chunks started on the wrong lines."""
    text = "«\n\n/-!»\ntheorem fake_outer : 1 = 2 := sorry\n"
    assert_chunks_cover(text)
    assert [(t.text, t.line) for t in tokenize("«a b».c\n«x\ny»\n")][:2] == [
        ("«a b».c", 1),
        ("«", 2),
    ]
