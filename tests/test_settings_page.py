"""The Settings page: session-only overrides, keys never shown back, switching workspace."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from pages.common import OVERRIDES_KEY

from .helpers import run_page

KEY = "gsk_" + "A1b2C3d4E5f6G7h8J9k0" * 2 + "wxyz"


def _page() -> AppTest:
    return run_page("settings")


def _all_text(at: AppTest) -> str:
    parts = [e.value for kind in ("text", "markdown", "caption", "code", "info", "error", "success", "warning")
             for e in getattr(at, kind)]
    parts += [e.value for e in at.sidebar.markdown] + [e.value for e in at.sidebar.caption]
    return "\n".join(str(p) for p in parts)


def test_thresholds_apply_for_the_session_and_reset(app_env):
    at = _page()
    at.number_input(key="set_threshold").set_value(6.0)
    at.number_input(key="set_min_count").set_value(9)
    at.button[1].click().run()  # the second form's submit button
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[OVERRIDES_KEY]["detect_threshold"] == 6.0
    assert at.session_state[OVERRIDES_KEY]["detect_min_count"] == 9
    assert at.number_input(key="set_threshold").value == 6.0  # the app now runs with it
    at.button(key="set_reset").click().run()
    assert at.session_state[OVERRIDES_KEY] == {}
    assert at.number_input(key="set_threshold").value == 4.0


def test_a_key_typed_here_enables_groq_and_is_never_shown_back(app_env):
    at = _page()
    assert "Offline analyzer" in _all_text(at)
    at.text_input(key="set_groq_key").set_value(KEY)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    text = _all_text(at)
    assert "Groq" in text
    assert "ending …wxyz" in text
    assert KEY not in text
    assert KEY[4:20] not in text
    # and nothing of it reached the workspace folder
    for path in app_env.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_switching_to_a_new_workspace(app_env, tmp_path):
    at = _page()
    other = tmp_path / "other-ws"
    at.text_input(key="set_ws_folder").set_value(str(other))
    at.button[2].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert (other / "crashlens.duckdb").exists()
    assert str(other) in _all_text(at)
