"""A client's paths through the API, on moto with real SQS and a real git repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.gitrepo import commit_files, init_repo

FILES: dict[str, str | bytes] = {
    "README.md": "# Gadgets\n\nGadgets compute checksums for uploads.\n",
    "gadgets/checksum.py": (
        "import hashlib\n\n\n"
        "def compute_checksum(data: bytes) -> str:\n"
        '    """Return the sha256 checksum of an upload."""\n'
        "    return hashlib.sha256(data).hexdigest()\n"
    ),
    "gadgets/upload.py": (
        "from gadgets.checksum import compute_checksum\n\n\n"
        "class UploadHandler:\n"
        "    def handle(self, data: bytes) -> dict:\n"
        "        return {'checksum': compute_checksum(data), 'size': len(data)}\n"
    ),
    "docs/guide.md": "# Guide\n\nCall UploadHandler.handle with the bytes.\n",
    "assets/icon.bin": b"\x00\x01\x02binary",
}


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    path = tmp_path / "gadgets"
    init_repo(path, FILES)
    return path


def index(stack: Stack, path: Path, **extra: object) -> dict[str, Any]:
    resp = stack.post("/repositories/index", {"url": str(path), **extra})
    assert resp.status_code == 200, resp.body
    body: dict[str, Any] = resp.json_body
    return body


def test_index_status_search_chat(stack: Stack, repo_path: Path) -> None:
    started = index(stack, repo_path)
    rid = started["repositoryId"]
    assert started["status"] == "indexing"
    assert rid.startswith("local:gadgets-")

    status = stack.get(f"/repositories/{rid}/status").json_body
    assert status["status"] == "indexing"

    pending = stack.post("/chat/query", {"repositoryId": rid, "question": "checksum?"})
    assert pending.status_code == 202
    assert pending.json_body["status"] == "indexing" and pending.json_body["estimatedTime"] > 0

    stack.pump.drain()
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert status["status"] == "ready", status
    assert status["indexedSha"] == status["headSha"]
    assert status["stats"]["totalFiles"] == 4
    assert status["stats"]["languages"] == {"markdown": 2, "python": 2}
    assert status["stats"]["extensions"] == {".md": 2, ".py": 2}
    assert status["stats"]["skipped"] == {"binary": 1}
    assert status["progress"] == {"filesProcessed": 5, "numFiles": 5, "filesEmbedded": None}

    found = stack.post("/search", {"repositoryId": rid, "query": "sha256 hexdigest", "k": 3})
    assert found.status_code == 200
    top = found.json_body["hits"][0]
    assert top["path"] == "gadgets/checksum.py"
    assert top["lines"][0] <= 6 <= top["lines"][1]
    assert "hexdigest" in top["snippet"]
    camel = stack.post("/search", {"repositoryId": rid, "query": "computeChecksum"}).json_body
    assert {h["path"] for h in camel["hits"]} >= {"gadgets/checksum.py", "gadgets/upload.py"}
    assert found.json_body["indexedSha"] == status["indexedSha"]

    answer = stack.post(
        "/chat/query", {"repositoryId": rid, "question": "how is the checksum computed?"}
    )
    assert answer.status_code == 200
    body = answer.json_body
    assert body["sources"] and body["conversationId"]
    source_text = FILES[body["sources"][0]["path"]]
    start, end = body["sources"][0]["lines"]
    assert 1 <= start <= end <= len(str(source_text).splitlines())
    assert not any("key" in k.lower() or "remote" in k.lower() for k in body)


def test_reindex_same_head_is_ready_at_once_and_changes_reuse_blobs(
    stack: Stack, repo_path: Path
) -> None:
    rid = index(stack, repo_path)["repositoryId"]
    stack.pump.drain()
    again = index(stack, repo_path)
    assert again["status"] == "ready" and again["stats"]["totalFiles"] == 4
    assert stack.queue_depth(stack.settings.names.queues["index"]) == 0

    commit_files(repo_path, {"gadgets/checksum.py": "def compute_checksum():\n    return 1\n"})
    assert index(stack, repo_path)["status"] == "indexing"
    stack.pump.drain()
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert status["status"] == "ready"
    assert status["stats"]["blobsParsed"] == 1 and status["stats"]["blobsReused"] == 4


def test_status_of_unknown_repository_is_idle(stack: Stack) -> None:
    resp = stack.get("/repositories/github:nobody:nothing/status")
    assert resp.status_code == 200
    assert resp.json_body["status"] == "idle"
    assert resp.json_body["indexedSha"] is None


def test_chat_on_never_indexed_repository_is_400_idle(stack: Stack) -> None:
    resp = stack.post("/chat/query", {"repositoryId": "github:nobody:nothing", "question": "hi"})
    assert resp.status_code == 400
    assert resp.json_body["status"] == "idle" and resp.json_body["message"]


def test_failed_index_reports_error_and_chat_400(stack: Stack, repo_path: Path) -> None:
    rid = index(stack, repo_path)["repositoryId"]
    for child in sorted(repo_path.rglob("*"), reverse=True):
        if child.is_file():
            child.unlink()
        else:
            child.rmdir()
    repo_path.rmdir()
    stack.pump.drain()
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert status["status"] == "error" and status["error"]
    resp = stack.post("/chat/query", {"repositoryId": rid, "question": "anything"})
    assert resp.status_code == 400 and resp.json_body["status"] == "error"


def test_health(stack: Stack) -> None:
    resp = stack.get("/health")
    assert resp.status_code == 200 and resp.json_body["status"] == "ok"


def test_a_registered_local_repository_reindexes_by_its_id(stack: Stack, repo_path: Path) -> None:
    rid = index(stack, repo_path)["repositoryId"]
    stack.pump.drain()
    again = stack.post("/repositories/index", {"repositoryId": rid, "force": True})
    assert again.status_code == 200 and again.json_body["status"] == "indexing"
    stack.pump.drain()
    assert stack.get(f"/repositories/{rid}/status").json_body["status"] == "ready"
    unknown = stack.post("/repositories/index", {"repositoryId": "local:never-registered"})
    assert unknown.status_code == 400
