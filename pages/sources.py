"""Sources: named Prometheus / ClickHouse sources; test one; pull the selected incident's window into the workspace.

Every action is one core call (``crashlens_core.pull``): ``make_source`` + ``store.pulls.save_source``,
``check_source``, ``pull_source``. Credentials are read from the environment and
``.streamlit/secrets.toml`` (``CRASHLENS_SOURCE_<NAME>_TOKEN`` / ``_USER`` / ``_PASSWORD``), never typed
here and never stored in the workspace.
"""

from __future__ import annotations

import os
from datetime import datetime, time, timezone
from typing import Any

import streamlit as st

from crashlens_core.errors import CrashLensError
from crashlens_core.pull import KINDS, check_source, credential_names, credentials_from, load_source, make_source, pull_source
from crashlens_core.pull.sources import LOG_FIELDS, SPAN_FIELDS, parse_settings
from crashlens_core.signals.compare import default_baseline
from crashlens_core.store import pulls as pull_store
from pages import common

common.leave_legacy_multipage()  # a cold server may run this file directly: go through app.py

st.title("Sources")
st.caption("Pull an incident's window and its baseline from where the telemetry lives. Sources keep their URL and query; "
           "credentials come from the environment or .streamlit/secrets.toml as CRASHLENS_SOURCE_<NAME>_TOKEN, or "
           "_USER and _PASSWORD, and are never stored.")
ws = common.workspace()
settings = common.settings()


def credentials_env() -> dict[str, Any]:
    """The environment, with any CRASHLENS_SOURCE_* keys of st.secrets laid over it."""
    env: dict[str, Any] = dict(os.environ)
    try:
        env.update({k: str(v) for k, v in st.secrets.items() if k.startswith("CRASHLENS_SOURCE_")})
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        pass  # no secrets.toml: the environment alone
    return env


# ------------------------------------------------------------------ the sources
sources = pull_store.list_sources(ws)
env = credentials_env()
if sources:
    st.dataframe([{"name": s["name"], "kind": s["kind"], "url": s["url"],
                   "query": s["config"].get("selector") or s["config"].get("table") or s["config"].get("sql") or "default selector",
                   "credentials": "set" if credentials_from(s["name"], env).given else "none"} for s in sources],
                 hide_index=True, width="stretch")
else:
    st.info("No sources yet: add one below.", icon=":material/lightbulb:")

with st.expander("Add or replace a source", expanded=not sources):
    cols = st.columns([2, 2, 4])
    name = cols[0].text_input("Name", key="src_name", placeholder="prod-prom")
    kind = cols[1].selectbox("Kind", KINDS, key="src_kind")
    url = cols[2].text_input("URL", key="src_url", placeholder="http://127.0.0.1:9090" if kind == "prometheus" else "http://127.0.0.1:8123")
    config: dict[str, Any] = {}
    if kind == "prometheus":
        pc = st.columns([4, 2, 1])
        config["selector"] = pc[0].text_input("Selector (PromQL)", key="src_selector",
                                              help="{services} becomes the incident's services; empty: {service=~\"{services}\"}")
        config["service_label"] = pc[1].text_input("Service label", value="service", key="src_service_label")
        config["step_s"] = pc[2].number_input("Step (s)", min_value=1.0, value=float(settings.pull_step_s), key="src_step")
    else:
        cc = st.columns([1, 3])
        config["signal"] = cc[0].selectbox("Signal", ("logs", "spans"), key="src_signal")
        mode = cc[1].radio("Read", ("a table", "my SQL"), horizontal=True, key="src_mode")
        if mode == "a table":
            config["table"] = st.text_input("Table", key="src_table", placeholder="app.logs")
            fields = LOG_FIELDS if config["signal"] == "logs" else SPAN_FIELDS
            mapping = st.text_area("Columns (FIELD=COLUMN, one a line)", key="src_columns",
                                   help=f"fields: {', '.join(fields)}; the first is the time the window filters on")
            config["columns"] = parse_settings([ln.strip() for ln in mapping.splitlines() if ln.strip()]).get("columns", {})
        else:
            config["sql"] = st.text_area("SQL", key="src_sql", placeholder="SELECT … FROM logs WHERE ts >= {from} AND ts < {to}")
    if st.button("Save source", key="src_save", icon=":material/save:"):
        try:
            source = make_source(name.strip(), kind, url, config, settings)
            pull_store.save_source(ws, source.name, source.kind, source.url, source.config)
            st.toast(f"source {source.name} saved")
            st.rerun()
        except CrashLensError as exc:
            common.show_error(exc)

if not sources:
    st.stop()

# ------------------------------------------------------------------ one source: test, pull
st.subheader("Pull")
chosen = st.selectbox("Source", [s["name"] for s in sources], key="src_chosen")
st.caption("Credentials from " + ", ".join(credential_names(chosen)))
actions = st.columns([1, 1, 4])
if actions[0].button("Test connection", key="src_test", icon=":material/network_check:"):
    try:
        with st.spinner("Asking the source…"):
            answer = check_source(settings, load_source(ws, chosen, settings), credentials_from(chosen, env))
        st.success(f"{chosen}: reachable in {answer['seconds']:.3f} s" + (f", version {answer['version']}" if answer.get("version") else "")
                   + f"; credentials: {answer['credentials']}", icon=":material/check_circle:")
    except CrashLensError as exc:
        common.show_error(exc)
if actions[1].button("Remove", key="src_remove", icon=":material/delete:"):
    try:
        pull_store.delete_source(ws, chosen)
        st.rerun()
    except CrashLensError as exc:
        common.show_error(exc)

incidents = ws.list_incidents(limit=500)
by_id = {i.id: i for i in incidents}
wanted = common.incident_in_url()
options = [""] + [i.id for i in incidents]
picked = st.selectbox("Incident", options, index=options.index(wanted) if wanted in options else 0, key="src_incident",
                      format_func=lambda i: "none: give the window" if not i else f"{i[:8]} {by_id[i].title}")
incident = by_id.get(picked)
now = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
start_default = incident.window_start if incident and incident.window_start else now.replace(minute=0)
end_default = incident.window_end if incident and incident.window_end else now
wc = st.columns(4)
d0 = wc[0].date_input("From (UTC)", value=start_default.date(), key=f"src_d0_{picked}")
t0 = wc[1].time_input("at", value=start_default.time(), step=60, key=f"src_t0_{picked}")
d1 = wc[2].date_input("To (UTC)", value=end_default.date(), key=f"src_d1_{picked}")
t1 = wc[3].time_input("at ", value=end_default.time(), step=60, key=f"src_t1_{picked}")
start, end = datetime.combine(d0, t0 or time()), datetime.combine(d1, t1 or time())
with_baseline = st.checkbox("With its baseline (the same length just before)", value=True, key="src_baseline")
services = st.text_input("Services for {services}", value=", ".join(incident.services) if incident else "", key=f"src_services_{picked}")
if st.button("Pull", key="src_pull", type="primary", icon=":material/download:"):
    try:
        with st.spinner(f"Pulling from {chosen}…"):
            result = pull_source(ws, settings, load_source(ws, chosen, settings), start, end,
                                 credentials=credentials_from(chosen, env),
                                 baseline=default_baseline(start, end) if with_baseline and end > start else None,
                                 incident=incident, services=[s.strip() for s in services.split(",") if s.strip()])
        st.success(f"{chosen}: {result.loaded:,} {result.signal} loaded, {result.rejected:,} rejected", icon=":material/check_circle:")
        st.dataframe([{"range": o.role, "from": o.start, "to": o.end, "rows": o.rows,
                       "loaded": o.report.loaded, "rejected": o.report.rejected, "note": o.report.note,
                       "record": o.record_digest[:12]} for o in result.ranges],
                     hide_index=True, width="stretch")
        errors = [e for o in result.ranges for e in o.report.errors][:20]
        if errors:
            st.code("\n".join(f"line {e.line}: {e.reason}" for e in errors), language=None)
        if result.signals:
            st.caption(result.signals)
    except CrashLensError as exc:
        common.show_error(exc)

recent = pull_store.list_pulls(ws, chosen, limit=20)
if recent:
    st.caption("Recent pulls of this source (each recorded as an artifact; bundles of the incidents they cover carry them)")
    st.dataframe([{"pulled (UTC)": p["pulled_ts"], "range": p["role"], "from": p["from_ts"], "to": p["to_ts"], "rows": p["rows"],
                   "loaded": p["loaded"], "rejected": p["rejected"], "incident": (p["incident_id"] or "")[:8],
                   "query": p["query"]} for p in recent], hide_index=True, width="stretch")
