"""Bad attribution is refused in the app, at once, with a ValueError that says what is wrong."""

from __future__ import annotations

import math
from typing import Any

import openai
import pytest

import collector.keys as keys
from collector import sdk as spendscope
from collector.sdk import _validate


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tags": {"bad key": "v"}}, "tag key 'bad key'"),
        ({"tags": {"": "v"}}, "tag key ''"),
        ({"tags": {"k": "a,b"}}, "comma"),
        ({"tags": {"k": ""}}, "value of 1-200"),
        ({"tags": {"k": "x" * 201}}, "value of 1-200"),
        ({"tags": {"k": 3}}, "string value"),
        ({"tags": {f"k{i}": "v" for i in range(21)}}, "at most 20 tags"),
        ({"tags": ["k=v"]}, "mapping"),
        ({"user": "  "}, "user must be 1-200"),
        ({"user": "a\nb"}, "user must be 1-200"),
        ({"metadata": {"when": object()}}, "JSON-serializable"),
        ({"metadata": {"x": math.nan}}, "JSON-serializable"),
        ({"metadata": {1: "x"}}, "keys must be strings"),
        ({"metadata": {"blob": "x" * 5000}}, "at most 4096"),
        ({"metadata": "{}"}, "mapping"),
    ],
)
def test_bad_values_raise_value_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message), spendscope.attribute(**options):
        pass
    with pytest.raises(ValueError, match=message):
        spendscope.spendscope_client(
            openai.OpenAI, base_url="http://127.0.0.1:9/v1", api_key="sk-ss-x", **options
        )


def test_nested_blocks_are_checked_together() -> None:
    with spendscope.attribute(tags={f"a{i}": "v" for i in range(15)}):
        with (
            pytest.raises(ValueError, match="at most 20 tags"),
            spendscope.attribute(tags={f"b{i}": "v" for i in range(6)}),
        ):
            pass
        with spendscope.attribute(tags={f"a{i}": "w" for i in range(15)}):  # same keys: fine
            pass


def test_a_failed_block_leaves_no_scope_behind() -> None:
    with pytest.raises(ValueError), spendscope.attribute(user=""):
        pass
    with spendscope.attribute(user="ok") as scope:
        assert scope.attribution.user == "ok"


def test_limits_are_the_gateways() -> None:
    assert _validate.MAX_TAGS == keys.MAX_TAGS
    assert _validate.MAX_TAG_VALUE == keys.MAX_TAG_VALUE
    assert _validate.MAX_USER == keys.MAX_USER
    assert _validate.MAX_METADATA_BYTES == keys.MAX_METADATA_BYTES
    from collector.keys import _validate as gateway_rules

    assert _validate.MAX_TAG_KEY == gateway_rules.MAX_TAG_KEY


def test_importing_the_middleware_stays_light() -> None:
    import subprocess
    import sys

    heavy = "{'pandas', 'dash', 'sqlalchemy'}"
    code = f"import sys, collector.sdk; print(sorted({heavy} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
