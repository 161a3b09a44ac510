"""The response cache's settings, declared apart to keep ``collector.settings`` small:
``Settings`` inherits them, so they are still read, documented and overridden through the one
object."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings


class CacheSettings(BaseSettings):
    """The response cache: exact match, and the optional semantic cache on top of it."""

    # --- response cache ------------------------------------------------------------------
    cache_enabled: bool = Field(
        False,
        description="Response cache (exact match of deterministic requests); off by default. "
        "Even on, a request is cached only when its project or key opted in, or its "
        "x-spendscope-cache header says on.",
    )
    cache_projects: list[str] = Field(
        default_factory=list,
        description="Projects whose requests use the response cache, JSON [name, ...]; "
        '["*"] for every project.',
    )
    cache_keys: list[str] = Field(
        default_factory=list,
        description="Virtual keys (their prefix, as keys list shows it) whose requests use "
        "the response cache, JSON [prefix, ...].",
    )
    cache_ttl_s: float = Field(
        3600.0, gt=0, description="How long a cached answer is served (seconds)."
    )
    cache_max_entries: int = Field(
        10_000, ge=1, description="In-memory response cache: most answers kept (LRU)."
    )
    cache_max_bytes: int = Field(
        64 << 20, ge=1, description="In-memory response cache: most bytes of answers kept (LRU)."
    )
    cache_max_entry_bytes: int = Field(
        1 << 20, ge=1, description="Answers larger than this are not cached (bytes)."
    )
    cache_redis: bool = Field(
        True,
        description="Keep cached answers in Redis (SPENDSCOPE_REDIS_URL) when it is set, "
        "shared by every gateway process; false keeps them in each process's memory.",
    )
    cache_shared_across_projects: bool = Field(
        False,
        description="Let projects read each other's cached answers (by default an answer is "
        "served only to the project it was cached for).",
    )
    cache_semantic: bool = Field(
        False,
        description="Semantic cache: on an exact miss, answer a similar question asked before "
        "(same project, model, earlier messages and parameters) when the cosine similarity of "
        "their embeddings reaches cache_semantic_threshold. Needs cache_enabled, and applies "
        "only to requests the response cache serves. Each lookup is an embeddings call to the "
        "upstream, recorded and priced as a request of its own.",
    )
    cache_semantic_threshold: float = Field(
        0.9,
        gt=0,
        le=1,
        description="Semantic cache: the least cosine similarity that counts as the same "
        "question. Tune it on your own traffic and embedding model (docs/engineers.md).",
    )
    cache_semantic_model: str = Field(
        "text-embedding-3-small",
        min_length=1,
        description="Semantic cache: the embedding model asked (routed like any model).",
    )
    cache_semantic_timeout_s: float = Field(
        2.0,
        gt=0,
        description="Semantic cache: longest an embeddings call may take before the request "
        "goes upstream without it (seconds).",
    )
    cache_semantic_bucket_size: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Semantic cache: most questions compared per bucket (the newest are kept).",
    )
    cache_semantic_max_vectors: int = Field(
        10_000,
        ge=1,
        description="In-memory semantic cache: most question vectors kept in all "
        "(a 1536-dimension vector is 6 KiB).",
    )

    @field_validator("cache_semantic")
    @classmethod
    def _needs_the_cache(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("cache_enabled", False):
            raise ValueError("needs SPENDSCOPE_CACHE_ENABLED=true (it answers from that cache)")
        return value
