"""The one LiteLLM client: configuration, plain and streaming calls, scrubbed errors."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LLMConfig:
    model: str
    api_base: str | None = None
    api_key: str | None = None
    timeout_s: float = 30.0


def llm_config(settings: Any) -> LLMConfig | None:
    if not settings.llm_model:
        return None
    return LLMConfig(
        settings.llm_model, settings.llm_api_base, settings.llm_api_key, settings.llm_timeout_s
    )


@dataclass
class Usage:
    """What one LLM call cost: tokens as the server reported them (or as LiteLLM's
    tokenizer counts them, `estimated`, when it reports none), and the price LiteLLM's
    price map gives (None for a model it has no price for, such as a local one)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    estimated: bool = False

    def label(self) -> str:
        """ "812 + 95 tokens · $0.00018 · 1,240 ms" for a caption."""
        parts = []
        if self.prompt_tokens is not None:
            about = "≈" if self.estimated else ""
            parts.append(f"{about}{self.prompt_tokens:,} + {self.completion_tokens or 0:,} tokens")
        parts.append("cost unknown (no price for this model)" if self.cost_usd is None
                     else f"${self.cost_usd:.5f}")  # fmt: skip
        if self.latency_ms is not None:
            parts.append(f"{self.latency_ms:,.0f} ms")
        return " · ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fill_usage(
    usage: Usage, config: LLMConfig, reported: Any, messages: list[dict[str, str]], reply: str
) -> None:
    litellm = _litellm()
    prompt = getattr(reported, "prompt_tokens", None) if reported is not None else None
    completion = getattr(reported, "completion_tokens", None) if reported is not None else None
    if prompt is None:  # the server said nothing: count with LiteLLM's bundled tokenizer
        try:
            prompt = litellm.token_counter(model=config.model, messages=messages)
            completion = litellm.token_counter(model=config.model, text=reply)
            usage.estimated = True
        except Exception:
            return
    usage.prompt_tokens, usage.completion_tokens = int(prompt), int(completion or 0)
    try:
        costs = litellm.cost_per_token(
            model=config.model, prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )  # fmt: skip
        usage.cost_usd = float(sum(costs))
    except Exception:  # not in the price map (a local or custom model)
        usage.cost_usd = None


def _litellm():
    # Use the bundled model price map instead of fetching one over the network at import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def completion_kwargs(
    config: LLMConfig, messages: list[dict[str, str]], stream: bool, **extra: Any
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": config.model,
        "messages": messages,
        "timeout": config.timeout_s,
        "stream": stream,
        "num_retries": 0,
        "temperature": 0.2,
        **extra,
    }
    if config.api_base:
        kwargs["api_base"] = config.api_base
    if config.api_key:
        kwargs["api_key"] = config.api_key
    return kwargs


def complete(
    config: LLMConfig, messages: list[dict[str, str]], usage: Usage | None = None, **extra: Any
) -> str:
    """The reply's text (raises whatever LiteLLM raises); `usage` is filled in."""
    response = _litellm().completion(**completion_kwargs(config, messages, False, **extra))
    text = response.choices[0].message.content or ""
    if usage is not None:
        _fill_usage(usage, config, getattr(response, "usage", None), messages, text)
    return text


def stream(
    config: LLMConfig, messages: list[dict[str, str]], usage: Usage | None = None
) -> Iterator[str]:
    """The reply's text in pieces as they arrive; `usage` is filled in at the end (servers
    that follow OpenAI send it in a last chunk when asked to)."""
    kwargs = completion_kwargs(config, messages, stream=True,
                               stream_options={"include_usage": True})  # fmt: skip
    response = _litellm().completion(**kwargs)
    reported, parts = None, []
    for chunk in response:
        reported = getattr(chunk, "usage", None) or reported
        delta = chunk.choices[0].delta.content if chunk.choices else None
        if delta:
            parts.append(delta)
            yield delta
    if usage is not None:
        _fill_usage(usage, config, reported, messages, "".join(parts))


def safe_error(exc: Exception, config: LLMConfig) -> str:
    """A one-line error with any API key scrubbed out."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if config.api_key:
        text = text.replace(config.api_key, "***")
    return re.sub(r"sk-[A-Za-z0-9_-]{8,}", "sk-***", text)
