"""Which company serves a request: the provider of an upstream, and of a price.

An upstream's provider is configured (``SPENDSCOPE_UPSTREAM_PROVIDERS``) or inferred from its
base URL's host; a catalog entry names the provider whose price it is. The gateway records
the provider on every attempt and request, and prices a model only with its provider's entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

OPENAI = "openai"
ANTHROPIC = "anthropic"
GOOGLE = "google"
OTHER = "other"  # any other OpenAI-compatible server: priced by whichever entry names the model
PROVIDERS = (OPENAI, ANTHROPIC, GOOGLE, OTHER)
# How reports name them (FOCUS ProviderName / PublisherName / InvoiceIssuerName)
DISPLAY_NAMES = {OPENAI: "OpenAI", ANTHROPIC: "Anthropic", GOOGLE: "Google", OTHER: "Other"}

_HOSTS = {
    "api.anthropic.com": ANTHROPIC,
    "generativelanguage.googleapis.com": GOOGLE,
}


def provider_of_url(base_url: str) -> str:
    """The provider a base URL's host belongs to; ``openai`` for every other host."""
    host = (urlsplit(base_url).hostname or "").lower()
    return _HOSTS.get(host, OPENAI)


def check_provider(name: str) -> str:
    """``name`` if it is a known provider, else ValueError naming the known ones."""
    if name not in PROVIDERS:
        raise ValueError(f"unknown provider {name!r} (known: {', '.join(PROVIDERS)})")
    return name


def providers_of(configured: Mapping[str, str], bases: Mapping[str, str]) -> dict[str, str]:
    """Each upstream's provider (``bases``: name → base URL): configured, else its host's.

    ValueError names a configured upstream that does not exist, or an unknown provider.
    """
    for name, provider in configured.items():
        if name not in bases:
            raise ValueError(f"unknown upstream {name!r} (known: {', '.join(sorted(bases))})")
        if provider not in PROVIDERS:
            known = ", ".join(PROVIDERS)
            raise ValueError(f"{name!r} has unknown provider {provider!r} (known: {known})")
    return {name: configured.get(name) or provider_of_url(base) for name, base in bases.items()}
