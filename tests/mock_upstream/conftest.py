"""Fixtures for the mock upstream: one shared server, SDK clients, and OpenAPI validation.

The OpenAPI YAML is 3 MB; it is parsed once per session and pickled next to pytest's cache
(keyed by size and mtime) so later sessions skip the parse.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from jsonschema import Draft202012Validator

from collector.mock_upstream import MockConfig, run_in_thread

SPEC = Path(os.environ.get("SPENDSCOPE_OPENAPI_SPEC", "/work/shared/reference/openai-openapi.yaml"))


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` (still used in places) as JSON-schema ``null``."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list):
            out["enum"] = [*out["enum"], None]
        if "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _components() -> dict[str, Any]:
    stat = SPEC.stat()
    cache_file = (
        Path(tempfile.gettempdir()) / f"openai-openapi-{stat.st_size}-{stat.st_mtime_ns}.pkl"
    )
    if cache_file.exists():
        with cache_file.open("rb") as handle:
            cached: dict[str, Any] = pickle.load(handle)
            return cached
    with SPEC.open("rb") as handle:
        document = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    components: dict[str, Any] = _nullable(document["components"])
    partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
    with partial.open("wb") as handle:
        pickle.dump(components, handle)
    partial.replace(cache_file)
    return components


@cache
def _validator(name: str) -> Draft202012Validator:
    components = _components()
    assert name in components["schemas"], f"no schema {name}"
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": components})


class OpenApi:
    """Validates instances against ``#/components/schemas/<name>`` of OpenAI's spec."""

    def validate(self, instance: Any, name: str) -> None:
        errors = sorted(_validator(name).iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, f"{name}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]
        )


@pytest.fixture(scope="session")
def openapi() -> Callable[[Any, str], None]:
    """``openapi(instance, "SchemaName")`` asserts the instance is valid."""
    return OpenApi().validate


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    with run_in_thread(MockConfig(seed=7, retry_after_s=0.01)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=10)


@pytest.fixture
def scenario() -> str:
    """A fresh scenario id, so attempt counters never leak between tests."""
    return f"test-{uuid.uuid4().hex}"
