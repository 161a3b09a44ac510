"""Budget scopes: which requests a budget (or alert rule) covers.

Syntax: ``global`` | ``project:NAME`` | ``key:PREFIX`` | ``user:ID`` | ``model:NAME`` |
``tag:K=V``. A scope is a value; :func:`matches` decides whether a request's subject is in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from collector.budgets._errors import BudgetConfigError

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}")


class ScopeKind(StrEnum):
    GLOBAL = "global"
    PROJECT = "project"
    KEY = "key"
    USER = "user"
    MODEL = "model"
    TAG = "tag"


@dataclass(frozen=True, slots=True)
class Scope:
    """One scope; ``value`` is None only for ``global``."""

    kind: ScopeKind
    value: str | None = None

    def __str__(self) -> str:
        return self.kind.value if self.value is None else f"{self.kind.value}:{self.value}"

    @property
    def tag(self) -> tuple[str, str]:
        """The (key, value) of a ``tag:K=V`` scope."""
        if self.kind is not ScopeKind.TAG or self.value is None:
            raise BudgetConfigError(f"scope {self} is not a tag scope")
        key, _, val = self.value.partition("=")
        return key, val


@dataclass(frozen=True, slots=True)
class Subject:
    """What a request is, for scope matching (filled from the resolved virtual key)."""

    project: str | None = None
    key_prefix: str | None = None
    user: str | None = None
    model: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def parse_scope(text: str) -> Scope:
    """Parse scope syntax; raise BudgetConfigError naming what is wrong."""
    raw = text.strip()
    if raw == "global":
        return Scope(ScopeKind.GLOBAL)
    kind_text, sep, value = raw.partition(":")
    known = ", ".join(k.value for k in ScopeKind)
    if not sep:
        raise BudgetConfigError(f"unknown scope {text!r}; expected global or KIND:VALUE ({known})")
    try:
        kind = ScopeKind(kind_text)
    except ValueError:
        raise BudgetConfigError(
            f"unknown scope kind {kind_text!r} in {text!r}; use {known}"
        ) from None
    if kind is ScopeKind.GLOBAL or not value.strip():
        raise BudgetConfigError(f"scope {text!r} needs a value after '{kind_text}:'")
    if kind is ScopeKind.TAG:
        key, eq, val = value.partition("=")
        if not eq or not key.strip() or not val.strip():
            raise BudgetConfigError(f"tag scope {text!r} must look like tag:KEY=VALUE")
    return Scope(kind, value.strip())


def matches(scope: Scope, subject: Subject) -> bool:
    """Whether a request with this subject counts against the scope."""
    if scope.kind is ScopeKind.GLOBAL:
        return True
    if scope.kind is ScopeKind.TAG:
        key, val = scope.tag
        return subject.tags.get(key) == val
    if scope.kind is ScopeKind.MODEL:
        return subject.model is not None and model_matches(scope.value or "", subject.model)
    actual = {
        ScopeKind.PROJECT: subject.project,
        ScopeKind.KEY: subject.key_prefix,
        ScopeKind.USER: subject.user,
    }[scope.kind]
    return actual is not None and actual == scope.value


def model_matches(name: str, model: str) -> bool:
    """A model scope covers the name and its dated snapshots (gpt-4o → gpt-4o-2024-08-06)."""
    if model == name:
        return True
    return model.startswith(name) and _SNAPSHOT.fullmatch(model[len(name) :]) is not None
