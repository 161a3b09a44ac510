"""A realistic fake OpenAI API with scripted faults, for the demo, the tests and the benchmarks.

It speaks the shapes of ``openai-openapi.yaml`` (chat completions, Responses, embeddings, legacy
completions, models, moderations, audio, images; background responses, retrieved and cancelled
as ``_background`` says), counts usage with ``collector.tokens``, serves
dated snapshot names (``gpt-4o-mini`` → ``gpt-4o-mini-2024-07-18``) and answers unknown model
families with OpenAI's 404 ``model_not_found``. Every ``/v1`` response carries ``x-request-id``,
``openai-processing-ms``, ``openai-version`` and ``x-ratelimit-{limit,remaining,reset}-
{requests,tokens}`` (a one-minute window, reported but never enforced).

Auth: ``Authorization: Bearer <non-empty>`` or 401 in OpenAI's error shape;
``MockConfig.require_key`` (CLI ``--require-key``) demands one exact key (401
``invalid_api_key`` otherwise) — so a test can prove a gateway sends its own key;
``MockConfig.accept_keys`` accepts a set of them, and ``PUT /_mock/keys`` (``{"keys": [...]}``)
replaces that set while serving — so a test can revoke an upstream key under load.

Request headers (all optional; they override the ``MockConfig`` defaults for one request):

``x-mock-fault: 429,500,ok``
    Fault per attempt of the scenario named by ``x-mock-scenario``: the Nth attempt gets the Nth
    entry, attempts after the last repeat the last entry. Without ``x-mock-scenario`` every
    request gets the first entry. Kinds: ``ok``; ``429`` (``retry-after`` whole seconds rounded
    up and ``retry-after-ms``; ``429@0.05`` sets the wait in seconds, default
    ``retry_after_s``); ``500`` and ``503`` (OpenAI JSON errors); ``502`` (Cloudflare's HTML
    page, as OpenAI's edge sends it); ``timeout`` (sleep ``timeout_fault_s`` or ``timeout@S``
    seconds, then answer normally); ``reset`` (TCP RST, no response); ``cut`` (streams: send
    half the events — ``cut@N``: N events — then close without ``[DONE]`` or usage;
    non-streams: half the body under a full ``Content-Length``); ``malformed`` (200 whose JSON,
    or whose first SSE event, is invalid). A bad spec is a 400.
``x-mock-scenario: <id>``
    Client-chosen id counting attempts; ``GET /_mock/scenarios/<id>`` returns
    ``{"scenario": id, "attempts": n}`` so tests can assert how often a gateway retried.
``x-mock-latency-ms: N``
    Delay before anything is sent (also before faults).
``x-mock-tokens-per-s: N``
    Pace of streamed token events; 0 = as fast as possible (one write per stream).
``x-mock-output-tokens: N``
    Visible output tokens per choice (default ``MockConfig.output_tokens``, else 12..51 chosen
    from the seed and request body), capped by ``max_tokens``/``max_completion_tokens``/
    ``max_output_tokens`` with ``finish_reason: length`` / ``status: incomplete``.
``x-mock-reasoning-tokens: N``
    Reasoning tokens per choice; default 64..256 for o-series and gpt-5, 0 otherwise. They are
    included in ``completion_tokens``/``output_tokens`` and share the output limit.
``x-mock-cached-tokens: N``
    ``cached_tokens`` to report (capped at the prompt). Without it: a prompt of ≥ 1024 tokens
    sent again (same model, messages and tools) reports the largest multiple of 128 strictly
    below its prompt tokens (if that is ≥ 1024); first sight reports 0.
``x-mock-cache-write-tokens: N``
    ``cache_write_tokens`` to report (Chat's ``prompt_tokens_details``, Responses'
    ``input_tokens_details``), capped at the prompt tokens not reported cached; default 0.
``x-mock-tool-call: <name>``
    With ``tools``, call that function (any other value: the first tool). Without the header a
    tool is also called when ``tool_choice`` is ``"required"`` or names a function, or when the
    last message is the user's and contains a tool's function name; never when ``tool_choice``
    is ``"none"`` or the last message is a tool result. Tool-call ``completion_tokens`` =
    tokens of the function name + tokens of the arguments JSON.
``x-mock-audio-seconds: S``
    Transcription duration; else form field ``mock_duration_s``, else the WAV header, else
    upload size at 16 kB/s. ``whisper-1`` reports ``{"type": "duration", "seconds": ceil(S)}``;
    gpt-4o transcribe models report token usage (10 audio tokens a second).

Text is deterministic pseudo-English in which every piece is one token (see ``_text``), so the
token count of streamed text equals the reported visible completion tokens. Moderation flags a
category only when the input contains ``[flag:<category>]``.

Scenario file (``--scenario FILE``, YAML or JSON; header faults take precedence)::

    seed: 7                      # optional; else --seed
    rules:                       # first match wins; no match = ok
      - path: /v1/chat/completions   # optional exact path
        model: gpt-4o            # optional prefix of the requested model
        latency_ms: 120          # optional, replaces --latency-ms for matching requests
        faults: {"429": 0.05, "500": 0.01, "timeout@2": 0.005, cut: 0.01}

One seeded RNG draws once per matching request, so a run replays identically for the same
request order. A bad file raises :class:`ScenarioError` with a one-line message.
"""

from collector.mock_upstream._app import create_app, run_in_thread, serve
from collector.mock_upstream._config import MockConfig
from collector.mock_upstream._scenario import Scenario, ScenarioError, load_scenario

__all__ = [
    "MockConfig",
    "Scenario",
    "ScenarioError",
    "create_app",
    "load_scenario",
    "run_in_thread",
    "serve",
]
