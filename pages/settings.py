"""Settings: the analysis engine and its keys, thresholds, redaction, prices; the workspace.

Values start from the environment and ``.streamlit/secrets.toml``; what is changed here holds
for this browser session only (``common.OVERRIDES_KEY``, applied by app.py on every run). API
keys typed here live in the session's memory: they are never written to the workspace, to
disk or back onto the page (only their last four characters are shown).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import common
from crashlens_core.config import ENGINES, Settings
from crashlens_core.errors import CrashLensError
from crashlens_core.knowledge.sources import list_sources
from crashlens_core.redact import PII_TYPES

common.leave_legacy_multipage()  # a cold server may run this file directly: go through app.py

st.title("Settings")
ws = common.workspace()
settings = common.settings()
overrides: dict = dict(st.session_state.get(common.OVERRIDES_KEY, {}))
HELP = {d["name"]: f"{d['help']} (env {d['env']})" if d["env"] else d["help"] for d in Settings.describe()}


def _masked(key: str) -> str:
    return f"set, ending …{key[-4:]}" if len(key) > 8 else ("set" if key else "not set")


def _apply(changes: dict) -> None:
    new = dict(overrides)
    new.update({k: v for k, v in changes.items() if v is not None})
    try:
        settings.override(new)  # validate before keeping
    except CrashLensError as exc:
        common.show_error(exc)
        return
    st.session_state[common.OVERRIDES_KEY] = new
    st.rerun()


st.caption("Values come from the environment and .streamlit/secrets.toml. Changes made here last for this browser "
           "session only; API keys are kept in memory, never written anywhere.")

with st.container(border=True):
    st.subheader("Analysis engine", anchor=False)
    st.text(f"Active engine: {settings.active_engine}   ·   model {settings.llm_model}\n"
            f"Groq API key: {_masked(settings.groq_api_key)}   ·   OpenAI-compatible server: "
            f"{settings.openai_base_url or 'not set'} (key {_masked(settings.openai_api_key)})")
    with st.form("set_engine"):
        c1, c2 = st.columns(2)
        engine = c1.selectbox("Engine", ["auto", *ENGINES], index=(["auto", *ENGINES].index(settings.engine or "auto")),
                              help=HELP["engine"], key="set_engine_choice")
        model = c2.text_input("Model", value=settings.llm_model, help=HELP["llm_model"], key="set_model")
        groq_key = c1.text_input("Groq API key (this session only)", type="password", key="set_groq_key",
                                 placeholder="leave empty to keep the current one", help=HELP["groq_api_key"])
        base_url = c2.text_input("OpenAI-compatible base URL", value=settings.openai_base_url, key="set_base_url",
                                 help=HELP["openai_base_url"])
        prices = st.text_area("Prices (USD per 1M input/output tokens)", value=settings.llm_prices, height=80,
                              help=HELP["llm_prices"], key="set_prices")
        if st.form_submit_button("Apply for this session", icon=":material/check:"):
            _apply({"engine": "" if engine == "auto" else engine, "llm_model": model.strip(),
                    "groq_api_key": groq_key.strip() or None, "openai_base_url": base_url.strip(),
                    "llm_prices": prices.strip()})

with st.container(border=True):
    st.subheader("Detection and redaction", anchor=False)
    with st.form("set_detect"):
        c1, c2, c3 = st.columns(3)
        threshold = c1.number_input("Burst threshold (× usual rate)", min_value=1.0, value=float(settings.detect_threshold),
                                    step=0.5, help=HELP["detect_threshold"], key="set_threshold")
        min_count = c2.number_input("Fewest errors in a burst", min_value=1, value=int(settings.detect_min_count),
                                    help=HELP["detect_min_count"], key="set_min_count")
        bin_s = c3.number_input("Time bin (s)", min_value=5, value=int(settings.detect_bin_s), help=HELP["detect_bin_s"],
                                key="set_bin_s")
        latency = c1.number_input("Latency burst (× usual p95)", min_value=1.0, value=float(settings.detect_latency_factor),
                                  step=0.5, help=HELP["detect_latency_factor"], key="set_latency")
        budget = c2.number_input("RCA evidence budget (tokens)", min_value=500, value=int(settings.rca_evidence_tokens),
                                 step=500, help=HELP["rca_evidence_tokens"], key="set_budget")
        skip = c3.multiselect("PII left unmasked", PII_TYPES,
                              default=[t for t in settings.redact_skip.split(",") if t.strip() in PII_TYPES],
                              help=HELP["redact_skip"], key="set_redact_skip")
        if st.form_submit_button("Apply for this session", icon=":material/check:"):
            _apply({"detect_threshold": threshold, "detect_min_count": min_count, "detect_bin_s": bin_s,
                    "detect_latency_factor": latency, "rca_evidence_tokens": budget, "redact_skip": ",".join(skip)})
    st.caption("Secrets (keys, tokens, passwords, private keys, JWTs) are always masked before anything leaves this "
               "machine; only the PII types above can be left as they are.")

with st.container(border=True):
    st.subheader("Embeddings", anchor=False)
    st.text(f"Model {settings.embedding_model} · backend {settings.knowledge_embed_backend} · "
            f"{settings.knowledge_embed_max_tokens} tokens per chunk")

with st.container(border=True):
    st.subheader("Workspace", anchor=False)
    db = ws.folder / "crashlens.duckdb"
    counts = ws.counts()
    size_mb = db.stat().st_size / 1e6 if db.exists() else 0.0
    st.text(f"Folder {ws.folder}\nDatabase {size_mb:,.1f} MB · {counts['logs']:,} logs · {counts['spans']:,} spans · "
            f"{counts['metrics']:,} metric samples · {counts['incidents']:,} incidents · {counts['rca_runs']:,} RCA runs · "
            f"{counts['artifacts']:,} artifacts")
    sources = list_sources(ws)
    if sources:
        st.dataframe([{"source": s["name"], "kind": s["kind"], "chunks": s.get("chunks"), "embedded": s.get("embedded"),
                       "status": s.get("status")} for s in sources], hide_index=True, width="stretch")
    else:
        st.caption("No repositories or runbooks indexed yet (Knowledge page).")
    with st.form("set_workspace"):
        folder = st.text_input("Open or create another workspace folder (this session)", key="set_ws_folder",
                               placeholder="/path/to/workspace")
        if st.form_submit_button("Switch workspace", icon=":material/folder_open:"):
            if not folder.strip():
                st.warning("Give a folder first.")
            else:
                _apply({"workspace": str(Path(folder.strip()).expanduser())})
    if overrides:
        changed = ", ".join(sorted(k for k in overrides))
        st.caption(f"Changed for this session: {changed}")
        if st.button("Back to the environment's settings", key="set_reset", icon=":material/restart_alt:"):
            st.session_state[common.OVERRIDES_KEY] = {}
            for key in [k for k in st.session_state if str(k).startswith("set_")]:
                del st.session_state[key]  # the widgets show the environment's values again
            st.rerun()
