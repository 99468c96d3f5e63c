"""The embedded AWS lists moto's service modules once, not on every request."""

from __future__ import annotations

import os

import pytest
from moto import backends as moto_backends

from chalicelib.local import embedded


def test_moto_modules_are_listed_once_and_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_backends, "list_of_moto_modules", moto_backends.list_of_moto_modules)
    listed = list(moto_backends.list_of_moto_modules())
    assert {"s3", "sqs", "dynamodb"} <= set(listed)

    embedded._list_moto_modules_once()
    embedded._list_moto_modules_once()  # idempotent: still the one listing

    def no_listing(path: str) -> list[str]:
        raise AssertionError(f"listed {path} again")

    monkeypatch.setattr(os, "listdir", no_listing)
    assert list(moto_backends.list_of_moto_modules()) == listed
    assert "sqs" in moto_backends.list_of_moto_modules()  # how moto's server asks
