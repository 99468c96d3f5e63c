"""Byte formats of what check runs store in S3: plans, unit results, batch bundles and
reports. Compressed JSON; a corrupt object raises ValueError (never executes input)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.check_plan import CheckPlan, CheckUnit, UnitResult
from chalicelib.domain.diagnostics import Diagnostic


@dataclass(frozen=True)
class CheckReport:
    """A finished run's findings: the files its units decided, and its diagnostics (at most
    MAX_REPORTED_DIAGNOSTICS; `truncated` when more were found)."""

    checked: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    truncated: bool = False
    undecided: tuple[str, ...] = field(default=())  # subjects of units that did not decide


def _pack(obj: object) -> bytes:
    return zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 6)


def _unpack(data: bytes, what: str) -> Any:
    try:
        return json.loads(zlib.decompress(data))
    except (zlib.error, ValueError) as exc:
        raise ValueError(f"corrupt {what}") from exc


def _diagnostic_row(d: Diagnostic) -> list[Any]:
    return [d.path, d.line, d.column, d.end_line, d.end_column, d.severity, d.message, d.tool]


def _diagnostic(row: Sequence[Any]) -> Diagnostic:
    path, line, column, end_line, end_column, severity, message, tool = row
    if severity not in ("error", "warning"):
        raise ValueError("corrupt diagnostic")
    return Diagnostic(
        str(path), int(line), int(column), int(end_line), int(end_column), severity, str(message),
        str(tool),
    )  # fmt: skip


def _result_obj(r: UnitResult) -> dict[str, Any]:
    return {
        "d": [_diagnostic_row(d) for d in r.diagnostics],
        "decided": r.decided,
        "seconds": round(r.seconds, 4),
    }


def _result(obj: Mapping[str, Any]) -> UnitResult:
    return UnitResult(
        tuple(_diagnostic(row) for row in obj["d"]), bool(obj["decided"]), float(obj["seconds"])
    )


def encode_result(r: UnitResult) -> bytes:
    return _pack(_result_obj(r))


def decode_result(data: bytes) -> UnitResult:
    try:
        return _result(_unpack(data, "check result"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("corrupt check result") from exc


def encode_bundle(results: Mapping[str, UnitResult]) -> bytes:
    return _pack({key: _result_obj(r) for key, r in sorted(results.items())})


def decode_bundle(data: bytes) -> dict[str, UnitResult]:
    try:
        return {str(k): _result(v) for k, v in _unpack(data, "check bundle").items()}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError("corrupt check bundle") from exc


def _unit_row(u: CheckUnit) -> list[Any]:
    refused = [_diagnostic_row(d) for d in u.refused]
    closure = [list(pair) for pair in u.closure]
    return [u.key, u.tool, u.root, list(u.subjects), closure, u.path_free, refused]


def _unit(row: Sequence[Any]) -> CheckUnit:
    key, tool, root, subjects, closure, path_free, refused = row
    return CheckUnit(
        str(key),
        str(tool),
        str(root),
        tuple(str(s) for s in subjects),
        tuple((str(p), str(o)) for p, o in closure),
        bool(path_free),
        tuple(_diagnostic(d) for d in refused),
    )


def encode_plan(plan: CheckPlan) -> bytes:
    return _pack(
        {
            "batches": [[_unit_row(u) for u in batch] for batch in plan.batches],
            "problems": list(plan.problems),
            "stats": dict(plan.stats),
        }
    )


def decode_plan(data: bytes) -> CheckPlan:
    d = _unpack(data, "check plan")
    try:
        batches = tuple(tuple(_unit(u) for u in batch) for batch in d["batches"])
        return CheckPlan(batches, tuple(str(p) for p in d["problems"]), dict(d["stats"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("corrupt check plan") from exc


def encode_report(r: CheckReport) -> bytes:
    return _pack(
        {
            "checked": list(r.checked),
            "d": [_diagnostic_row(d) for d in r.diagnostics],
            "truncated": r.truncated,
            "undecided": list(r.undecided),
        }
    )


def decode_report(data: bytes) -> CheckReport:
    d = _unpack(data, "check report")
    try:
        return CheckReport(
            tuple(str(p) for p in d["checked"]),
            tuple(_diagnostic(row) for row in d["d"]),
            bool(d["truncated"]),
            tuple(str(p) for p in d.get("undecided", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("corrupt check report") from exc
