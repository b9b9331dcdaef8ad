"""What every page shares: the run's workspace, the sidebar, error display.

Not a page itself (app.py lists the pages explicitly with st.navigation).
"""

from __future__ import annotations

import re
import runpy
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from crashlens_core.config import Settings
from crashlens_core.errors import CrashLensError
from crashlens_core.store import Workspace

APP_SCRIPT = Path(__file__).resolve().parents[1] / "app.py"
_WS_KEY = "_crashlens_workspace"
OVERRIDES_KEY = "_crashlens_settings_overrides"  # {setting name: raw value}, set by the Settings page
_SETTINGS_KEY = "_crashlens_settings"


def leave_legacy_multipage(from_page: bool = True) -> None:
    """Make this script run go through app.py's ``st.navigation``, never Streamlit's legacy path.

    Streamlit 1.67 decides once per server process (AppTest: once per run), when it creates the
    first session, that an app with a ``pages/`` folder beside its entry script is a legacy
    multipage app (``PagesManager.uses_pages_directory``). Until ``st.navigation`` is called,
    runs then go through ``_mpa_v1``, which lists every file of ``pages/`` in the sidebar and
    runs a deep-linked file such as ``pages/incidents.py`` directly, without app.py's settings,
    sidebar and workspace. app.py and every page call this first. On the legacy path it turns
    the legacy mode off (as ``st.navigation`` does); app.py then carries on (its own
    ``st.navigation`` replaces the legacy sidebar), and a page runs app.py in its place, within
    the same script run, so the URL, its query string and the widget event of this run (a
    button click) reach the page through app.py, and stops. A rerun instead would lose the
    event, and AppTest takes the legacy path on every run.
    """
    if not PagesManager.uses_pages_directory:
        return
    PagesManager.uses_pages_directory = False
    if from_page:
        runpy.run_path(str(APP_SCRIPT), run_name="__main__")
        st.stop()


@contextmanager
def workspace_for_run(settings: Settings) -> Iterator[None]:
    """Open the workspace for this script run only; close it when the run ends."""
    st.session_state[_SETTINGS_KEY] = settings
    try:
        ws = Workspace.open(settings.workspace, lock_timeout=settings.lock_timeout_s)
    except CrashLensError as exc:
        show_error(exc)
        st.stop()
    st.session_state[_WS_KEY] = ws
    try:
        yield
    finally:
        ws.close()  # first: after st.stop() any Streamlit call here (even session_state) raises again
        st.session_state.pop(_WS_KEY, None)


def fragment_workspace() -> Any:
    """The context a fragment runs its body in. A fragment's own rerun (timed, or a widget inside
    it) runs without app.py's per-run workspace, so it opens one for itself; a full run reuses
    the run's. ``with common.fragment_workspace(): ws = common.workspace()``."""
    try:
        open_now = workspace().con is not None
    except KeyError:
        open_now = False
    return nullcontext() if open_now else workspace_for_run(settings())


# Markdown (and Streamlit's :directives:, $math$) that a label or heading would interpret: each
# ASCII punctuation mark may be backslash-escaped in CommonMark, so escaping them all is safe.
_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&])")


def inert(text: str) -> str:
    """``text`` (an incident title, a log line) for a markdown label or heading, shown as written:
    a template's ``<*>`` stays ``<*>`` instead of turning the rest of the title italic."""
    return _MARKUP.sub(r"\\\1", text)


def workspace() -> Workspace:
    return st.session_state[_WS_KEY]


def settings() -> Settings:
    return st.session_state[_SETTINGS_KEY]


def show_error(exc: CrashLensError) -> None:
    st.error(f"{exc.message}" + (f"  \n**Next step:** {exc.hint}" if exc.hint else ""), icon=":material/error:")


def incident_in_url() -> str:
    """The full id of the URL's ``?incident=`` (an id or a unique prefix, ``Workspace.get_incident``),
    or "" when there is none; an unknown or ambiguous one is said, and the page goes on without it."""
    wanted = st.query_params.get("incident", "")
    if not wanted:
        return ""
    try:
        return workspace().get_incident(wanted).id
    except CrashLensError as exc:
        show_error(exc)
        return ""


def sidebar(settings: Settings) -> None:
    engine = settings.active_engine
    with st.sidebar:
        st.caption("Workspace")
        # st.text, not st.code: st.code's syntax highlighter is a 1.5 MB script that a new tab must
        # load and compile before the page counts as drawn; the sidebar on every page paid for it
        # (bench/app.py, open in a new tab: simulate 4.9-6.4 -> 3.1-3.5 s, rca 11-16 -> 8 s, loaded machine)
        st.text(str(settings.workspace))
        label = {"offline": "Offline analyzer", "groq": f"Groq · {settings.llm_model}",
                 "openai": f"OpenAI-compatible · {settings.llm_model}"}[engine]
        st.caption("Analysis engine")
        st.markdown(f":material/psychology: **{label}**")
        if engine == "offline":
            st.caption("No LLM key set: analyses run locally and nothing leaves this machine.")
