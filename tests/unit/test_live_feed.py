"""The live feed and the callback sender over in-memory ports (ADR 24): pushing never fails
the caller, a gone connection is pruned, and a delivery connects only to an address it
checked at that moment (a name that now resolves to a private address is dropped)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest

from chalicelib.domain.callbacks import CallbackRules, CallbackTarget
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Scope
from chalicelib.domain.live import CallbackRegistration, Connection, Listener
from chalicelib.domain.messages import DeliverCallback, Message
from chalicelib.domain.models import Repository
from chalicelib.errors import ConnectionGone, TransientError
from chalicelib.services.callbacks import CallbackConfig, CallbackFailed, CallbackSender
from chalicelib.services.live import Broadcaster

RID = "github:acme:widgets"
CALLER = Caller("k1", "acme", Scope.READ)


class Listeners:
    def __init__(self, found: list[Listener], fail: bool = False) -> None:
        self.found = found
        self.fail = fail
        self.disconnected: list[str] = []
        self.registration: CallbackRegistration | None = None

    def listeners(self, repository_id: str) -> list[Listener]:
        if self.fail:
            raise TransientError("DynamoDB unavailable")
        return [x for x in self.found if x.id not in self.disconnected]

    def disconnect(self, connection_id: str) -> None:
        self.disconnected.append(connection_id)

    def callback(self, repository_id: str, tenant: str) -> CallbackRegistration | None:
        return self.registration

    # Not used here.
    def connect(self, connection: Connection, expires_at: float) -> None: ...
    def connection(self, connection_id: str) -> Connection | None: ...
    def subscribe(self, c: Connection, repository_id: str, expires_at: float) -> None: ...
    def unsubscribe(self, c: Connection, repository_id: str) -> None: ...
    def register_callback(self, r: CallbackRegistration, expires_at: float) -> None: ...


class Poster:
    def __init__(self, gone: set[str]) -> None:
        self.gone = gone
        self.sent: list[tuple[str, bytes]] = []

    def post(self, endpoint: str, connection_id: str, data: bytes) -> None:
        if connection_id in self.gone:
            raise ConnectionGone("gone")
        self.sent.append((connection_id, data))

    def close(self, endpoint: str, connection_id: str) -> None: ...


class Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[Message, int]] = []

    def send(self, message: Message, *, delay_seconds: int = 0) -> None:
        self.sent.append((message, delay_seconds))

    def send_many(self, messages: Sequence[Message]) -> None: ...


class Repos:
    def get(self, repository_id: str) -> Repository | None:
        return Repository(id=repository_id, remote="https://github.com/acme/widgets")


class Transport:
    def __init__(self, addresses: list[str], statuses: list[int]) -> None:
        self.addresses = addresses
        self.statuses = statuses
        self.posted: list[tuple[str, Mapping[str, str]]] = []

    def resolve(self, host: str, port: int) -> list[str]:
        return self.addresses

    def post(
        self, target: CallbackTarget, address: str, body: bytes, headers: Mapping[str, str]
    ) -> int:
        self.posted.append((address, headers))
        return self.statuses.pop(0)


class Vault:
    def seal(self, token: str) -> str:
        return "sealed:" + token[::-1]

    def open(self, sealed: str) -> str:
        return sealed.removeprefix("sealed:")[::-1]


class Clock:
    def now(self) -> float:
        return 1_700_000_000.0


def event(type: str = "GenerationPublished") -> Event:
    return Event(RID, "001700000000000#abc", type, 1.7e9, {"sha": "a" * 40})


def feed(listeners: Listeners, poster: Poster, queue: Queue) -> Broadcaster:
    return Broadcaster(listeners=listeners, poster=poster, queue=queue, repos=Repos())  # type: ignore[arg-type]


def test_pushes_to_connections_prunes_the_gone_and_queues_callbacks() -> None:
    listeners = Listeners(
        [
            Listener("connection", "alive", "https://api/stage"),
            Listener("connection", "dead", "https://api/stage"),
            Listener("callback", "acme"),
        ]
    )
    poster, queue = Poster({"dead"}), Queue()
    feed(listeners, poster, queue).published(event())
    assert [cid for cid, _ in poster.sent] == ["alive"]
    assert json.loads(poster.sent[0][1])["event"]["type"] == "GenerationPublished"
    assert listeners.disconnected == ["dead"]
    [(message, _)] = queue.sent
    assert isinstance(message, DeliverCallback) and message.tenant == "acme"


def test_only_the_end_of_a_run_is_called_back() -> None:
    listeners, queue = Listeners([Listener("callback", "acme")]), Queue()
    feed(listeners, Poster(set()), queue).published(event("IndexRequested"))
    assert queue.sent == []


def test_pushing_never_fails_the_caller() -> None:
    broken = Listeners([], fail=True)
    feed(broken, Poster(set()), Queue()).published(event())
    feed(broken, Poster(set()), Queue()).progressed(RID)


def sender(transport: Transport, queue: Queue, attempts: int = 3) -> CallbackSender:
    listeners = Listeners([])
    listeners.registration = CallbackRegistration(
        RID, "acme", "https://hooks.example.com/x", Vault().seal("s" * 20)
    )
    config = CallbackConfig(rules=CallbackRules(), attempts=attempts, retry_seconds=10)
    return CallbackSender(
        listeners=listeners,
        vault=Vault(),
        transport=transport,
        queue=queue,
        clock=Clock(),
        config=config,
    )


def message(attempt: int = 1) -> DeliverCallback:
    return DeliverCallback(RID, "acme", json.dumps({"id": "e1", "type": "IndexFailed"}), attempt)


def test_a_name_that_now_resolves_to_a_private_address_is_not_called() -> None:
    transport, queue = Transport(["93.184.216.34", "10.0.0.7"], [200]), Queue()
    sender(transport, queue).deliver(message())
    assert transport.posted == [] and queue.sent == []


def test_a_failed_attempt_is_sent_again_later_and_the_last_one_fails() -> None:
    transport, queue = Transport(["93.184.216.34"], [500, 500]), Queue()
    sender(transport, queue).deliver(message(1))
    [(again, delay)] = queue.sent
    assert isinstance(again, DeliverCallback) and again.attempt == 2 and delay == 10
    with pytest.raises(CallbackFailed, match="failed 3 times"):
        sender(transport, queue).deliver(message(3))
    assert transport.posted[0][0] == "93.184.216.34"  # the address that was checked
