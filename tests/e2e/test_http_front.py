"""The local HTTP front on real sockets: bounded lengths, deadlines, a fixed pool, a real
backlog, the before_reply hook, and the app's routes unchanged behind it."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from chalice.app import Chalice

from chalicelib import bootstrap
from chalicelib.local.http_server import MAX_BODY_BYTES, FrontLimits, HttpServer

WAIT = 10.0  # the longest any client here waits for an answer
DEFAULTS = FrontLimits()
SHORT = FrontLimits(header_timeout=1.0, body_timeout=1.0)


@dataclass
class Probe:
    """What the test app saw, and a gate its /hold route waits on."""

    calls: int = 0
    entered: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def front_app(probe: Probe) -> Chalice:
    app = Chalice(app_name="front-test")

    @app.route("/echo", methods=["POST"])
    def echo() -> dict[str, Any]:
        probe.calls += 1
        time.sleep(0.05)  # concurrent requests overlap; each must still see its own body
        request = app.current_request
        assert request is not None
        return {"received": request.json_body}

    @app.route("/hold")
    def hold() -> dict[str, Any]:
        probe.entered.release()
        probe.release.wait(WAIT)
        return {"held": True}

    return app


@contextmanager
def serving(app: Any, limits: FrontLimits = DEFAULTS, **kwargs: Any) -> Iterator[HttpServer]:
    server = HttpServer(app, "127.0.0.1", 0, limits=limits, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def read_answer(sock: socket.socket) -> Answer:
    response = http.client.HTTPResponse(sock)
    response.begin()
    raw = response.read()
    body = json.loads(raw) if raw else None
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)


def connect(server: HttpServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)


def send(port: int, raw: bytes) -> Answer:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def post_bytes(path: str, body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def closed_by_server(sock: socket.socket) -> bool:
    """Reads until EOF; False if the server kept the connection open for WAIT seconds."""
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def assert_error(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json"
    assert answer.body["error"]["code"] == code, answer.body
    assert answer.body["error"]["message"]


@pytest.mark.parametrize("value", ["abc", "-1", "", "1.5", "+5", "0x10", "²"])
def test_malformed_or_negative_content_length_gets_400_json(
    front_app: Chalice, probe: Probe, value: str
) -> None:
    with serving(front_app) as server:
        raw = f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {value}\r\n\r\n"
        answer = send(server.port, raw.encode("latin-1"))
    assert_error(answer, 400, "invalid_request")
    assert probe.calls == 0


@pytest.mark.parametrize("value", ["99999999999999999999999", "9" * 5000, str(MAX_BODY_BYTES + 1)])
def test_content_length_over_the_cap_gets_413_json_before_any_body(
    front_app: Chalice, probe: Probe, value: str
) -> None:
    with serving(front_app) as server:
        raw = f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {value}\r\n\r\n"
        answer = send(server.port, raw.encode())
    assert_error(answer, 413, "payload_too_large")
    assert probe.calls == 0


def test_a_body_just_over_the_apps_limit_reaches_the_app(front_app: Chalice) -> None:
    limit = bootstrap.settings().max_body_bytes  # the app answers its own 413 past this
    assert limit < MAX_BODY_BYTES
    body = json.dumps({"pad": "x" * limit}).encode()
    with serving(front_app) as server:
        answer = send(server.port, post_bytes("/echo", body))
    assert answer.status == 200
    assert len(answer.body["received"]["pad"]) == limit


def test_expect_continue_with_an_oversized_length_gets_413_not_100(front_app: Chalice) -> None:
    head = f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n"
    with serving(front_app) as server, connect(server) as sock:
        sock.sendall(f"{head}Expect: 100-continue\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(65536):  # raw: http.client would skip a 100 Continue
            raw += chunk
    status, _, rest = raw.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 413 "), raw
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("request_line", "status", "code"),
    [
        ("BREW /echo HTTP/1.1", 501, "not_implemented"),
        ("GET /echo HTTP/9.9", 505, "http_version_not_supported"),
        ("GET /echo HTTP/1.1 extra", 400, "bad_request"),
    ],
)
def test_the_fronts_own_refusals_are_json(
    front_app: Chalice, request_line: str, status: int, code: str
) -> None:
    with serving(front_app) as server:
        answer = send(server.port, f"{request_line}\r\nHost: t\r\n\r\n".encode())
    assert_error(answer, status, code)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ("Transfer-Encoding: chunked\r\n", 411, "length_required"),
        ("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", 400, "invalid_request"),
    ],
)
def test_chunked_bodies_are_refused(
    front_app: Chalice, probe: Probe, headers: str, status: int, code: str
) -> None:
    with serving(front_app) as server:
        raw = f"POST /echo HTTP/1.1\r\nHost: t\r\n{headers}\r\n4\r\n{{}}\r\n0\r\n\r\n"
        answer = send(server.port, raw.encode())
    assert_error(answer, status, code)
    assert probe.calls == 0


def test_a_stalled_body_gets_408_and_its_connection_closed(front_app: Chalice) -> None:
    with serving(front_app, SHORT) as server, connect(server) as sock:
        sock.sendall(post_bytes("/echo", b'{"n": 1}')[:-3])  # three bytes short
        answer = read_answer(sock)
        assert_error(answer, 408, "request_timeout")
        assert closed_by_server(sock)


def test_headers_trickled_a_byte_at_a_time_hit_the_header_deadline(front_app: Chalice) -> None:
    with serving(front_app, SHORT) as server, connect(server) as sock:
        sock.sendall(b"GET /hold HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        for _ in range(int(WAIT / 0.2)):  # a byte every 0.2 s: within any per-read timeout
            if _readable(sock, 0.2):
                break
            sock.sendall(b"a")
        else:
            pytest.fail(f"the front was still reading the headers after {WAIT} s")
        answer = read_answer(sock)
    assert_error(answer, 408, "request_timeout")


def test_thirty_stalled_clients_do_not_grow_the_thread_count(front_app: Chalice) -> None:
    with serving(front_app, SHORT) as server:
        before = threading.active_count()
        address = ("127.0.0.1", server.port)
        clients = [socket.create_connection(address, timeout=WAIT) for _ in range(30)]
        try:
            for sock in clients:
                sock.sendall(post_bytes("/echo", b'{"n": 1}')[:-3])
            during = max(_sampled(threading.active_count, 0.5))
            assert all(read_answer(sock).status == 408 for sock in clients)
        finally:
            for sock in clients:
                sock.close()
    assert during <= before


def test_connections_beyond_the_pool_and_queue_get_503(front_app: Chalice, probe: Probe) -> None:
    limits = FrontLimits(workers=1, queue_size=1)
    with serving(front_app, limits) as server:
        address = ("127.0.0.1", server.port)
        hold = b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"
        with socket.create_connection(address, timeout=WAIT) as served:
            served.sendall(hold)
            assert probe.entered.acquire(timeout=WAIT)  # the only worker is busy
            with socket.create_connection(address, timeout=WAIT) as queued:
                queued.sendall(hold)
                refused = send(server.port, hold)
                probe.release.set()
                first = read_answer(served)
                assert (first.status, first.headers["connection"]) == (200, "close")  # others wait
                assert read_answer(queued).status == 200
    assert_error(refused, 503, "unavailable")
    assert refused.headers["retry-after"]


def test_hundred_posts_in_bursts_of_twenty_are_all_answered(front_app: Chalice) -> None:
    outcomes: list[object] = []
    with serving(front_app) as server:
        for burst in range(5):
            outcomes += _burst(server.port, range(burst * 20, burst * 20 + 20))
    assert outcomes == list(range(100))  # each answered 200 with its own body, none reset


def test_a_burst_waits_in_the_listen_backlog_until_the_front_accepts(front_app: Chalice) -> None:
    server = HttpServer(front_app, "127.0.0.1", 0)  # listening, not accepting yet
    try:
        clients: list[socket.socket] = []
        failures: list[str] = []

        def connect() -> None:
            try:
                clients.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            except OSError as exc:
                failures.append(repr(exc))

        threads = [threading.Thread(target=connect) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert failures == []  # a backlog of 5 leaves 13 of 20 unconnected
            for n, sock in enumerate(clients):
                sock.sendall(post_bytes("/echo", json.dumps({"n": n}).encode()))
            server.start()
            assert [read_answer(sock).body["received"]["n"] for sock in clients] == list(
                range(len(clients))
            )
        finally:
            for sock in clients:
                sock.close()
    finally:
        server.stop()


def test_before_reply_sees_method_and_status_before_the_client_gets_a_byte(
    front_app: Chalice,
) -> None:
    seen: list[tuple[str, int]] = []
    called, proceed = threading.Event(), threading.Event()

    def before_reply(method: str, status: int) -> None:
        seen.append((method, status))
        called.set()
        proceed.wait(WAIT)

    with serving(front_app, before_reply=before_reply) as server, connect(server) as sock:
        sock.sendall(post_bytes("/echo", b'{"n": 7}'))
        assert called.wait(WAIT)
        assert not _readable(sock, 0.5)  # the hook holds the answer back
        proceed.set()
        answer = read_answer(sock)
    assert seen == [("POST", 200)]
    assert answer.body == {"received": {"n": 7}}


def test_a_failing_before_reply_turns_the_answer_into_503(front_app: Chalice, probe: Probe) -> None:
    def before_reply(method: str, status: int) -> None:
        raise OSError("disk full")

    with serving(front_app, before_reply=before_reply) as server:
        answer = send(server.port, post_bytes("/echo", b'{"n": 7}'))
    assert probe.calls == 1  # the app ran, but its answer was not acknowledged
    assert_error(answer, 503, "unavailable")


def test_health_and_a_json_route_work_through_the_front(front_app: Chalice) -> None:
    from app import app

    with serving(app) as server:
        health = send(server.port, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
    assert (health.status, health.body) == (200, {"status": "ok", "service": "strata"})
    with serving(front_app) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
        try:
            for n in range(3):  # one kept-alive connection
                body = json.dumps({"n": n, "text": "é" * 1000})
                connection.request("POST", "/echo", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                assert (response.status, json.loads(response.read())) == (
                    200,
                    {"received": json.loads(body)},
                )
        finally:
            connection.close()


def test_stop_ends_idle_connections_and_the_workers(front_app: Chalice) -> None:
    before = threading.active_count()
    patient = FrontLimits(header_timeout=60.0)  # longer than any wait here
    with serving(front_app, patient) as server, connect(server) as silent, connect(server) as kept:
        kept.sendall(post_bytes("/echo", b"{}"))
        assert read_answer(kept).status == 200  # kept alive, its worker waits for more
        server.stop()
        assert closed_by_server(silent)
        assert closed_by_server(kept)
        server.stop()  # twice is fine
    assert threading.active_count() == before


def test_a_taken_port_is_reported(front_app: Chalice) -> None:
    with serving(front_app) as server:
        taken = server.port
        with pytest.raises(OSError, match=f"port {taken} for the API is unavailable"):
            HttpServer(front_app, "127.0.0.1", taken)


def _burst(port: int, numbers: range) -> list[object]:
    """Posts from len(numbers) connections at once; each one's echoed number or its failure."""
    start = threading.Barrier(len(numbers))
    results: dict[int, object] = {}

    def post(n: int) -> None:
        start.wait()
        try:
            answer = send(port, post_bytes("/echo", json.dumps({"n": n}).encode()))
            results[n] = answer.body["received"]["n"] if answer.status == 200 else answer
        except OSError as exc:
            results[n] = repr(exc)

    threads = [threading.Thread(target=post, args=(n,)) for n in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results.get(n) for n in numbers]


def _readable(sock: socket.socket, seconds: float) -> bool:
    """Whether the server sent anything (or closed) within `seconds`."""
    sock.settimeout(seconds)
    try:
        sock.recv(1, socket.MSG_PEEK)  # b"" when closed: readable too
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    finally:
        sock.settimeout(WAIT)
    return True


def _sampled(measure: Callable[[], int], seconds: float) -> list[int]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(measure())
        time.sleep(0.05)
    return samples
