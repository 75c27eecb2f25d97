"""Who explains and predicts: Claude through the anthropic SDK, or an offline baseline.

Both answer ``explain(FeatureExamples)`` and ``predict(explanation, examples)`` with an
``Answer``: the parsed value (None when the reply could not be parsed even after one retry
with a reminder), the raw reply text and the token usage. API failures that retries do not
cure become ``AutointerpError`` with a message that says what to do; the API key is never
part of a message, a log line or a stored result.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import anthropic
import tomllib

from ssae_core.analysis.autointerp import prompts
from ssae_core.analysis.autointerp.examples import Example, FeatureExamples, marked, plain, words
from ssae_core.infra.config import Config
from ssae_core.infra.errors import SSAEError


class AutointerpError(SSAEError):
    """The backend cannot be used (no key, key rejected, unknown model, ...)."""


@dataclass(frozen=True)
class ClaudeConfig(Config):
    model: str = "claude-sonnet-5"
    """The Claude model id."""
    concurrency: int = 8
    """Requests in flight at once."""
    timeout_s: float = 60.0
    max_retries: int = 4
    """The SDK's own retries with backoff (429, 529, 5xx, connection errors)."""
    explain_max_tokens: int = 500
    predict_max_tokens: int = 100
    price_input_per_mtok: float = 3.0
    """USD, uncached input."""
    price_output_per_mtok: float = 15.0
    version: int = 1

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.price_input_per_mtok
            + usage.output_tokens * self.price_output_per_mtok
        ) / 1e6


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens


@dataclass
class Answer:
    value: object  # explanation str, predictions list[int], or None if unparseable
    raw: str
    usage: Usage = field(default_factory=Usage)


def find_api_key(secrets: Path = Path(".streamlit/secrets.toml")) -> str | None:
    """``$ANTHROPIC_API_KEY``, else ``ANTHROPIC_API_KEY`` in the Streamlit secrets file,
    else None."""
    key = os.environ.get("ANTHROPIC_API_KEY")
    if key:
        return key
    try:
        return tomllib.loads(secrets.read_text()).get("ANTHROPIC_API_KEY") or None
    except (OSError, tomllib.TOMLDecodeError):
        return None


class ClaudeBackend:
    """Interpreter and predictor through ``AsyncAnthropic`` with at most ``concurrency`` requests in
    flight."""

    def __init__(
        self, cfg: ClaudeConfig = ClaudeConfig(), api_key: str | None = None, http_client=None
    ):
        key = api_key or find_api_key()
        if not key:
            raise AutointerpError(
                "No Anthropic API key: set ANTHROPIC_API_KEY or put it in .streamlit/secrets.toml,"
                " or use the offline baseline (--backend offline)."
            )
        self.cfg = cfg
        self.label = f"claude:{cfg.model}"
        self.client = anthropic.AsyncAnthropic(
            api_key=key, max_retries=cfg.max_retries, timeout=cfg.timeout_s, http_client=http_client
        )
        self.slots = asyncio.Semaphore(cfg.concurrency)

    async def explain(self, fx: FeatureExamples) -> Answer:
        message = prompts.interpreter_message([marked(e) for e in fx.explain], list(fx.lens_tokens))
        return await self._ask_parsed(
            prompts.INTERPRETER_SYSTEM,
            message,
            self.cfg.explain_max_tokens,
            prompts.parse_explanation,
            prompts.EXPLAIN_REMINDER,
        )

    async def predict(self, explanation: str, examples: tuple[Example, ...]) -> Answer:
        message = prompts.predictor_message(explanation, [plain(e) for e in examples])
        return await self._ask_labels(prompts.PREDICTOR_SYSTEM, message, len(examples))

    async def fuzz(self, explanation: str, examples: tuple[Example, ...]) -> Answer:
        """Per example (tokens with ``acts`` > 0 shown marked): 1 if the marks are the feature's."""
        message = prompts.fuzz_message(explanation, [marked(e) for e in examples])
        return await self._ask_labels(prompts.FUZZ_SYSTEM, message, len(examples))

    async def _ask_labels(self, system: str, message: str, n: int) -> Answer:
        """A list of ``n`` 0/1 labels, with one reminder when the reply has none."""
        return await self._ask_parsed(
            system,
            message,
            self.cfg.predict_max_tokens,
            lambda r: prompts.parse_predictions(r, n),
            prompts.PREDICT_REMINDER.format(n=n),
        )

    async def _ask_parsed(
        self, system: str, message: str, max_tokens: int, parse, reminder: str
    ) -> Answer:
        """Ask; if the reply does not parse, ask once more with a reminder; never raise on a bad
        reply."""
        messages = [{"role": "user", "content": message}]
        usage = Usage()
        raw = ""
        for _attempt in range(2):
            raw, used = await self.ask(system, messages, max_tokens)
            usage.add(used)
            value = parse(raw)
            if value is not None:
                return Answer(value, raw, usage)
            messages = messages + [
                {"role": "assistant", "content": raw or "(empty)"},
                {"role": "user", "content": reminder},
            ]
        return Answer(None, raw, usage)

    def params(self, system: str, messages: list[dict], max_tokens: int) -> dict:
        """Messages API parameters; the fixed system prompt is marked for prompt caching."""
        return {
            "model": self.cfg.model,
            "max_tokens": max_tokens,
            "messages": messages,
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        }

    async def batch(
        self, requests: dict[str, tuple[str, list[dict], int]], poll_s: float = 60.0
    ) -> dict[str, tuple[str, Usage]]:
        """Send ``{custom_id: (system, messages, max_tokens)}`` as one Message Batch (half price),
        wait for it to end, and return ``{custom_id: (text, usage)}`` matched by id (errored or
        expired requests: empty text).
        """
        async with _ApiErrors(self.cfg):
            created = await self.client.messages.batches.create(
                requests=[
                    {"custom_id": cid, "params": self.params(*r)} for cid, r in requests.items()
                ]
            )
            batch = created
            while batch.processing_status != "ended":
                await asyncio.sleep(poll_s)
                batch = await self.client.messages.batches.retrieve(created.id)
            out = {cid: ("", Usage()) for cid in requests}
            async for entry in await self.client.messages.batches.results(created.id):
                if entry.result.type == "succeeded":
                    out[entry.custom_id] = _text_and_usage(entry.result.message)
        return out

    async def ask(self, system: str, messages: list[dict], max_tokens: int) -> tuple[str, Usage]:
        """One Messages API call; the fixed system prompt is marked for prompt caching."""
        async with self.slots, _ApiErrors(self.cfg):
            reply = await self.client.messages.create(**self.params(system, messages, max_tokens))
        return _text_and_usage(reply)


def _text_and_usage(reply) -> tuple[str, Usage]:
    text = "".join(block.text for block in reply.content if getattr(block, "type", "") == "text")
    return text, Usage(reply.usage.input_tokens or 0, reply.usage.output_tokens or 0)


class _ApiErrors:
    """Turns API failures that the SDK's retries did not cure into one ``AutointerpError`` that says
    what to do."""

    def __init__(self, cfg: ClaudeConfig):
        self.cfg = cfg

    async def __aenter__(self):
        return self

    async def __aexit__(self, kind, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, anthropic.AuthenticationError):
            raise AutointerpError(
                "The Anthropic API rejected the API key (authentication error). Check"
                " ANTHROPIC_API_KEY, or use the offline baseline."
            ) from None
        if isinstance(exc, anthropic.PermissionDeniedError):
            raise AutointerpError(
                "The Anthropic API key is not allowed to use this model or endpoint (permission"
                " denied)."
            ) from None
        if isinstance(exc, anthropic.NotFoundError):
            raise AutointerpError(
                f"The Anthropic API does not know the model {self.cfg.model!r}; choose another with"
                " --model."
            ) from None
        if isinstance(
            exc,
            (anthropic.RateLimitError, anthropic.InternalServerError, anthropic.APIConnectionError),
        ):
            raise AutointerpError(
                f"The Anthropic API is unavailable after {self.cfg.max_retries} retries"
                f" ({type(exc).__name__}); finished results are kept, run again later to resume."
            ) from None
        return False


class OfflineBackend:
    """A baseline with no API: the explanation is the feature's most frequent activating words
    among those it fires on at least half the times they appear in its top examples (plus its
    top logit-lens tokens); the predictor says 1 when an excerpt contains one of them. Sub-word
    pieces count as the words they make up."""

    label = "offline-baseline/3"  # bump when the heuristic changes: part of the results cache key
    PREFIX = "tokens: "

    def __init__(self, n_tokens: int = 6, n_lens: int = 2):
        self.n_tokens, self.n_lens = n_tokens, n_lens

    async def explain(self, fx: FeatureExamples) -> Answer:
        found = [w for e in fx.explain for w in words(e.tokens, e.acts)]
        seen = Counter(w for w, _ in found)
        active = Counter(w for w, a in found if a > 0)
        chosen = [w for w, n in active.most_common() if n >= 0.5 * seen[w]][: self.n_tokens]
        chosen += [
            w
            for w in (t.strip().lower() for t in fx.lens_tokens[: self.n_lens])
            if w and w not in chosen
        ]
        text = self.PREFIX + " | ".join(chosen)
        return Answer(text, text)

    async def predict(self, explanation: str, examples: tuple[Example, ...]) -> Answer:
        named = self._named(explanation)
        values = [int(any(w in named for w, _ in words(e.tokens, e.acts))) for e in examples]
        return Answer(values, str(values))

    async def fuzz(self, explanation: str, examples: tuple[Example, ...]) -> Answer:
        """1 when some marked word is named in the explanation."""
        named = self._named(explanation)
        values = [
            int(any(w in named for w, a in words(e.tokens, e.acts) if a > 0)) for e in examples
        ]
        return Answer(values, str(values))

    def _named(self, explanation: str) -> set[str]:
        return set(explanation.removeprefix(self.PREFIX).split(" | ")) - {""}
