"""Check runs end to end over in-memory fakes: request -> PlanCheck -> CheckBatch... ->
report, content addressing (a second check of the same content runs no check), build
units through a fake Toolchain, every way a run ends in `error`, tenancy, and Lean
declarations' checked status from the newest check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chalicelib.domain.checks import CheckStatus
from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.identity import Caller, Scope
from chalicelib.domain.messages import CheckBatch, Message, PlanCheck
from chalicelib.errors import InvalidRequest, NotFound, TransientError
from chalicelib.parsers.syntax import syntax_diagnostics
from chalicelib.services.check_reports import CheckReports
from chalicelib.services.check_requests import NOT_SENT, CheckRequest, CheckRequests, CheckResult
from chalicelib.services.check_runner import RETRIES_EXHAUSTED, CheckConfig, CheckRunner
from chalicelib.services.graph_queries import GraphQueries
from tests.fakes.aws import FakeWorkQueue
from tests.fakes.checks import FakeCheckStore, FakeToolchain
from tests.harness import REMOTE, REPO_ID, TENANT, Harness

SYNTAX = Path(__file__).resolve().parents[1] / "fixtures" / "syntax"
# (path in the repository, fixture, [(line, column, end_line, end_column, tool)])
KNOWN = [
    ("app/broken_def.py", "broken_def.py.txt", [(5, 11, 5, 12, "python")]),
    ("web/broken_expression.js", "broken_expression.js", [(4, 23, 4, 24, "tree-sitter")]),
    ("native/missing_semicolon.c", "missing_semicolon.c", [(4, 13, 4, 14, "tree-sitter")]),
    ("proofs/bad.lean", "unterminated_string.lean", [(3, 24, 3, 25, "lean-structure")]),
]
CLEAN = {"app/ok.py": "def ok():\n    return 1\n", "README.md": "# Fixtures\n"}


def fixture_files() -> dict[str, bytes]:
    files = {path: (SYNTAX / name).read_bytes() for path, name, _ in KNOWN}
    return files | {p: t.encode() for p, t in CLEAN.items()}


@dataclass
class World:
    """An indexed repository (the harness's fakes) plus the check store and a toolchain."""

    h: Harness = field(default_factory=Harness)
    checks: FakeCheckStore = field(default_factory=FakeCheckStore)
    tools: FakeToolchain = field(default_factory=FakeToolchain)
    syntax_runs: list[str] = field(default_factory=list)
    syntax: Callable[[str, bytes], list[Diagnostic]] = syntax_diagnostics
    settings: CheckConfig = field(default_factory=lambda: CheckConfig(batch_units=2))

    def index(self, files: dict[str, bytes], remote: str = REMOTE, rid: str = REPO_ID) -> str:
        sha = self.h.git.commit(remote, files)
        self.h.request(repository_id=rid)
        self.h.run()
        return sha

    def requests(self, caller: Caller = TENANT) -> CheckRequests:
        h = self.h
        return CheckRequests(
            repos=h.repos, checks=self.checks, blobs=h.blobs, queue=h.queue, clock=h.clock,
            caller=caller,
        )  # fmt: skip

    def runner(self) -> CheckRunner:
        def counted(path: str, data: bytes) -> list[Diagnostic]:
            self.syntax_runs.append(path)
            return self.syntax(path, data)

        return CheckRunner(
            ports=self.h.ports, config=self.h.config, checks=self.checks, toolchain=self.tools,
            settings=self.settings, syntax=counted,
        )  # fmt: skip

    def check(self, rid: str = REPO_ID, **wanted: object) -> CheckResult:
        """Request a check, run every message, return the result."""
        wanted.setdefault("level", "syntax")
        made = self.requests().request(rid, CheckRequest(**wanted))  # type: ignore[arg-type]
        self.deliver()
        return self.requests().get(rid, made.check_id)

    def deliver(
        self, *, twice: bool = False, keep: Callable[[Message], bool] | None = None
    ) -> list[Message]:
        runner, delivered = self.runner(), []
        while self.h.queue.pending:
            msg = self.h.queue.pending.popleft()
            if keep is not None and not keep(msg):
                continue
            delivered.append(msg)
            for _ in range(2 if twice else 1):
                runner.handle(msg, msg.queue)
        return delivered


def spans(result: CheckResult) -> list[tuple[str, int, int, int, int, str]]:
    assert result.report is not None
    return [
        (d.path, d.line, d.column, d.end_line, d.end_column, d.tool)
        for d in result.report.diagnostics
    ]


@pytest.fixture
def world() -> World:
    w = World()
    w.index(fixture_files())
    return w


def test_a_syntax_check_reports_every_fixture_error_at_its_exact_position(world: World) -> None:
    result = world.check()
    expected = [(path, *span) for path, _, found in KNOWN for span in found]
    assert sorted(spans(result)) == sorted(expected)
    check = result.check
    assert check.status is CheckStatus.FAILED and check.message is None
    assert check.sha == world.h.repo().indexed_sha  # the indexed head by default
    assert check.counts["errors"] == 4 and check.counts["units"] == 5  # README is unchecked
    assert check.stats["unchecked"] == 1 and check.stats["files"] == 6
    assert result.report is not None and "app/ok.py" in result.report.checked


def test_a_second_check_of_the_same_content_runs_no_check_even_in_a_fork(world: World) -> None:
    first = world.check()
    ran = list(world.syntax_runs)
    assert len(ran) == 5
    again = world.check()
    assert world.syntax_runs == ran  # nothing parsed again
    assert again.check.counts["reused"] == 5 and again.check.counts["tool_runs"] == 0
    assert spans(again) == spans(first)
    fork = "https://github.com/other/widgets-fork.git"
    world.index(fixture_files(), remote=fork, rid="github:other:widgets-fork")
    forked = world.check("github:other:widgets-fork")
    assert world.syntax_runs == ran and forked.check.status is CheckStatus.FAILED
    assert spans(forked) == spans(first)


def test_after_a_one_file_change_only_that_file_is_checked_again(world: World) -> None:
    world.check()
    world.syntax_runs.clear()
    files = fixture_files() | {"app/broken_def.py": b"def fixed():\n    return 2\n"}
    world.index(files)
    result = world.check()
    assert world.syntax_runs == ["app/broken_def.py"]
    assert result.check.counts["errors"] == 3
    assert result.check.counts["reused"] == 4 and result.check.counts["tool_runs"] == 1


def test_a_clean_file_passes_and_named_paths_limit_the_check(world: World) -> None:
    result = world.check(paths=["app/ok.py", "README.md"])
    assert result.check.status is CheckStatus.PASSED
    assert result.check.counts["units"] == 1 and result.report is not None
    assert result.report.checked == ("app/ok.py",)
    directory = world.check(paths=["web/"])
    assert [d[0] for d in spans(directory)] == ["web/broken_expression.js"]


def test_a_path_missing_from_the_commit_ends_the_check_in_error(world: World) -> None:
    result = world.check(paths=["app/ok.py", "app/gone.py"])
    assert result.check.status is CheckStatus.ERROR
    assert result.check.message == "not in this commit: app/gone.py"


def test_a_redelivered_batch_is_counted_once(world: World) -> None:
    made = world.requests().request(REPO_ID, CheckRequest(level="syntax"))
    world.deliver(twice=True)
    check = world.requests().get(REPO_ID, made.check_id).check
    assert check.status is CheckStatus.FAILED
    assert check.counts["units"] == 5 and check.counts["errors"] == 4


# --- build level ---------------------------------------------------------------------------

BUILD_FILES = {
    "a.py": b"x = 1\nERROR here\n",
    "b.py": b"y = 2\n",
    "src/m.c": b'#include "m.h"\nint main(void) { return 0; }\n',
    "src/m.h": b"int helper(void);\n",
}


def test_a_build_check_runs_the_tools_then_reuses_every_closure(world: World) -> None:
    world.index(BUILD_FILES)
    first = world.check(level="build")
    assert first.check.status is CheckStatus.FAILED
    assert spans(first) == [("a.py", 2, 1, 2, 6, "py_compile")]
    ran = [(r.tool, r.subjects) for r in world.tools.runs]
    assert sorted(ran) == [
        ("gcc", ("src/m.c",)),
        ("gcc", ("src/m.h",)),
        ("py_compile", ("a.py",)),
        ("py_compile", ("b.py",)),
    ]
    m_c = next(r for r in world.tools.runs if r.subjects == ("src/m.c",))
    assert set(m_c.files) == {"src/m.c", "src/m.h"}  # the header its include reaches
    world.tools.runs.clear()
    again = world.check(level="build")
    assert world.tools.runs == [] and again.check.counts["tool_runs"] == 0
    world.index(BUILD_FILES | {"src/m.h": b"int helper(int);\n"})
    world.check(level="build")
    assert sorted(r.subjects for r in world.tools.runs) == [("src/m.c",), ("src/m.h",)]


def test_a_language_without_a_toolchain_is_an_error_not_a_pass(world: World) -> None:
    world.index(BUILD_FILES | {"svc/main.go": b"package main\n", "svc/x.rb": b"puts 1\n"})
    result = world.check(level="build")
    assert result.check.status is CheckStatus.ERROR
    assert result.check.message == "no build toolchain here for go (1 file), ruby (1 file)"
    assert result.check.stats["unsupported"] == {"go": 1, "ruby": 1}
    assert spans(result) == [("a.py", 2, 1, 2, 6, "py_compile")]  # what could run, ran


def test_an_undecided_unit_ends_in_error_and_is_never_reused(world: World) -> None:
    world.tools = FakeToolchain(slow=["gcc"])
    world.index(BUILD_FILES)
    first = world.check(level="build", paths=["src"])
    assert first.check.status is CheckStatus.ERROR
    assert "2 build unit(s) could not be decided" in str(first.check.message)
    assert first.report is not None and first.report.undecided == ("src/m.c", "src/m.h")
    world.tools.runs.clear()
    world.check(level="build", paths=["src"])
    assert len(world.tools.runs) == 2  # killed runs are tried again, not replayed


def test_a_clock_bound_syntax_result_is_not_stored_by_content(world: World) -> None:
    message = "not checked: the parser gave up after 1.0 s"
    gave_up = Diagnostic("", 1, 1, 1, 1, "warning", message, "tree-sitter")
    world.syntax = lambda path, data: [gave_up]
    first = world.check(paths=["app/ok.py"])
    assert first.check.status is CheckStatus.PASSED  # a warning: the check still decides
    world.check(paths=["app/ok.py"])
    assert world.syntax_runs == ["app/ok.py", "app/ok.py"]  # parsed again, not replayed


# --- how a check ends in error -------------------------------------------------------------


def test_a_commit_not_on_the_branch_ends_the_check_with_a_message(world: World) -> None:
    result = world.check(sha="b" * 40)
    assert result.check.status is CheckStatus.ERROR
    assert result.check.message is not None and "not on branch" in result.check.message


def test_a_dead_letter_ends_the_check_once(world: World) -> None:
    made = world.requests().request(REPO_ID, CheckRequest(level="syntax"))
    (dead,) = list(world.h.queue.pending)
    world.h.queue.pending.clear()
    runner = world.runner()
    runner.dead_letter(dead, "check")
    check = world.checks.get(REPO_ID, made.check_id)
    assert check is not None and (check.status, check.message) == (
        CheckStatus.ERROR,
        RETRIES_EXHAUSTED,
    )
    runner.dead_letter(dead, "check")  # a redelivered dead letter changes nothing
    assert world.checks.get(REPO_ID, made.check_id) == check


def test_a_dead_batch_ends_a_running_check(world: World) -> None:
    made = world.requests().request(REPO_ID, CheckRequest(level="syntax"))
    world.deliver(keep=lambda m: isinstance(m, PlanCheck))
    batches = list(world.h.queue.sent)
    dead = next(m for m in batches if isinstance(m, CheckBatch))
    world.runner().dead_letter(dead, "check")
    check = world.checks.get(REPO_ID, made.check_id)
    assert check is not None and check.status is CheckStatus.ERROR
    world.h.queue.pending.extend(m for m in batches if isinstance(m, CheckBatch))
    world.deliver()  # late batches of an ended check do nothing
    assert world.checks.get(REPO_ID, made.check_id) == check


def test_a_check_message_on_another_queue_is_refused(world: World) -> None:
    from chalicelib.errors import MalformedMessage

    with pytest.raises(MalformedMessage, match="does not belong on the index queue"):
        world.runner().handle(PlanCheck(REPO_ID, "chk-x"), "index")


class FailingQueue(FakeWorkQueue):
    def send(self, message: Message, *, delay_seconds: int = 0) -> None:
        raise TransientError("SQS unavailable")


def test_a_check_whose_message_could_not_be_sent_ends_in_error(world: World) -> None:
    world.h.queue = FailingQueue()
    with pytest.raises(TransientError):
        world.requests().request(REPO_ID, CheckRequest(level="syntax"))
    (check,) = world.checks.items.values()
    assert (check.status, check.message) == (CheckStatus.ERROR, NOT_SENT)


def test_planning_stops_before_its_deadline_and_resumes(world: World) -> None:
    made = world.requests().request(REPO_ID, CheckRequest(level="syntax"))
    plan = world.h.queue.pending.popleft()
    world.runner().handle(plan, "check", lambda: 0)  # no time left after the first batch
    resumed = [m for m in world.h.queue.pending if isinstance(m, PlanCheck)]
    assert resumed == [PlanCheck(REPO_ID, made.check_id, 1)]
    world.deliver()
    assert world.requests().get(REPO_ID, made.check_id).check.status is CheckStatus.FAILED


# --- requests, tenancy ---------------------------------------------------------------------

OTHER = Caller("otherkey0001", "other", Scope.INDEX)


def test_another_tenants_repository_is_not_found_like_an_unknown_one(world: World) -> None:
    for rid in (REPO_ID, "github:nobody:nothing"):
        with pytest.raises(NotFound, match="is not registered"):
            world.requests(OTHER).request(rid, CheckRequest(level="syntax"))
        with pytest.raises(NotFound):
            world.requests(OTHER).recent(rid, 5)
    made = world.check()
    with pytest.raises(NotFound):
        world.requests(OTHER).get(REPO_ID, made.check.check_id)
    with pytest.raises(NotFound, match="no check"):
        world.requests().get(REPO_ID, "../../etc/passwd")


def test_bad_requests_are_refused_before_anything_is_stored(world: World) -> None:
    for wanted, words in (
        (CheckRequest(level="compile"), "level"),
        (CheckRequest(level="syntax", sha="HEAD"), "40 lowercase hex"),
        (CheckRequest(level="syntax", paths=["../x"]), "'..'"),
        (CheckRequest(level="syntax", paths=[".git/config"]), ".git"),
    ):
        with pytest.raises(InvalidRequest, match=words):
            world.requests().request(REPO_ID, wanted)
    assert not world.checks.items


def test_a_repository_never_indexed_needs_a_sha() -> None:
    w = World()
    w.h.git.commit(REMOTE, {"a.py": b"x = 1\n"})
    w.h.request()  # registered and requested, not yet indexed: the head seen is known
    sha = w.h.repo().head_sha
    made = w.requests().request(REPO_ID, CheckRequest(level="syntax"))
    assert made.sha == sha


def test_recent_checks_are_listed_newest_first(world: World) -> None:
    first = world.check().check
    world.h.clock.advance(1)
    second = world.check(level="build").check
    listed = world.requests().recent(REPO_ID, 10)
    assert [c.check_id for c in listed] == [second.check_id, first.check_id]
    with pytest.raises(InvalidRequest, match="limit"):
        world.requests().recent(REPO_ID, 0)


# --- Lean statuses -------------------------------------------------------------------------

LEAN = {
    "Proofs.lean": (
        b"theorem base : True := trivial\n\n"
        b"theorem gap : 1 = 1 := by\n  sorry\n\n"
        b"theorem uses_gap : 1 = 1 := gap\n\n"
        b"theorem broken : True := (trivial\n\n"
        b"theorem uses_broken : True := broken\n"
    ),
}


def test_lean_declarations_get_their_checked_status_from_the_newest_check() -> None:
    w = World()
    w.index(LEAN)
    graph = GraphQueries(
        pointers=w.h.pointers, loader=w.h.loader, caller=TENANT,
        checks=CheckReports(checks=w.checks, blobs=w.h.blobs),
    )  # fmt: skip

    def named() -> dict[str, str]:
        found = graph.sorry(REPO_ID)
        nodes = graph._graph(REPO_ID)[1].symbols()
        return {n.name: found.statuses[n.id] for n in nodes}

    before = named()
    assert before == {
        "base": "unchecked", "gap": "sorry", "uses_gap": "blocked", "broken": "unchecked",
        "uses_broken": "unchecked",
    }  # fmt: skip
    assert graph.sorry(REPO_ID).checked is None
    result = w.check()
    assert result.check.status is CheckStatus.FAILED
    after = named()
    assert after["broken"] == "error" and after["uses_broken"] == "blocked"
    assert after["base"] == "unchecked"  # a syntax check proves nothing
    found = graph.sorry(REPO_ID)
    assert found.checked is not None and found.checked.check.check_id == result.check.check_id
    assert [n.name for n in found.errors] == ["broken"]
    around = graph.node(REPO_ID, "uses_broken", "dependencies", 1)
    assert around.statuses[around.node.id] == "blocked"


def test_checks_of_another_commit_say_nothing_about_this_one(world: World) -> None:
    w = World()
    w.index(LEAN)
    w.check()
    w.index(LEAN | {"More.lean": b"theorem more : True := trivial\n"})
    graph = GraphQueries(
        pointers=w.h.pointers, loader=w.h.loader, caller=TENANT,
        checks=CheckReports(checks=w.checks, blobs=w.h.blobs),
    )  # fmt: skip
    assert graph.sorry(REPO_ID).checked is None
