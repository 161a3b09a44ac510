"""Row 3: after signing in, ``next`` only ever leads to a path on the dashboard's own site."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from dashboard._redirect import safe_next
from tests.dashboard.conftest import ADMIN
from tests.dashboard.test_auth import client, sign_in

__all__ = ["client"]

BYPASSES = [
    "/\t/evil.example/x",
    "/%09/evil.example/x",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "/%5cevil.example",
    "/%2fevil.example",
    "/%2F%2Fevil.example",
    "/%252f%252fevil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "/ /evil.example",
    "http://evil.example/",
    "https:evil.example",
    "evil.example",
    "\x00//evil.example",
    "/\u3002evil.example",
    "",
]


@pytest.mark.parametrize("target", BYPASSES)
def test_known_open_redirect_bypasses_go_home(client: FlaskClient, target: str) -> None:
    answer = sign_in(client, ADMIN, next_=target)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/spend?range=30d", "/requests", "/reliability?tag=a%3Db"])
def test_local_paths_are_kept(target: str) -> None:
    assert safe_next(target) == target
