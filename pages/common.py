"""What every page shares: the run's workspace, the sidebar, error display.

Not a page itself (app.py lists the pages explicitly with st.navigation).
"""

from __future__ import annotations

import html
import re
import runpy
from contextlib import contextmanager, nullcontext
from functools import update_wrapper
from pathlib import Path
from typing import Any, Callable, Concatenate, Iterator, ParamSpec, TypeVar

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from crashlens_core.config import Settings
from crashlens_core.errors import CrashLensError
from crashlens_core.ingest.normalize import parse_iso_time
from crashlens_core.store import Workspace
from crashlens_core.store.timerange import PRESETS, TimeRange, resolve_range

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


# one colour per level, the same on every chart (Incidents timeline, Logs histogram)
LEVEL_COLORS = {"FATAL": "#b71c1c", "ERROR": "#ef5350", "WARN": "#ffb74d", "INFO": "#64b5f6", "DEBUG": "#90a4ae",
                "TRACE": "#cfd8dc"}

# Markdown (and Streamlit's :directives:, $math$) that a label or heading would interpret: each
# ASCII punctuation mark may be backslash-escaped in CommonMark, so escaping them all is safe.
_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&])")


def inert(text: str) -> str:
    """``text`` (an incident title, a log line) for a markdown label or heading, shown as written:
    a template's ``<*>`` stays ``<*>`` instead of turning the rest of the title italic."""
    return _MARKUP.sub(r"\\\1", text.replace("\n", " "))


def step_label(seconds: int) -> str:
    """A bucket width as a person says it: "1 min", "6 h", "1 d" (not "1 min 0 s")."""
    return (f"{seconds // 86400} d" if seconds % 86400 == 0 else f"{seconds // 3600} h" if seconds % 3600 == 0
            else f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s")


def workspace() -> Workspace:
    return st.session_state[_WS_KEY]


_P = ParamSpec("_P")
_R = TypeVar("_R")


def by_version(read: Callable[Concatenate[Workspace, _P], _R], max_entries: int = 64
               ) -> Callable[Concatenate[Workspace, _P], _R]:
    """``read(ws, *args)`` kept per (workspace folder, ``ws.version()``, args) in ``st.cache_data``:
    called again with the same arguments on unchanged data (the next rerun, another session), it
    answers from the cache; any write to the workspace changes the version, so it reads afresh
    (``Workspace.version`` says why no stale answer can come back). Arguments must be hashable
    by Streamlit; the answer is pickled, so callers get their own copy.

    ``incidents = common.by_version(lambda ws, limit: ws.list_incidents(limit=limit))`` would
    share one cache with every other lambda of its module: give each read a named function.
    """
    def cached(_ws: Workspace, folder: str, version: Any, *args: Any, **kwargs: Any) -> Any:
        return read(_ws, *args, **kwargs)

    # st.cache_data tells functions apart by module, qualified name and source: this wrapper's
    # source is the same for every read, so it takes the read's names (not functools.wraps: the
    # cache would then look through __wrapped__ for argument names and hash the workspace).
    cached.__module__, cached.__qualname__ = read.__module__, read.__qualname__
    run = st.cache_data(cached, max_entries=max_entries, show_spinner=False)

    def call(ws: Workspace, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return run(ws, str(ws.folder), ws.version(), *args, **kwargs)

    return update_wrapper(call, read)


def reads() -> Any:
    """``pages.reads``, the cached reads (imported here, not at the top: it builds on ``by_version``)."""
    from pages import reads as module

    return module


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
        return reads().incident(workspace(), wanted).id
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


# ---------------------------------------------------------------- the shared time range (sidebar, URL)
_RANGE_KEY = "_crashlens_range"        # the run's resolved TimeRange
_RANGE_PENDING = "_crashlens_range_pending"  # a range set by a page (chart drag) for the next run
_LAST_INCIDENT = "_crashlens_last_incident"  # (workspace folder, id, window) of the last incident in the URL
_RANGE_LABELS = {**{k: v[0] for k, v in PRESETS.items()}, "custom": "Custom from / to",
                 "incident": "The incident's window ± N min"}


def set_time_range(start: Any, end: Any) -> None:
    """Make ``[start, end)`` the custom range from the next run on (then ``st.rerun()``): the sidebar
    widgets are already drawn in this run, so their state may only change before they are."""
    st.session_state[_RANGE_PENDING] = {"range_key": "custom", "range_from": f"{start:%Y-%m-%dT%H:%M:%S}",
                                        "range_to": f"{end:%Y-%m-%dT%H:%M:%S}"}


def _incident_window() -> tuple[Any, Any] | None:
    """The window of the URL's incident; on a page without one (the sidebar's navigation drops the
    query string), the window of the incident this session last had in its URL, so that "the
    incident's window" picked on the incident's page still holds on Logs or Traces."""
    wanted = st.query_params.get("incident", "")
    if not wanted:
        remembered = st.session_state.get(_LAST_INCIDENT)
        return remembered[2] if remembered and remembered[0] == str(workspace().folder) else None
    try:
        inc = reads().incident(workspace(), wanted)
    except CrashLensError:
        return None  # the page says so (incident_in_url); the range just offers no incident window
    window = (inc.window_start, inc.window_end) if inc.window_start and inc.window_end else None
    st.session_state[_LAST_INCIDENT] = (str(workspace().folder), inc.id, window)
    return window


def last_incident() -> str:
    """The id of the incident this session last had in its URL (in this workspace), or "": a page
    reached through the sidebar (which drops ``?incident=``) opens on the incident the person was on."""
    remembered = st.session_state.get(_LAST_INCIDENT)
    return remembered[1] if remembered and remembered[0] == str(workspace().folder) else ""


def _typed_time(text: str) -> Any:
    try:
        return parse_iso_time(text)
    except CrashLensError as exc:
        show_error(exc)
        return None


def time_range_sidebar(where: Any = None) -> TimeRange:
    """Draw the sidebar's time range and return it; the URL carries it (``?range=1h``,
    ``?range=custom&from=…&to=…``, ``?range=incident&pad=10``) so a link opens the same view."""
    oldest, newest = reads().extent(workspace())
    window = _incident_window()
    state, qp = st.session_state, st.query_params
    pending = state.pop(_RANGE_PENDING, None)
    if pending:
        state.update(pending)
    elif "range_key" not in state:  # a fresh session: the URL decides
        if qp.get("from") and qp.get("to"):
            state["range_key"] = "custom"
        else:
            state["range_key"] = qp.get("range", "all")
        state["range_from"] = qp.get("from", "")
        state["range_to"] = qp.get("to", "")
        try:  # whole minutes: the box shows "10", not "10.00"
            state["range_pad"] = max(0, min(1440, round(float(qp.get("pad", 10)))))
        except ValueError:
            state["range_pad"] = 10
    options = [*PRESETS, "custom"] + (["incident"] if window else [])
    if state.get("range_key") not in options:
        state["range_key"] = "all"
    if not state.get("range_from") and newest is not None:  # custom opens on the data's last hour
        state["range_from"] = f"{max(oldest, newest - PRESETS['1h'][1]):%Y-%m-%dT%H:%M:%S}"
        state["range_to"] = f"{newest:%Y-%m-%dT%H:%M:%S}"
    with where if where is not None else st.sidebar:
        key = st.selectbox("Time range", options, format_func=_RANGE_LABELS.get, key="range_key",
                           help="Presets count back from the newest data in the workspace, not from now")
        start = end = None
        if key == "custom":  # one above the other: side by side, the sidebar cuts the times off
            start = _typed_time(st.text_input("From (UTC)", key="range_from", help="ISO 8601, e.g. 2024-05-14T10:00:00"))
            end = _typed_time(st.text_input("To (UTC)", key="range_to", help="ISO 8601; the range ends just before it"))
        if key == "incident":
            st.number_input("± minutes around the window", min_value=0, max_value=1440, step=5, key="range_pad")
        try:
            rng = resolve_range(key, oldest, newest, start=start, end=end, incident_window=window,
                                pad_min=float(state.get("range_pad", 10)))
        except CrashLensError as exc:
            show_error(exc)
            rng = resolve_range("all", oldest, newest)
        if rng.bounded:
            st.caption(f"{rng.start:%Y-%m-%d %H:%M:%S} – {rng.end:%Y-%m-%d %H:%M:%S} UTC")
    for name in ("range", "from", "to", "pad"):
        qp.pop(name, None)
    if rng.key == "custom":
        qp["from"], qp["to"] = state["range_from"], state["range_to"]
    elif rng.key == "incident" and not qp.get("incident"):  # the remembered incident: a link needs the times
        qp["from"], qp["to"] = rng.start.isoformat(), rng.end.isoformat()
    elif rng.key != "all":
        qp["range"] = rng.key
        if rng.key == "incident":
            qp["pad"] = f"{float(state.get('range_pad', 10)):g}"
    state[_RANGE_KEY] = rng
    return rng


def time_range() -> TimeRange:
    """The range the sidebar resolved for this run (every page runs after it)."""
    return st.session_state[_RANGE_KEY]
def plotly_text(value: object, limit: int = 200) -> str:
    """Data for a Plotly hover label, inert. Plotly reads ``<b>``, ``<br>``, ``<a href>`` and
    ``<span style>`` in labels as markup and shows entities as their characters, so escaping
    ``< > &`` shows the text exactly as written and nothing of it as markup. Empty: "–"."""
    text = "" if value is None else str(value).replace("\n", " ")
    if len(text) > limit:
        text = text[:limit] + "…"
    return html.escape(text, quote=False) or "–"
