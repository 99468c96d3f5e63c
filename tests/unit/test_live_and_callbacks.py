"""Pure rules of live status and callbacks (ADR 24): which notifyUrls and addresses are
allowed, the GitHub-style signature, the retry schedule, and the frames a client may send."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.domain.callbacks import (
    SIGNATURE_HEADER,
    CallbackRules,
    address_allowed,
    addresses_allowed,
    callback_body,
    callback_headers,
    parse_notify_url,
    retry_delay,
    signature,
    signature_matches,
)
from chalicelib.domain.live import parse_client_message
from chalicelib.errors import InvalidRequest

PUBLIC = CallbackRules()
LOCAL = CallbackRules(allow_private=True)


def test_accepts_an_https_url_of_a_host_name() -> None:
    target = parse_notify_url("https://hooks.example.com:8443/strata?x=1", PUBLIC)
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 8443)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "https://169.254.169.254/",
        "https://10.0.0.1/",
        "https://192.168.1.10/",
        "https://127.0.0.1/",
        "https://0x7f.1/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fe80::1]/",
        "https://u:p@hooks.example.com/",
        "https://hooks.example.com/#frag",
        "https://hooks.example.com:99999/",
        "https:///x",
        "javascript:alert(1)",
    ],
)
def test_refuses_what_remotes_may_not_be(url: str) -> None:
    with pytest.raises(InvalidRequest, match="notifyUrl"):
        parse_notify_url(url, PUBLIC)


def test_an_operator_may_allow_loopback_and_private_but_never_link_local() -> None:
    assert parse_notify_url("http://127.0.0.1:8080/hook", LOCAL).port == 8080
    assert address_allowed("10.1.2.3", LOCAL)
    assert address_allowed("::ffff:127.0.0.1", LOCAL)
    for address in ("169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1"):
        assert not address_allowed(address, LOCAL)
    assert not address_allowed("127.0.0.1", PUBLIC)
    assert address_allowed("93.184.216.34", PUBLIC)


def test_one_refused_address_refuses_the_name() -> None:
    assert addresses_allowed(["93.184.216.34"], PUBLIC)
    assert not addresses_allowed(["93.184.216.34", "10.0.0.1"], PUBLIC)
    assert not addresses_allowed([], PUBLIC)


def test_the_allow_list_takes_the_git_hosts_syntax() -> None:
    rules = CallbackRules(hosts=("*.example.com",))
    assert parse_notify_url("https://ci.example.com/x", rules).host == "ci.example.com"
    with pytest.raises(InvalidRequest, match="STRATA_CALLBACK_HOSTS"):
        parse_notify_url("https://example.org/x", rules)


def test_signs_the_raw_body_as_github_does() -> None:
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    # GitHub's documented example of X-Hub-Signature-256.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature(secret, body) == expected
    assert signature_matches(secret, body, expected)
    assert not signature_matches("another secret", body, expected)
    assert not signature_matches(secret, body + b" ", expected)
    assert not signature_matches(secret, body, None)


def test_headers_sign_the_body_that_carries_the_time_sent() -> None:
    event = {"id": "000001#abc", "type": "GenerationPublished", "data": {}}
    body = callback_body(event, 1_700_000_000.5)
    headers = callback_headers("s" * 20, body, event=event, delivery_id="d", sent_at=1.7e9)
    digest = hmac.new(b"s" * 20, body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={digest}"
    assert b'"sentAt":1700000000' in body


def test_retries_back_off_four_times_longer_each_time_up_to_fifteen_minutes() -> None:
    assert [retry_delay(n, 10) for n in range(1, 7)] == [10, 40, 160, 640, 900, 900]
    assert retry_delay(3, 0) == 0


def test_reads_the_frames_a_client_may_send() -> None:
    message = parse_client_message('{"action": "subscribe", "repositoryId": "github:o:r"}')
    assert (message.action, message.repository_id) == ("subscribe", "github:o:r")
    assert parse_client_message('{"action": "ping"}').action == "ping"
    for bad in ("", "[]", "{", '{"action": "kill"}', '{"action": "subscribe"}', "x" * 5000):
        with pytest.raises(InvalidRequest):
            parse_client_message(bad)
    with pytest.raises(InvalidRequest, match="unknown fields"):
        parse_client_message('{"action": "ping", "extra": 1}')
