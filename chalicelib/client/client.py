"""`StrataClient`: Strata's HTTP API as typed Python calls (sync; retries in transport.py).

    client = StrataClient("http://127.0.0.1:8000", api_key=key)
    rid = client.index_repository(url="/src/project").repository_id
    client.wait_until_indexed(rid, timeout=120)
    hits = client.search("where is a generation published", repository_id=rid).hits

Every method is one route. Requests are built, and answers read, with the wire models of
`chalicelib.api.models` (the models the API validates and its OpenAPI document is made
from), so a request the API would refuse for its shape fails here as a BadRequest without a
status, and an answer is a model, never a dict. Failures raise the types of errors.py.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from chalicelib.api.models import (
    ChatRequest,
    ChatResponse,
    CheckAccepted,
    CheckList,
    CheckRequest,
    CheckView,
    CommitRequest,
    CommitResponse,
    CreatedKey,
    CreateKeyRequest,
    EventsResponse,
    HealthResponse,
    IndexRequest,
    IndexResponse,
    KeyList,
    KeyView,
    NodeResponse,
    RequestModel,
    SearchRequest,
    SearchResponse,
    SorryResponse,
    StatusResponse,
    SymbolsResponse,
    WavesResponse,
)
from chalicelib.client.errors import BadRequest, ClientError
from chalicelib.client.targets import index_target
from chalicelib.client.transport import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    Transport,
    repository_path,
    with_query,
)

R = TypeVar("R", bound=BaseModel)
Q = TypeVar("Q", bound=RequestModel)
FINISHED = ("ready", "error")
CHECK_ENDED = ("passed", "failed", "error")


class StrataClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = Transport(
            base_url, api_key=api_key, timeout=timeout, retries=retries, sleep=sleep
        )
        self._sleep = sleep
        self._clock = clock

    @property
    def base_url(self) -> str:
        return self._http.base_url

    # --- repositories ---------------------------------------------------------------------

    def index_repository(
        self,
        *,
        url: str | None = None,
        repository_id: str | None = None,
        owner: str | None = None,
        repo: str | None = None,
        branch: str | None = None,
        force: bool = False,
        access_token: str | None = None,
    ) -> IndexResponse:
        """Register a repository and ask for an index; name it in one way: `url`,
        `repository_id`, or `owner` and `repo`."""
        fields = _given(
            url=url,
            repository_id=repository_id,
            owner=owner,
            repo=repo,
            branch=branch,
            access_token=access_token,
            force=force or None,
        )
        return self._post("/repositories/index", _request(IndexRequest, fields), IndexResponse)

    def index(
        self, target: str, *, branch: str | None = None, force: bool = False
    ) -> IndexResponse:
        """Index what a person typed: a directory, an https URL, owner/repo or an id
        (NotATarget when it is none of them)."""
        return self.index_repository(**index_target(target), branch=branch, force=force)

    def status(self, repository_id: str) -> StatusResponse:
        return self._get(repository_path(repository_id, "/status"), StatusResponse)

    def wait_until_indexed(
        self,
        repository_id: str,
        *,
        timeout: float | None = None,
        poll_seconds: float = 0.5,
        on_status: Callable[[StatusResponse, bool], None] | None = None,
        vectors: bool = False,
    ) -> StatusResponse:
        """Poll the status until ready or error (`on_status(status, finished)` sees each);
        ClientError when it is still going after `timeout` seconds. Ready means searchable
        (lexically, while vectors may still be embedded); with `vectors`, wait until they
        are done too (`vectors` no longer `embedding`)."""
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            status = self.status(repository_id)
            finished = status.status in FINISHED
            if vectors and status.status == "ready" and status.vectors == "embedding":
                finished = False
            if on_status is not None:
                on_status(status, finished)
            if finished:
                return status
            if deadline is not None and self._clock() > deadline:
                raise ClientError(f"{repository_id} is still {status.status} after {timeout:g} s")
            self._sleep(poll_seconds)

    def events(
        self, repository_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> EventsResponse:
        path = repository_path(repository_id, "/events")
        return self._get(with_query(path, {"limit": limit, "cursor": cursor}), EventsResponse)

    # --- queries --------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        repository_id: str | None = None,
        repository_ids: Sequence[str] | None = None,
        owner: str | None = None,
        k: int = 10,
        mode: str = "hybrid",
    ) -> SearchResponse:
        """Ranked hits (modes hybrid, lexical, semantic, symbol) over one repository, a list
        of them, or an owner's: give one scope."""
        ids = None if repository_ids is None else list(repository_ids)
        fields = _given(repository_id=repository_id, repository_ids=ids, owner=owner)
        request = _request(SearchRequest, {**fields, "query": query, "k": k, "mode": mode})
        return self._post("/search", request, SearchResponse)

    def ask(
        self, repository_id: str, question: str, *, conversation_id: str | None = None
    ) -> ChatResponse:
        """An answer with the sources it cites, verified at the indexed commit."""
        fields = _given(
            repository_id=repository_id, question=question, conversation_id=conversation_id
        )
        return self._post("/chat/query", _request(ChatRequest, fields), ChatResponse)

    def symbols(
        self, repository_id: str, q: str = "", *, kind: str | None = None, limit: int = 20
    ) -> SymbolsResponse:
        path = repository_path(repository_id, "/symbols")
        query = {"q": q or None, "kind": kind, "limit": limit}
        return self._get(with_query(path, query), SymbolsResponse)

    def graph_node(
        self, repository_id: str, name: str, *, direction: str = "dependencies", depth: int = 1
    ) -> NodeResponse:
        """A symbol's or file's dependencies or dependents, `depth` steps out."""
        path = repository_path(repository_id, f"/graph/nodes/{quote(name, safe='')}")
        query = {"direction": direction, "depth": depth}
        return self._get(with_query(path, query), NodeResponse)

    def waves(self, repository_id: str) -> WavesResponse:
        return self._get(repository_path(repository_id, "/graph/waves"), WavesResponse)

    def sorry(self, repository_id: str) -> SorryResponse:
        return self._get(repository_path(repository_id, "/graph/sorry"), SorryResponse)

    # --- checks ---------------------------------------------------------------------------

    def request_check(
        self,
        repository_id: str,
        *,
        level: str = "syntax",
        sha: str | None = None,
        paths: Sequence[str] | None = None,
    ) -> CheckAccepted:
        """Check files of a commit (the indexed one unless `sha`) at `syntax` or `build`
        level; the answer names the check to poll."""
        fields = _given(level=level, sha=sha, paths=None if paths is None else list(paths))
        path = repository_path(repository_id, "/checks")
        return self._send("POST", path, _request(CheckRequest, fields).dump(), CheckAccepted)

    def check(self, repository_id: str, check_id: str) -> CheckView:
        path = repository_path(repository_id, f"/checks/{quote(check_id, safe='')}")
        return self._get(path, CheckView)

    def checks(self, repository_id: str, *, limit: int | None = None) -> CheckList:
        path = repository_path(repository_id, "/checks")
        return self._get(with_query(path, {"limit": limit}), CheckList)

    def wait_for_check(
        self,
        repository_id: str,
        check_id: str,
        *,
        timeout: float | None = None,
        poll_seconds: float = 0.5,
    ) -> CheckView:
        """Poll a check until it passed, failed or ended in error; ClientError when it is
        still going after `timeout` seconds."""
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            found = self.check(repository_id, check_id)
            if found.status in CHECK_ENDED:
                return found
            if deadline is not None and self._clock() > deadline:
                raise ClientError(f"check {check_id} is still {found.status} after {timeout:g} s")
            self._sleep(poll_seconds)

    # --- commits --------------------------------------------------------------------------

    def commit(
        self,
        repository_id: str,
        *,
        branch: str,
        base_sha: str,
        message: str,
        author: tuple[str, str],
        changes: Sequence[Mapping[str, object]],
        check: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommitResponse:
        """Commit `changes` (file_change(), deletion()) on `base_sha` to `branch`, as the
        (name, email) `author`; `check` ("syntax", "build") refuses syntax errors first.
        Conflict (its `current_sha`) when the branch is not at `base_sha`; Unprocessable
        (its `diagnostics`) when the check found errors. Sent with an Idempotency-Key (a new
        one unless given), so a request that got no answer, or a 503, is sent again safely."""
        name, email = author
        fields = _given(
            branch=branch,
            base_sha=base_sha,
            message=message,
            author={"name": name, "email": email},
            changes=[dict(c) for c in changes],
            check=check,
        )
        body = _request(CommitRequest, fields).dump()
        key = idempotency_key or str(uuid.uuid4())
        path = repository_path(repository_id, "/commits")
        reply = self._http.send(
            "POST", path, body, headers={"Idempotency-Key": key}, idempotent=True
        )
        return self._read("POST", path, reply.status, reply.body, CommitResponse)

    # --- keys and health ------------------------------------------------------------------

    def create_key(self, tenant: str, scope: str, *, name: str | None = None) -> CreatedKey:
        """A new API key; its secret (`key`) is in this answer only."""
        fields = _given(tenant=tenant, scope=scope, name=name)
        return self._post("/keys", _request(CreateKeyRequest, fields), CreatedKey)

    def list_keys(self, tenant: str | None = None) -> KeyList:
        return self._get(with_query("/keys", {"tenant": tenant}), KeyList)

    def revoke_key(self, key_id: str) -> KeyView:
        return self._send("DELETE", f"/keys/{quote(key_id, safe='')}", None, KeyView)

    def health(self) -> HealthResponse:
        return self._get("/health", HealthResponse)

    # --- plumbing -------------------------------------------------------------------------

    def _get(self, path: str, answer: type[R]) -> R:
        return self._send("GET", path, None, answer)

    def _post(self, path: str, request: RequestModel, answer: type[R]) -> R:
        return self._send("POST", path, request.dump(), answer)

    def _send(self, method: str, path: str, body: object, answer: type[R]) -> R:
        reply = self._http.send(method, path, body)
        return self._read(method, path, reply.status, reply.body, answer)

    def _read(self, method: str, path: str, status: int, body: Any, answer: type[R]) -> R:
        try:
            return answer.model_validate(body)
        except ValidationError as exc:
            raise ClientError(
                f"the API answered {method} {path.partition('?')[0]} with an unexpected "
                f"{answer.__name__} ({_first_problem(exc)})",
                status=status,
                body=body,
            ) from exc


def file_change(path: str, data: bytes) -> dict[str, object]:
    """A file's new bytes: as text when they are UTF-8, else base64."""
    try:
        return {"path": path, "content": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"path": path, "contentBase64": base64.b64encode(data).decode("ascii")}


def deletion(path: str) -> dict[str, object]:
    return {"path": path, "delete": True}


def _given(**fields: object) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _request(model: type[Q], fields: dict[str, Any]) -> Q:
    """The request model, or a BadRequest (no status: nothing was sent) naming the field."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise BadRequest(f"invalid {model.__name__}: {_first_problem(exc)}") from exc


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    more = f" and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"
