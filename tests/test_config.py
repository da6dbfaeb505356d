from __future__ import annotations

from pathlib import Path

from core.settings import Settings, load_settings


def test_environment_overrides_secrets_and_types_are_coerced():
    secrets = {"PRODUCTLENS_LLM_MODEL": "gpt-4o", "PRODUCTLENS_TOP_K": "7"}
    env = {"PRODUCTLENS_LLM_MODEL": "ollama/llama3", "PRODUCTLENS_DB": "/tmp/x"}
    settings = load_settings(env=env, secrets=secrets)
    assert settings.llm_model == "ollama/llama3"
    assert settings.top_k == 7 and settings.db_path == Path("/tmp/x")


def test_api_key_never_appears_in_repr():
    settings = load_settings(env={"PRODUCTLENS_LLM_API_KEY": "sk-very-secret"})
    assert settings.llm_api_key == "sk-very-secret"
    assert "sk-very-secret" not in repr(settings)


def test_empty_values_keep_defaults():
    assert load_settings(env={"PRODUCTLENS_CLIP": ""}).clip_model == Settings().clip_model
