"""Use cases of live status (ADR 24): WebSocket sessions (connect with an API key, subscribe
to repositories the key may read, disconnect) and the feed that pushes each recorded event
and each progress step to a repository's listeners.

Pushing is best effort, like recording events (services/events.py): a listener that cannot
be reached is logged and skipped, one API Gateway no longer knows (410 Gone) is pruned, and
nothing here ever fails the index that caused the push. Callback listeners get the events
of domain/callbacks.DELIVERED_EVENTS as DeliverCallback messages (services/callbacks.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from chalicelib.domain.callbacks import DELIVERED_EVENTS, event_json
from chalicelib.domain.events import Event
from chalicelib.domain.live import (
    MAX_SUBSCRIPTIONS,
    ClientMessage,
    Connection,
    Listener,
    encode_frame,
    error_frame,
    event_frame,
    parse_client_message,
    pong,
    progress_frame,
    status_snapshot,
    subscribed,
    unsubscribed,
)
from chalicelib.domain.messages import DeliverCallback
from chalicelib.domain.tenancy import visible
from chalicelib.errors import ConnectionGone, InvalidRequest, NotFound, StrataError, Unauthenticated
from chalicelib.ports import (
    Clock,
    ConnectionPoster,
    EventLog,
    KeyStore,
    ListenerStore,
    LiveFeed,
    RepoStore,
    WorkQueue,
)
from chalicelib.services.events import EventLogWrapper
from chalicelib.services.keys import Authenticator

log = logging.getLogger(__name__)
NOT_VISIBLE = "no repository with this id is visible to this key"


class PublishingEventLog(EventLogWrapper):
    """An event log that hands every event it recorded to the live feed: the composition
    root wraps the log the use cases append to, so each `record` is also a push."""

    def __init__(self, inner: EventLog, feed: LiveFeed) -> None:
        super().__init__(inner)
        self._feed = feed

    def append(
        self,
        repository_id: str,
        type: str,
        data: Mapping[str, object],
        at: float,
        actor: str | None = None,
    ) -> Event:
        event = self._inner.append(repository_id, type, data, at, actor)
        self._feed.published(event)
        return event


class Broadcaster:
    """The LiveFeed: frames to the repository's connections, callbacks to the queue."""

    def __init__(
        self,
        *,
        listeners: ListenerStore,
        poster: ConnectionPoster,
        queue: WorkQueue,
        repos: RepoStore,
    ) -> None:
        self._listeners = listeners
        self._poster = poster
        self._queue = queue
        self._repos = repos

    def published(self, event: Event) -> None:
        try:
            found = self._listeners.listeners(event.repository_id)
        except Exception:
            log.warning("could not list the listeners of %s", event.repository_id, exc_info=True)
            return
        frame = encode_frame(event_frame(event))
        for listener in found:
            if listener.kind == "connection":
                self._push(listener, frame)
            elif event.type in DELIVERED_EVENTS:
                self._enqueue_callback(event, listener.id)

    def progressed(self, repository_id: str) -> None:
        try:
            found = [x for x in self._listeners.listeners(repository_id) if x.kind == "connection"]
            repo = self._repos.get(repository_id) if found else None
        except Exception:
            log.warning("could not read the progress of %s", repository_id, exc_info=True)
            return
        if repo is None:
            return
        frame = encode_frame(progress_frame(repository_id, status_snapshot(repo)))
        for listener in found:
            self._push(listener, frame)

    def _push(self, listener: Listener, frame: bytes) -> None:
        try:
            self._poster.post(listener.endpoint or "", listener.id, frame)
        except ConnectionGone:
            log.info("connection %s is gone; pruning it", listener.id)
            try:
                self._listeners.disconnect(listener.id)
            except Exception:
                log.warning("could not prune connection %s", listener.id, exc_info=True)
        except Exception:
            log.warning("could not push to connection %s", listener.id, exc_info=True)

    def _enqueue_callback(self, event: Event, tenant: str) -> None:
        body = json.dumps(event_json(event), separators=(",", ":"), default=str)
        try:
            self._queue.send(DeliverCallback(event.repository_id, tenant, body))
        except Exception:
            log.warning("could not queue the callback of %s", event.repository_id, exc_info=True)


class LiveSessions:
    """The WebSocket routes' use cases. A connection runs as the API key that opened it,
    checked again (not revoked) on every subscription."""

    def __init__(
        self,
        *,
        authenticator: Authenticator,
        keys: KeyStore,
        listeners: ListenerStore,
        poster: ConnectionPoster,
        repos: RepoStore,
        clock: Clock,
        ttl_seconds: float,
    ) -> None:
        self._auth = authenticator
        self._keys = keys
        self._listeners = listeners
        self._poster = poster
        self._repos = repos
        self._clock = clock
        self._ttl = ttl_seconds

    def connect(self, connection_id: str, authorization: str | None, endpoint: str) -> None:
        """Raises Unauthenticated (the connection is refused) unless the key is good."""
        caller = self._auth.authenticate(authorization)
        now = self._clock.now()
        connection = Connection(connection_id, caller, endpoint, now)
        self._listeners.connect(connection, now + self._ttl)

    def receive(self, connection_id: str, body: str | None) -> None:
        """Act on a client's frame and answer it (an `error` frame for what was refused)."""
        connection = self._listeners.connection(connection_id)
        if connection is None:
            log.info("frame from unknown connection %s", connection_id)
            return
        try:
            frame = self._act(connection, parse_client_message(body))
        except StrataError as exc:
            frame = error_frame(exc.code, exc.message)
        try:
            self._poster.post(connection.endpoint, connection_id, encode_frame(frame))
        except ConnectionGone:
            self._listeners.disconnect(connection_id)

    def disconnect(self, connection_id: str) -> None:
        self._listeners.disconnect(connection_id)

    def _act(self, connection: Connection, message: ClientMessage) -> dict[str, object]:
        if message.action == "ping":
            return pong()
        key = self._keys.get(connection.caller.key_id)
        if key is None or key.revoked:
            raise Unauthenticated("the API key of this connection was revoked")
        rid = str(message.repository_id)
        if message.action == "unsubscribe":
            self._listeners.unsubscribe(connection, rid)
            return unsubscribed(rid)
        repo = visible(connection.caller, self._repos.get(rid))
        if repo is None:
            raise NotFound(NOT_VISIBLE)
        if rid not in connection.repositories and len(connection.repositories) >= MAX_SUBSCRIPTIONS:
            raise InvalidRequest(f"a connection follows at most {MAX_SUBSCRIPTIONS} repositories")
        self._listeners.subscribe(connection, rid, self._clock.now() + self._ttl)
        return subscribed(rid, status_snapshot(repo))
