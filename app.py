"""CrashLens Streamlit entry point: settings once, navigation, the shared sidebar.

Only this file and pages/ touch Streamlit. The workspace connection is opened for one
script run and closed after it, so the CLI can write to the same workspace between runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from crashlens_core.config import Settings
from crashlens_core.errors import CrashLensError
from pages import common

common.leave_legacy_multipage(from_page=False)  # a `pages/` folder sits beside this file: see common.py
st.set_page_config(page_title="CrashLens", page_icon=str(Path(__file__).with_name("assets") / "favicon.png"), layout="wide")


def load_settings() -> Settings:
    """Environment first, then st.secrets for keys (secrets.toml is never committed)."""
    env = dict(os.environ)
    try:
        for key in ("GROQ_API_KEY", "CRASHLENS_OPENAI_API_KEY", "CRASHLENS_SLACK_WEBHOOK_URL"):
            if key in st.secrets and not env.get(key):
                env[key] = str(st.secrets[key])
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        pass  # no secrets.toml: fine
    return Settings.from_env(env)


pages = [
    # The default page is served at "/" (Streamlit ignores a url_path on it).
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/incidents.py", title="Incidents", icon=":material/crisis_alert:", url_path="incidents"),
    st.Page("pages/traces.py", title="Traces", icon=":material/account_tree:", url_path="traces"),
    st.Page("pages/rca.py", title="RCA", icon=":material/psychology:", url_path="rca"),
    st.Page("pages/knowledge.py", title="Knowledge", icon=":material/menu_book:", url_path="knowledge"),
    st.Page("pages/logs.py", title="Logs", icon=":material/article:", url_path="logs"),
    st.Page("pages/sources.py", title="Sources", icon=":material/cloud_download:", url_path="sources"),
    st.Page("pages/simulate.py", title="Simulate", icon=":material/science:", url_path="simulate"),
    st.Page("pages/settings.py", title="Settings", icon=":material/settings:", url_path="settings"),
]
nav = st.navigation(pages)

try:
    # the Settings page's changes last for this browser session only (keys never touch disk)
    settings = load_settings().override(st.session_state.get(common.OVERRIDES_KEY, {}))
except CrashLensError as exc:
    st.error(f"{exc.message}\n\n{exc.hint}")
    st.stop()

range_slot = st.sidebar.container()  # the time range tops the sidebar, drawn once the workspace is open
common.sidebar(settings)  # before the workspace opens: a workspace that fails to open still shows which one
with common.workspace_for_run(settings):
    common.time_range_sidebar(range_slot)  # presets count back from the workspace's newest data
    nav.run()
