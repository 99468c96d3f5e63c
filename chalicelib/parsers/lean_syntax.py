"""Lean 4 word tables the parser dispatches on: data, not logic. Extend a table, not a branch."""

from __future__ import annotations

import re

# Keywords that start a declaration, and the kind each one records.
DECLARATION_KINDS: dict[str, str] = {
    "theorem": "theorem", "lemma": "lemma", "def": "def", "abbrev": "abbrev",
    "instance": "instance", "structure": "structure", "class": "class",
    "inductive": "inductive", "axiom": "axiom", "opaque": "opaque", "example": "example",
}  # fmt: skip

# Kinds whose body lists fields (structure-like) or constructors (inductive-like).
FIELD_KINDS = frozenset({"structure", "class"})
CONSTRUCTOR_KINDS = frozenset({"inductive"})

MODIFIERS = frozenset(
    {"private", "protected", "noncomputable", "partial", "unsafe", "nonrec", "scoped", "local"}
)

# Commands that are not declarations. Each starts a new command at the start of a line.
MODULE_COMMANDS = frozenset(
    {
        "namespace", "section", "end", "open", "variable", "variables", "universe",
        "universes", "set_option", "mutual", "attribute", "export", "import", "omit",
        "include", "deriving", "notation", "infix", "infixl", "infixr", "prefix", "postfix",
        "macro", "macro_rules", "syntax", "elab", "elab_rules", "declare_syntax_cat",
        "initialize", "builtin_initialize", "alias", "run_cmd", "unseal", "seal",
        "add_decl_doc", "library_note", "assert_not_exists", "suppress_compilation",
        "register_simp_attr", "compile_inductive", "irreducible_def",
    }
)  # fmt: skip

# Commands that may end in `in`, scoping their effect to the command that follows.
IN_PREFIX_COMMANDS = frozenset(
    {"open", "set_option", "variable", "variables", "attribute", "omit", "include"}
)

# Module commands whose identifiers are not uses of declarations (namespace and option names).
NAMELESS_COMMANDS = frozenset(
    {"namespace", "section", "end", "open", "universe", "universes", "set_option", "mutual",
     "import", "omit", "include", "unseal", "seal", "suppress_compilation",
     "assert_not_exists", "library_note", "declare_syntax_cat"}
)  # fmt: skip

# Markers of an unfinished proof (outside comments and strings).
SORRY_WORDS = frozenset({"sorry", "admit"})

# Words never recorded as references: term and tactic keywords, sorts, `sorry`.
KEYWORDS = frozenset(
    (
        "by", "fun", "let", "have", "show", "from", "at", "with", "match", "if", "then", "else",
        "do", "return", "for", "in", "unless", "mut", "break", "continue", "try", "catch",
        "finally", "where", "deriving", "extends", "this", "Type", "Prop", "Sort", "sorry",
        "admit", "using", "only", "generalizing", "says", "termination_by", "decreasing_by",
    )
)  # fmt: skip

# Tactic names: not references where a tactic starts (first on a line, or after `by`, `;`,
# `<;>`, `·`, `=>`, ...). Elsewhere they are ordinary names (`exact swap x`, `:= rfl`).
TACTICS = frozenset(
    (
        "exact", "exacts", "apply", "intro", "intros", "rintro", "rintros", "introv", "rw", "rwa",
        "rewrite", "erw", "simp", "simp_all", "simp_arith", "simpa", "dsimp", "simp?", "simp_all?",
        "norm_num", "norm_cast", "push_cast", "exact_mod_cast", "omega", "decide", "native_decide",
        "rfl", "induction", "induction'", "cases", "cases'", "rcases", "obtain", "constructor",
        "refine", "refine'", "calc", "exact?", "apply?", "use", "exists", "existsi", "left",
        "right", "contradiction", "exfalso", "trivial", "assumption", "aesop", "linarith",
        "nlinarith", "positivity", "ring", "ring_nf", "field_simp", "gcongr", "tauto", "unfold",
        "delta", "subst", "specialize", "generalize", "revert", "clear", "split", "split_ifs",
        "by_cases", "by_contra", "by_contra!", "push_neg", "contrapose", "contrapose!", "change",
        "conv", "congr", "ext", "funext", "injection", "ac_rfl", "symm", "trans", "show_term",
        "first", "repeat", "iterate", "all_goals", "any_goals", "focus", "case", "case'", "next",
        "skip", "done", "fail", "fail_if_success", "with_reducible", "haveI", "letI", "set",
        "suffices", "replace", "nofun", "nomatch", "infer_instance", "rename_i", "rename",
        "refine_lift", "guard_hyp", "guard_target", "on_goal", "pick_goal", "swap", "rotate_left",
        "rotate_right", "decreasing_tactic", "simp_wf", "mod_cast", "interval_cases", "fin_cases",
        "choose", "lift", "filter_upwards", "bound", "peel", "noncomm_ring", "abel", "group",
        "nth_rewrite", "nth_rw", "rw?", "hint", "grind",
    )
)  # fmt: skip
TACTIC_LEADS = frozenset(
    {"by", ";", "<;>", "·", ".", "=>", "then", "else", "try", "repeat", "all_goals",
     "any_goals", "first", "|", "focus", "iterate", "on_goal", "<|>"}
)  # fmt: skip

# Words after which the following names are bound, until the matching terminator.
LAMBDA_WORDS = frozenset({"fun", "λ"})
QUANTIFIERS = frozenset({"∀", "∃", "∃!", "Π", "Σ", "Σ'", "∑", "∏", "⋃", "⋂", "⨆", "⨅"})  # noqa: RUF001
# Tactics whose arguments on the same line are new hypothesis names or patterns.
INTRO_TACTICS = frozenset(
    {"intro", "intros", "rintro", "rintros", "introv", "obtain", "ext", "funext", "rename_i",
     "next", "choose"}
)  # fmt: skip
# Words whose next identifier (or ⟨pattern⟩) is a local name: `let x :=`, `have h : P :=`.
LOCAL_WORDS = frozenset({"let", "have", "haveI", "letI", "set", "suffices", "replace"})
# Tactics whose `with` clause on the same line names new hypotheses: `rcases h with ⟨x, hx⟩`.
WITH_TACTICS = frozenset({"rcases", "cases'", "induction'", "obtain", "set"})

OPEN_BRACKETS = {"(": ")", "{": "}", "[": "]", "⦃": "⦄", "⟨": "⟩", "@[": "]", "{{": "}}"}
CLOSE_BRACKETS = frozenset(OPEN_BRACKETS.values())

# Lean's auto-bound implicit names: one letter, then only digits, subscripts, primes.
AUTO_BOUND = re.compile(r"[^\W\d_][0-9'\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a\u2c7c]*")

# Command words are never uses of a declaration either (`attribute [instance] foo`).
NOT_REFERENCES = KEYWORDS | frozenset(DECLARATION_KINDS) | MODIFIERS | MODULE_COMMANDS
# Words that end a run of binder names (`intro x y; simp`).
RUN_STOPS = NOT_REFERENCES | TACTICS
