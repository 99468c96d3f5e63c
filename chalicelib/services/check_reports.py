"""The newest finished check of a commit, as the graph queries read it (Lean declarations'
checked status, domain/proof_status.py): one Query of the repository's recent checks and one
GET of that check's report."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.check_codecs import decode_report
from chalicelib.domain.check_plan import run_prefix, run_report_key
from chalicelib.domain.checks import Check, CheckStatus
from chalicelib.domain.ids import storage_key
from chalicelib.domain.proof_status import CheckedFiles, checked_files
from chalicelib.errors import NotFound
from chalicelib.ports import BlobStore, CheckStore

RECENT = 20  # the checks looked at for one commit, newest first
DECIDING = (CheckStatus.PASSED, CheckStatus.FAILED)


@dataclass(frozen=True)
class CheckedAt:
    check: Check
    files: CheckedFiles


class CheckReports:
    def __init__(self, *, checks: CheckStore, blobs: BlobStore) -> None:
        self._checks = checks
        self._blobs = blobs

    def latest(self, repository_id: str, sha: str) -> CheckedAt | None:
        """The newest passed or failed check of `sha` whose report is readable (a build
        before a syntax check of the same age: it says more)."""
        found = [c for c in self._checks.recent(repository_id, RECENT) if c.sha == sha]
        found = [c for c in found if c.status in DECIDING]
        found.sort(key=lambda c: (c.created_at, c.level == "build"), reverse=True)
        for check in found:
            key = run_report_key(run_prefix(storage_key(repository_id), check.check_id))
            try:
                report = decode_report(self._blobs.get(key))
            except (NotFound, ValueError):
                continue
            files = checked_files(report.checked, report.diagnostics, level=check.level)
            return CheckedAt(check, files)
        return None
