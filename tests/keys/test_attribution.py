"""Attribution headers: merged over the key's own values, never across projects."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from collector.errors import InvalidRequest
from collector.keys import (
    METADATA_HEADER,
    TAGS_HEADER,
    USER_HEADER,
    Attribution,
    KeyPrincipal,
    parse_attribution,
)


def _principal(user: str | None = None, **tags: str) -> KeyPrincipal:
    return KeyPrincipal(
        api_key_id=7, project_id=3, project="acme", key_prefix="sk-ss-abcdefgh",
        end_user=user, tags=MappingProxyType(tags), rpm=None, tpm=None,
    )  # fmt: skip


def test_no_headers_gives_the_keys_own_attribution() -> None:
    got = parse_attribution({}, None, _principal(team="search"))
    assert got == Attribution(end_user=None, tags={"team": "search"}, metadata={})


def test_all_three_headers() -> None:
    headers = {
        USER_HEADER: "alice",
        TAGS_HEADER: "feature=autocomplete, env=prod",
        METADATA_HEADER: '{"trace_id": "abc", "n": 3}',
        "x-spendscope-project": "someone-else",  # no such header: the project is the key's
    }
    got = parse_attribution(headers, "body-user", _principal(team="search"))
    assert got.end_user == "alice"
    assert got.tags == {"team": "search", "feature": "autocomplete", "env": "prod"}
    assert got.metadata == {"trace_id": "abc", "n": 3}


def test_header_names_are_case_insensitive() -> None:
    got = parse_attribution({"X-SpendScope-User": "bob", "X-SPENDSCOPE-TAGS": "a=1"}, None,
                            _principal())  # fmt: skip
    assert (got.end_user, got.tags) == ("bob", {"a": "1"})


def test_body_user_is_used_when_nothing_else_names_one() -> None:
    assert parse_attribution({}, "  carol ", _principal()).end_user == "carol"
    assert parse_attribution({}, "   ", _principal()).end_user is None
    assert parse_attribution({}, "u" * 500, _principal()).end_user == "u" * 200


def test_a_keys_user_is_authoritative() -> None:
    principal = _principal(user="alice")
    assert parse_attribution({}, "mallory", principal).end_user == "alice"
    assert parse_attribution({USER_HEADER: "alice"}, None, principal).end_user == "alice"
    with pytest.raises(InvalidRequest) as info:
        parse_attribution({USER_HEADER: "mallory"}, None, principal)
    assert info.value.param == USER_HEADER


def test_a_keys_tags_cannot_be_changed_by_a_header() -> None:
    principal = _principal(team="search")
    same = parse_attribution({TAGS_HEADER: "team=search,env=dev"}, None, principal)
    assert same.tags == {"team": "search", "env": "dev"}
    with pytest.raises(InvalidRequest) as info:
        parse_attribution({TAGS_HEADER: "team=ads"}, None, principal)
    assert info.value.param == TAGS_HEADER
    assert "team" in info.value.message


@pytest.mark.parametrize(
    "value",
    [
        "noequals",
        "=value",
        "key=",
        "a=1,a=2",
        "bad key=1",
        "k=" + "v" * 201,
        "k" * 65 + "=v",
        "k=tab\there",
        ",".join(f"k{i}=v" for i in range(21)),
    ],
)
def test_malformed_tags_are_refused(value: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_attribution({TAGS_HEADER: value}, None, _principal())
    assert info.value.param == TAGS_HEADER
    assert info.value.status == 400
    assert info.value.body()["error"]["param"] == TAGS_HEADER


def test_tag_count_includes_the_keys_tags() -> None:
    principal = _principal(**{f"k{i}": "v" for i in range(15)})
    parse_attribution({TAGS_HEADER: ",".join(f"h{i}=v" for i in range(5))}, None, principal)
    with pytest.raises(InvalidRequest):
        parse_attribution({TAGS_HEADER: ",".join(f"h{i}=v" for i in range(6))}, None, principal)


def test_empty_tag_segments_are_ignored() -> None:
    got = parse_attribution({TAGS_HEADER: " a=1, ,b=2,"}, None, _principal())
    assert got.tags == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    "value",
    ["{not json", "[1, 2]", '"text"', "null", json.dumps({"blob": "x" * 5000})],
)
def test_malformed_metadata_is_refused(value: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_attribution({METADATA_HEADER: value}, None, _principal())
    assert info.value.param == METADATA_HEADER


@pytest.mark.parametrize("value", ["", "   ", "x" * 201, "a\nb"])
def test_malformed_user_header_is_refused(value: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_attribution({USER_HEADER: value}, None, _principal())
    assert info.value.param == USER_HEADER


def test_the_keys_tags_are_not_modified() -> None:
    principal = _principal(team="search")
    got = parse_attribution({TAGS_HEADER: "env=prod"}, None, principal)
    got.tags["extra"] = "1"
    assert dict(principal.tags) == {"team": "search"}
