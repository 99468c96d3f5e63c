"""The whole indexing and query path wired to in-memory fakes, for fast unit tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters.extractive_answerer import ExtractiveAnswerer
from chalicelib.domain.identity import ADMIN_TENANT, Caller, Scope
from chalicelib.domain.messages import Message
from chalicelib.domain.models import Job, Lease, Repository
from chalicelib.ports import ChatModel, Embedder
from chalicelib.services.chat import ChatService
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.services.generations import GenerationLoader, PointerCache
from chalicelib.services.index_requests import IndexOutcome, IndexRequests, IndexTarget
from chalicelib.services.pipeline import IndexPipeline
from chalicelib.services.retrieval import SignalCache
from chalicelib.services.retriever import QueryVectors, Retriever
from chalicelib.services.search import Searcher
from tests.fakes.aws import FakeBlobStore, FakeClock, FakeGitEngine, FakeTokenVault, FakeWorkQueue
from tests.fakes.stores import (
    FakeConversationStore,
    FakeJobStore,
    FakeLockManager,
    FakeRepoStore,
)

REMOTE = "https://github.com/acme/widgets.git"
REPO_ID = "github:acme:widgets"
# Who the harness asks as, unless a test says otherwise: a tenant's index key, and an admin.
TENANT = Caller("acmekey00001", "acme", Scope.INDEX)
ADMIN = Caller("adminkey0001", ADMIN_TENANT, Scope.ADMIN)


@dataclass
class Harness:
    config: IndexConfig = field(default_factory=lambda: IndexConfig(batch_files=2))
    git: FakeGitEngine = field(default_factory=FakeGitEngine)
    blobs: FakeBlobStore = field(default_factory=FakeBlobStore)
    queue: FakeWorkQueue = field(default_factory=FakeWorkQueue)
    clock: FakeClock = field(default_factory=FakeClock)
    locks: FakeLockManager = field(default_factory=FakeLockManager)
    jobs: FakeJobStore = field(default_factory=FakeJobStore)
    conversations: FakeConversationStore = field(default_factory=FakeConversationStore)
    embedder: Embedder | None = None
    caller: Caller = TENANT
    repos: FakeRepoStore = field(init=False)

    def __post_init__(self) -> None:
        self.repos = FakeRepoStore(self.locks)
        self.loader = GenerationLoader(self.blobs)
        self.pointers = PointerCache(self.repos, self.clock, ttl_seconds=0)

    def repo(self, repository_id: str = REPO_ID) -> Repository:
        """The repository's item, which the test knows exists."""
        repo = self.repos.get(repository_id)
        assert repo is not None, repository_id
        return repo

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        assert job is not None, job_id
        return job

    def lease(self, repository_id: str = REPO_ID) -> Lease:
        lease = self.locks.get(repository_id)
        assert lease is not None, repository_id
        return lease

    @property
    def ports(self) -> IndexPorts:
        return IndexPorts(
            git=self.git,
            blobs=self.blobs,
            queue=self.queue,
            repos=self.repos,
            locks=self.locks,
            jobs=self.jobs,
            vault=FakeTokenVault(),
            clock=self.clock,
            embedder=self.embedder,
        )

    def pipeline(self) -> IndexPipeline:
        return IndexPipeline(ports=self.ports, config=self.config)

    def request(self, caller: Caller | None = None, **target: Any) -> IndexOutcome:
        target.setdefault("repository_id", REPO_ID)
        requests = IndexRequests(ports=self.ports, config=self.config)
        return requests.request(IndexTarget(**target), caller or self.caller)

    def run(
        self, *, duplicate: bool = False, keep: Callable[[Message], bool] | None = None
    ) -> list[Message]:
        """Deliver queued messages until none is left (each twice with `duplicate`).
        Messages for which `keep` is False are dropped, as if their worker died."""
        delivered: list[Message] = []
        pipeline = self.pipeline()
        for _ in range(10_000):
            if not self.queue.pending:
                return delivered
            msg = self.queue.pending.popleft()
            if keep is not None and not keep(msg):
                continue
            delivered.append(msg)
            for _ in range(2 if duplicate else 1):
                pipeline.handle(msg, msg.queue)
        raise AssertionError("the pipeline did not settle")

    @property
    def retriever(self) -> Retriever:
        signals = SignalCache(self.blobs, self.loader.segment)
        return Retriever(signals, QueryVectors(self.embedder))

    def searcher(self, caller: Caller | None = None) -> Searcher:
        return Searcher(
            pointers=self.pointers,
            loader=self.loader,
            retriever=self.retriever,
            repos=self.repos,
            caller=caller or self.caller,
        )

    def chat(self, caller: Caller | None = None, model: ChatModel | None = None) -> ChatService:
        return ChatService(
            pointers=self.pointers,
            loader=self.loader,
            retriever=self.retriever,
            answerer=ExtractiveAnswerer(),
            conversations=self.conversations,
            clock=self.clock,
            ttl_seconds=3600,
            caller=caller or self.caller,
            model=model,
        )


SAMPLE_FILES: dict[str, str] = {
    "README.md": "# Widgets\n\nWidgets are assembled by the factory.\n",
    "widgets/config.py": (
        "import json\n\n\n"
        "def parse_config(path):\n"
        '    """Read the widget configuration file."""\n'
        "    with open(path) as f:\n"
        "        return json.load(f)\n"
    ),
    "widgets/factory.py": (
        "from widgets.config import parse_config\n\n\n"
        "class WidgetFactory:\n"
        "    def build(self, path):\n"
        "        config = parse_config(path)\n"
        "        return [config['name']] * config['count']\n"
    ),
    "tests/test_factory.py": "def test_build():\n    assert True\n",
    "node_modules/left-pad/index.js": "module.exports = () => 1\n",
    "logo.png": "\x89PNG\r\n\x1a\n\x00\x00binary",
}
