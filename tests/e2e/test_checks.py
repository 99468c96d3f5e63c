"""Checks end to end: the HTTP routes through chalice.test.Client, the check queue and its
DLQ through the worker pump on moto, real toolchains for the build level (each expected
only when on the PATH), hostile input, tenancy, a poisoned message, and Lean declarations'
checked status on the graph routes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from chalicelib.services.check_runner import RETRIES_EXHAUSTED
from tests.e2e.conftest import Stack
from tests.e2e.test_api_keys import make_key
from tests.gitrepo import commit_files, init_repo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(folder: str, name: str) -> bytes:
    stored = FIXTURES / folder / name
    return (
        stored.read_bytes() if stored.exists() else (FIXTURES / folder / f"{name}.txt").read_bytes()
    )


FILES = {
    "app/broken_def.py": fixture("syntax", "broken_def.py"),
    "web/broken_expression.js": fixture("syntax", "broken_expression.js"),
    "proofs/unterminated_string.lean": fixture("syntax", "unterminated_string.lean"),
    "app/ok.py": b"def ok():\n    return 1\n",
    "README.md": b"# Checks\n",
    "build/pkg/broken.py": fixture("build", "broken.py"),
    "build/broken.js": fixture("build", "broken.js"),
    "build/src/broken.c": fixture("build", "src/broken.c"),
    "build/include/util.h": fixture("build", "include/util.h"),
    "build/Broken.java": fixture("build", "Broken.java"),
    "build/broken.sh": fixture("build", "broken.sh"),
}
SYNTAX_ERRORS = [
    {"path": "app/broken_def.py", "line": 5, "column": 11, "endLine": 5, "endColumn": 12,
     "severity": "error", "message": "'(' was never closed", "tool": "python"},
    {"path": "proofs/unterminated_string.lean", "line": 3, "column": 24, "endLine": 3,
     "endColumn": 25, "severity": "error", "message": "unterminated string",
     "tool": "lean-structure"},
    {"path": "web/broken_expression.js", "line": 4, "column": 23, "endLine": 4, "endColumn": 24,
     "severity": "error", "message": "syntax error: unexpected `*`", "tool": "tree-sitter"},
]  # fmt: skip


@pytest.fixture
def rid(stack: Stack, tmp_path: Path) -> str:
    init_repo(tmp_path / "checked", FILES)
    resp = stack.post("/repositories/index", {"url": str(tmp_path / "checked")})
    assert resp.status_code == 200, resp.body
    stack.pump.drain()
    repository_id: str = resp.json_body["repositoryId"]
    return repository_id


def request(stack: Stack, rid: str, body: dict[str, Any], key: str | None = None) -> Any:
    return stack.call("POST", f"/repositories/{rid}/checks", body, key=key or stack.key)


def run_check(stack: Stack, rid: str, body: dict[str, Any]) -> dict[str, Any]:
    accepted = request(stack, rid, body)
    assert accepted.status_code == 202, accepted.body
    stack.pump.drain()
    found = stack.get(f"/repositories/{rid}/checks/{accepted.json_body['checkId']}")
    assert found.status_code == 200, found.body
    result: dict[str, Any] = found.json_body
    return result


def test_a_syntax_check_is_queued_then_reports_exact_positions(stack: Stack, rid: str) -> None:
    accepted = request(stack, rid, {"level": "syntax", "paths": ["app", "web", "proofs/"]})
    assert accepted.status_code == 202, accepted.body
    body = accepted.json_body
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert (body["status"], body["level"], body["sha"]) == (
        "queued",
        "syntax",
        status["indexedSha"],
    )
    path = f"/repositories/{rid}/checks/{body['checkId']}"
    queued = stack.get(path).json_body
    assert (queued["status"], queued["diagnostics"]) == ("queued", [])
    stack.pump.drain()
    done = stack.get(path).json_body
    assert done["status"] == "failed" and done["message"] is None
    assert done["diagnostics"] == SYNTAX_ERRORS
    assert done["paths"] == ["app", "web", "proofs"]
    stats = done["stats"]
    assert (stats["files"], stats["units"], stats["errors"], stats["toolRuns"]) == (4, 4, 3, 4)
    listed = stack.get(f"/repositories/{rid}/checks").json_body["checks"]
    assert [c["checkId"] for c in listed] == [body["checkId"]]
    assert "diagnostics" not in listed[0]
    events = [e for e in check_events(stack, rid) if e["data"]["checkId"] == body["checkId"]]
    assert [e["type"] for e in events] == ["CheckFinished", "CheckRequested"]  # newest first
    finished, requested = events
    assert requested["actor"] and requested["actor"].startswith("key:")
    assert requested["data"]["paths"] == ["app", "web", "proofs"]
    assert finished["actor"] is None  # the worker's own doing
    assert {k: finished["data"][k] for k in ("status", "errors", "toolRuns", "message")} == {
        "status": "failed",
        "errors": 3,
        "toolRuns": 4,
        "message": None,
    }


def check_events(stack: Stack, rid: str) -> list[dict[str, Any]]:
    listed = stack.get(f"/repositories/{rid}/events?limit=100").json_body["events"]
    return [e for e in listed if e["type"].startswith("Check")]


def test_a_second_check_of_the_same_content_is_answered_from_stored_results(
    stack: Stack, rid: str, tmp_path: Path
) -> None:
    first = run_check(stack, rid, {"level": "syntax"})
    again = run_check(stack, rid, {"level": "syntax"})
    assert again["diagnostics"] == first["diagnostics"]
    assert again["stats"]["toolRuns"] == 0 and again["stats"]["reused"] == again["stats"]["units"]
    commit_files(tmp_path / "checked", {"app/broken_def.py": "def fixed():\n    return 1\n"})
    assert stack.post("/repositories/index", {"repositoryId": rid}).status_code == 200
    stack.pump.drain()
    changed = run_check(stack, rid, {"level": "syntax"})
    assert changed["stats"]["toolRuns"] == 1  # only the changed file was checked again
    assert "app/broken_def.py" not in {d["path"] for d in changed["diagnostics"]}


# Build diagnostics by tool, and the program that must be on PATH for each (the test
# stack's Settings: /usr/local/bin:/usr/bin:/bin, the running interpreter for py_compile).
BUILD_ERRORS = {
    "py_compile": ("python", ("build/pkg/broken.py", 3, 15, "'(' was never closed")),
    "node-check": ("node", ("build/broken.js", 3, 16, "SyntaxError: Unexpected token '*'")),
    "gcc": ("gcc", ("build/src/broken.c", 4, 13, "expected expression before")),
    "javac": ("javac", ("build/Broken.java", 3, 21, "';' expected")),
    "bash-n": ("bash", ("build/broken.sh", 4, 1, "syntax error near unexpected token `fi'")),
}


def test_a_build_check_runs_the_real_toolchains(stack: Stack, rid: str) -> None:
    done = run_check(stack, rid, {"level": "build", "paths": ["build"]})
    present = {
        tool: where
        for tool, (program, where) in BUILD_ERRORS.items()
        if program == "python" or shutil.which(program, path="/usr/local/bin:/usr/bin:/bin")
    }
    found = [(d["tool"], (d["path"], d["line"], d["column"])) for d in done["diagnostics"]]
    errors = [(t, w) for t, w in found if t in BUILD_ERRORS]
    assert sorted(errors) == sorted((t, w[:3]) for t, w in present.items())
    for d in done["diagnostics"]:
        if d["tool"] in present:
            assert present[d["tool"]][3] in d["message"]
    if len(present) == len(BUILD_ERRORS):
        assert done["status"] == "failed" and done["stats"]["unsupported"] == {}
    again = run_check(stack, rid, {"level": "build", "paths": ["build"]})
    assert again["stats"]["toolRuns"] == 0  # every closure's result is stored


def test_a_language_without_a_toolchain_answers_error(
    stack: Stack, rid: str, tmp_path: Path
) -> None:
    commit_files(tmp_path / "checked", {"svc/main.go": "package main\n\nfunc main() {}\n"})
    assert stack.post("/repositories/index", {"repositoryId": rid}).status_code == 200
    stack.pump.drain()
    done = run_check(stack, rid, {"level": "build", "paths": ["svc", "app/ok.py"]})
    assert done["status"] == "error"
    assert done["message"] == "no build toolchain here for go (1 file)"
    assert done["stats"]["unsupported"] == {"go": 1}


def test_a_poisoned_check_message_ends_the_check_in_error(stack: Stack, rid: str) -> None:
    accepted = request(stack, rid, {"level": "syntax"})
    names = stack.settings.names
    sqs = stack.sqs
    source = sqs.get_queue_url(QueueName=names.queues["check"])["QueueUrl"]
    target = sqs.get_queue_url(QueueName=names.dead_letter_queues["check"])["QueueUrl"]
    (msg,) = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10)["Messages"]
    for _ in range(2):  # a DLQ delivers at least once too
        sqs.send_message(QueueUrl=target, MessageBody=msg["Body"])
    sqs.delete_message(QueueUrl=source, ReceiptHandle=msg["ReceiptHandle"])
    assert stack.pump.poll("check-dlq") == 2
    done = stack.get(f"/repositories/{rid}/checks/{accepted.json_body['checkId']}").json_body
    assert (done["status"], done["message"]) == ("error", RETRIES_EXHAUSTED)
    ended = [e["data"] for e in check_events(stack, rid) if e["type"] == "CheckFinished"]
    assert ended == [  # one ending, though the dead letter came twice
        {
            "checkId": done["checkId"],
            "sha": done["sha"],
            "level": "syntax",
            "status": "error",
            "message": RETRIES_EXHAUSTED,
            "errors": 0,
            "warnings": 0,
            "toolRuns": 0,
            "reused": 0,
        }
    ]
    assert stack.queue_depth(names.queues["check"]) == 0
    assert stack.queue_depth(names.dead_letter_queues["check"]) == 0


def test_a_commit_that_is_not_on_the_branch_ends_in_error(stack: Stack, rid: str) -> None:
    done = run_check(stack, rid, {"level": "syntax", "sha": "0" * 40})
    assert done["status"] == "error" and "not on branch" in str(done["message"])


# --- hostile and invalid input ---------------------------------------------------------------

HOSTILE: list[tuple[object, int, str]] = [
    ({"level": "syntax", "paths": ["../x"]}, 400, "'..'"),
    ({"level": "syntax", "paths": ["src/../../x"]}, 400, "'..'"),
    ({"level": "syntax", "paths": ["/etc/passwd"]}, 400, "relative"),
    ({"level": "syntax", "paths": [".git/config"]}, 400, ".git"),
    ({"level": "syntax", "paths": ["a\\..\\b"]}, 400, "backslash"),
    ({"level": "syntax", "paths": ["a\u0000b"]}, 400, "control"),
    ({"level": "syntax", "paths": [f"f{i}" for i in range(201)]}, 400, "paths"),
    ({"level": "syntax", "paths": ["x" * 1025]}, 400, "paths"),
    ({"level": "syntax", "paths": "app"}, 400, "paths"),
    ({"level": "syntax", "paths": [3]}, 400, "paths"),
    ({"level": 3}, 400, "level"),
    ({"level": "compile"}, 400, "level"),
    ({}, 400, "level is required"),
    ({"level": "syntax", "sha": "HEAD"}, 400, "sha"),
    ({"level": "syntax", "sha": "A" * 40}, 400, "sha"),
    ({"level": "syntax", "surprise": 1}, 400, "unknown fields: surprise"),
    ({"level": "syntax", "paths": ["p" * 1000] * 100 + ["x" * 300_000]}, 413, "larger than"),
]


def test_bad_check_requests_are_refused_and_queue_nothing(stack: Stack, rid: str) -> None:
    for body, status, words in HOSTILE:  # one indexed repository for every case
        resp = request(stack, rid, body)  # type: ignore[arg-type]
        assert resp.status_code == status, (body, resp.body)
        assert words in resp.json_body["error"]["message"], (body, resp.body)
    for raw in (b"{not json", b"[1]", b"", b"\xff\xfe", b"null"):
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {stack.key}"}
        resp = stack.client.http.post(f"/repositories/{rid}/checks", headers=headers, body=raw)
        assert resp.status_code == 400, (raw, resp.body)
    assert stack.queue_depth(stack.settings.names.queues["check"]) == 0
    assert stack.get(f"/repositories/{rid}/checks").json_body["checks"] == []


def test_unknown_and_invisible_repositories_are_404_on_every_route(stack: Stack, rid: str) -> None:
    done = run_check(stack, rid, {"level": "syntax", "paths": ["app/ok.py"]})
    other = make_key(stack, "index", tenant="other")
    for repository, key in ((rid, other), ("github:nobody:nothing", stack.key)):
        for method, path, body in (
            ("POST", f"/repositories/{repository}/checks", {"level": "syntax"}),
            ("GET", f"/repositories/{repository}/checks", None),
            ("GET", f"/repositories/{repository}/checks/{done['checkId']}", None),
        ):
            resp = stack.call(method, path, body, key=key)
            assert resp.status_code == 404, (method, path, resp.body)
    for check_id in ("chk-0000000000000-00000000", "..%2F..%2Fetc", "x" * 400):
        resp = stack.get(f"/repositories/{rid}/checks/{check_id}")
        assert resp.status_code == 404, resp.body
    reader = make_key(stack, "read", tenant="admin")
    assert request(stack, rid, {"level": "syntax"}, key=reader).status_code == 403


# --- Lean statuses on the graph routes -------------------------------------------------------

LEAN = {
    "Proofs.lean": (
        "theorem base : True := trivial\n\n"
        "theorem gap : 1 = 1 := by\n  sorry\n\n"
        "theorem uses_gap : 1 = 1 := gap\n\n"
        "theorem broken : True := (trivial\n\n"
        "theorem uses_broken : True := broken\n"
    ),
}


def test_lean_declarations_carry_their_checked_status(stack: Stack, tmp_path: Path) -> None:
    init_repo(tmp_path / "lean", LEAN)
    lean = stack.post("/repositories/index", {"url": str(tmp_path / "lean")}).json_body
    stack.pump.drain()
    lid = lean["repositoryId"]
    before = stack.get(f"/repositories/{lid}/graph/sorry").json_body
    assert before["check"] is None and before["errors"] == []
    assert [(n["name"], n["checked"]) for n in before["incomplete"]] == [("gap", "sorry")]
    assert [(n["name"], n["checked"]) for n in before["blocked"]] == [("uses_gap", "blocked")]
    done = run_check(stack, lid, {"level": "syntax"})
    after = stack.get(f"/repositories/{lid}/graph/sorry").json_body
    assert after["check"] == {
        "checkId": done["checkId"], "level": "syntax", "sha": done["sha"], "status": "failed",
    }  # fmt: skip
    assert [(n["name"], n["checked"]) for n in after["errors"]] == [("broken", "error")]
    node = stack.get(f"/repositories/{lid}/graph/nodes/uses_broken").json_body
    assert node["node"]["checked"] == "blocked"
    assert {n["name"]: n["checked"] for n in node["nodes"]} == {"broken": "error"}
