"""What a check run must do, decided from the tree at its commit: which files it looks at,
its units (one per file at the syntax level; build units, domain/build_units.py), each with
the content address of its result, and the batches they fan out in. Pure.

Content addresses (ADR 21):
- syntax: `checks/syntax/<checker version>/<blob oid>/<language>`: one file's diagnostics,
  stored without a path (the same blob at any path, in any commit or fork, is one result);
- build: `checks/build/<tool>/<sha256 of tool, version, root and closure>`;
- a batch: `checks/bundles/<sha256 of its units' keys>`: every result of the batch in one
  object, so an unchanged batch costs one GET.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.build_units import BuildUnit, plan_build
from chalicelib.domain.checks import CheckLevel, path_selected, unmatched_paths
from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.languages import language_for
from chalicelib.domain.models import TreeEntry
from chalicelib.domain.planning import PlannedFile, skip_reason

SYNTAX_TOOL = "syntax"


@dataclass(frozen=True)
class CheckUnit:
    """One result to find or make: `key` addresses it; `closure` is what it reads."""

    key: str
    tool: str
    root: str
    subjects: tuple[str, ...]
    closure: tuple[tuple[str, str], ...]
    path_free: bool = False  # syntax results are stored without a path: the subject's
    refused: tuple[Diagnostic, ...] = ()

    @property
    def language(self) -> str:
        return language_for(self.subjects[0]) if self.subjects else "text"


@dataclass(frozen=True)
class UnitResult:
    """What one unit's check said: its diagnostics, and whether it decided (a tool killed
    for time or memory, or crashed, did not: such a result is never stored by content)."""

    diagnostics: tuple[Diagnostic, ...] = ()
    decided: bool = True
    seconds: float = 0.0


@dataclass(frozen=True)
class BuildRun:
    """What a Toolchain runs for one build unit: the tool, where (`root`, relative to the
    repository, "" = its root), the files it decides, and the bytes of everything it reads."""

    tool: str
    root: str
    subjects: tuple[str, ...]
    files: Mapping[str, bytes]


@dataclass(frozen=True)
class CheckPlan:
    batches: tuple[tuple[CheckUnit, ...], ...]
    problems: tuple[str, ...] = ()  # why the check cannot pass whatever the units say
    stats: Mapping[str, object] = field(default_factory=dict)

    @property
    def units(self) -> list[CheckUnit]:
        return [u for batch in self.batches for u in batch]


def syntax_key(version: str, oid: str, language: str) -> str:
    return f"checks/syntax/{version}/{oid}/{language}"


def bundle_key(units: Iterable[CheckUnit]) -> str:
    listing = "\n".join(sorted(u.key for u in units))
    return f"checks/bundles/{hashlib.sha256(listing.encode()).hexdigest()}"


def select_files(
    entries: Iterable[TreeEntry], wanted: Sequence[str], max_file_bytes: int
) -> tuple[list[PlannedFile], list[PlannedFile], dict[str, int]]:
    """(every file of the tree a check may read, the ones it looks at, skipped by reason).
    A whole-tree check skips what indexing skips; a path named on purpose is looked at even
    when vendored or generated (never a symlink, a submodule or a file over the size cap)."""
    files: list[PlannedFile] = []
    selected: list[PlannedFile] = []
    skipped: Counter[str] = Counter()
    for entry in entries:
        reason = skip_reason(entry, max_file_bytes)
        hard = reason in ("submodule", "symlink", "tooLarge")
        if hard:
            if path_selected(entry.path, wanted):
                skipped[str(reason)] += 1
            continue
        f = PlannedFile(entry.path, entry.oid, language_for(entry.path), entry.size)
        files.append(f)
        named = bool(wanted) and path_selected(f.path, wanted)
        if reason and not named:
            if not wanted:
                skipped[str(reason)] += 1
            continue
        if path_selected(f.path, wanted):
            selected.append(f)
    files.sort(key=lambda f: f.path)
    selected.sort(key=lambda f: f.path)
    return files, selected, dict(skipped)


@dataclass(frozen=True)
class PlanInputs:
    level: CheckLevel
    wanted: tuple[str, ...]
    max_file_bytes: int
    batch_units: int
    batch_bytes: int
    syntax_version: str
    checkable: Callable[[str], bool]  # whether the syntax level has a check for a path
    tools: Mapping[str, str] = field(default_factory=dict)  # available tool -> version


def plan_check(
    entries: Iterable[TreeEntry], inputs: PlanInputs, read: Callable[[str], bytes]
) -> CheckPlan:
    """The whole plan of a check; `read(path)` gives a file's bytes (C includes only)."""
    all_entries = list(entries)
    files, selected, skipped = select_files(all_entries, inputs.wanted, inputs.max_file_bytes)
    listed = [e.path for e in all_entries]
    unmatched = unmatched_paths(listed, inputs.wanted)
    problems = [f"not in this commit: {', '.join(unmatched)}"] if unmatched else []
    stats: dict[str, object] = {"files": len(selected), "skipped": skipped}
    if inputs.level == "syntax":
        units = [
            _syntax_unit(f, inputs.syntax_version) for f in selected if inputs.checkable(f.path)
        ]
        stats["unchecked"] = len(selected) - len(units)
        stats["unsupported"] = {}
    else:
        built = plan_build(files, selected, inputs.tools, read)
        units = [_build_unit(u, inputs.tools[u.tool]) for u in built.units]
        problems += built.reasons
        stats["unchecked"] = built.not_code
        stats["unsupported"] = dict(built.unsupported)
    if not units and not problems:
        problems.append("nothing to check: no file of these paths has a check at this level")
    sizes = {f.path: f.size for f in files}
    batches = batch_units(units, sizes, inputs.batch_units, inputs.batch_bytes)
    stats["batches"] = len(batches)
    return CheckPlan(tuple(tuple(b) for b in batches), tuple(problems), stats)


def _syntax_unit(f: PlannedFile, version: str) -> CheckUnit:
    key = syntax_key(version, f.oid, f.language)
    return CheckUnit(key, SYNTAX_TOOL, f.path, (f.path,), ((f.path, f.oid),), path_free=True)


def _build_unit(unit: BuildUnit, version: str) -> CheckUnit:
    return CheckUnit(
        unit.key(version), unit.tool, unit.root, unit.subjects, unit.closure, False, unit.refused
    )


def batch_units(
    units: Sequence[CheckUnit], sizes: Mapping[str, int], max_units: int, max_bytes: int
) -> list[list[CheckUnit]]:
    """Consecutive batches bounded by unit count and closure bytes (a big unit alone)."""
    batches: list[list[CheckUnit]] = []
    current: list[CheckUnit] = []
    size = 0
    for unit in units:
        weight = sum(sizes.get(p, 0) for p, _ in unit.closure)
        if current and (len(current) >= max_units or size + weight > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(unit)
        size += weight
    if current:
        batches.append(current)
    return batches


def with_paths(unit: CheckUnit, diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    """A stored result's diagnostics as this unit sees them: a path-free result gets the
    unit's file."""
    if not unit.path_free:
        return list(diagnostics)
    subject = unit.subjects[0]
    return [d if d.path else _at(d, subject) for d in diagnostics]


def _at(d: Diagnostic, path: str) -> Diagnostic:
    return Diagnostic(
        path, d.line, d.column, d.end_line, d.end_column, d.severity, d.message, d.tool
    )


def checked_paths(units: Iterable[CheckUnit]) -> list[str]:
    return sorted({p for u in units for p in u.subjects})


def staged_paths(units: Iterable[CheckUnit]) -> dict[str, str]:
    """path -> oid of every file the units read (what a batch must stage)."""
    return {p: oid for u in units for p, oid in u.closure}


def diagnostics_key(d: Diagnostic) -> tuple[str, int, int, int, int, str, str]:
    return (d.path, d.line, d.column, d.end_line, d.end_column, d.tool, d.message)


def ordered(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(set(diagnostics), key=diagnostics_key)


def run_prefix(storage_key: str, check_id: str) -> str:
    """Where one run keeps its plan, batch outcomes and report (`storage_key` is
    `ids.storage_key` of its repository); the bucket expires them with the record."""
    return f"checks/runs/{storage_key}/{check_id}"


def run_plan_key(prefix: str) -> str:
    return f"{prefix}/plan.json.gz"


def run_outcome_key(prefix: str, batch: int) -> str:
    return f"{prefix}/batch-{batch:06d}.json.gz"


def run_report_key(prefix: str) -> str:
    return f"{prefix}/report.json.gz"


def staging_key(check_id: str, batch: int) -> str:
    """A batch's staged bytes: under jobs/, which the bucket expires after a day."""
    return f"jobs/checks/{check_id}/batch-{batch:06d}.bin"
