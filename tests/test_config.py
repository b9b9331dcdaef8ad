"""Settings: defaults, environment, TOML, validation, documentation."""

import re
from pathlib import Path

import pytest

from crashlens_core.config import Settings
from crashlens_core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_environment_overrides_with_types():
    s = Settings.from_env({"CRASHLENS_HOME": "/tmp/x", "CRASHLENS_LOCK_TIMEOUT": "0.5", "GROQ_API_KEY": "gsk_abc"})
    assert s.workspace == Path("/tmp/x") and isinstance(s.workspace, Path)
    assert s.lock_timeout_s == 0.5 and s.active_engine == "groq"
    assert Settings.from_env({}).active_engine == "offline"
    assert Settings.from_env({"GROQ_API_KEY": "k", "CRASHLENS_ENGINE": "offline"}).active_engine == "offline"


def test_toml_file_and_bad_values(tmp_path):
    cfg = tmp_path / "crashlens.toml"
    cfg.write_text('[crashlens]\nllm_model = "llama-3.1-8b-instant"\ningest_block_mb = 16\n')
    s = Settings.from_env({"CRASHLENS_CONFIG": str(cfg)})
    assert (s.llm_model, s.ingest_block_mb) == ("llama-3.1-8b-instant", 16)
    with pytest.raises(ConfigError, match="unknown engine"):
        Settings.from_env({"CRASHLENS_ENGINE": "gpt"})
    with pytest.raises(ConfigError, match="must be a int"):
        Settings.from_env({"CRASHLENS_INGEST_BLOCK_MB": "lots"})
    cfg.write_text("not = [toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.from_env({"CRASHLENS_CONFIG": str(cfg)})


def test_every_setting_has_help_and_secrets_have_no_default_shown():
    described = Settings.describe()
    assert all(d["help"] for d in described)
    assert all(d["default"] == "" for d in described if d["name"].endswith(("api_key", "webhook_url")))


def test_readme_documents_every_environment_variable_it_names():
    readme = (ROOT / "README.md").read_text()
    envs = {d["env"] for d in Settings.describe()}
    # table rows whose first cell is an environment variable (other tables list routes, commands…)
    named = {cell for line in readme.splitlines() if line.startswith("| `")
             if re.fullmatch(r"[A-Z][A-Z0-9_]+", cell := line.split("`")[1])}
    assert named <= envs, named - envs
    assert {"CRASHLENS_HOME", "GROQ_API_KEY", "CRASHLENS_ENGINE"} <= named
