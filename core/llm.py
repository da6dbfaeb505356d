"""The one LiteLLM client: configuration, plain and streaming calls, scrubbed errors."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
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


def complete(config: LLMConfig, messages: list[dict[str, str]], **extra: Any) -> str:
    """The reply's text (raises whatever LiteLLM raises)."""
    response = _litellm().completion(**completion_kwargs(config, messages, False, **extra))
    return response.choices[0].message.content or ""


def stream(config: LLMConfig, messages: list[dict[str, str]]) -> Iterator[str]:
    """The reply's text in pieces as they arrive."""
    response = _litellm().completion(**completion_kwargs(config, messages, stream=True))
    for chunk in response:
        delta = chunk.choices[0].delta.content if chunk.choices else None
        if delta:
            yield delta


def safe_error(exc: Exception, config: LLMConfig) -> str:
    """A one-line error with any API key scrubbed out."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if config.api_key:
        text = text.replace(config.api_key, "***")
    return re.sub(r"sk-[A-Za-z0-9_-]{8,}", "sk-***", text)
