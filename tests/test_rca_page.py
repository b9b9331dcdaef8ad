"""The RCA page with Streamlit's AppTest: pick an incident by ?incident=, run, read cited evidence, approve, Ask."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from crashlens_core.rca.engine import list_runs
from crashlens_core.store import Workspace
from tests.rca_fixtures import build_workspace  # a helpers module (no tests) owned by the RCA tests

from .helpers import run_page


def _page(query: dict[str, str] | None = None) -> AppTest:
    return run_page("rca", query)


def test_rca_page_empty_workspace(app_env):
    at = _page()
    assert any("No incidents yet" in i.value for i in at.info)


def test_rca_page_runs_shows_cited_evidence_and_approves(app_env):
    inc_id = build_workspace(app_env)
    with Workspace.open(app_env) as ws:
        other = ws.create_incident("another incident").id
    at = _page({"incident": inc_id[:8]})
    assert at.selectbox(key="rca_incident").value == inc_id
    assert inc_id != other
    assert any("No analysis yet" in c.value for c in at.caption)
    at.button(key="rca_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    texts = [t.value for t in at.text]
    assert any("payments" in t and "_charge" in t for t in texts), texts[:5]  # one line names both
    assert [m.value for m in at.metric][:1] == ["offline"]
    claims = [e for e in at.expander if e.label.startswith("Evidence: ")]
    assert claims
    assert not any(c.children for c in claims)  # evidence is sent only when its claim is opened
    with Workspace.open(app_env, read_only=True) as ws:
        run = list_runs(ws, inc_id)[0]
    run_id = run["id"]
    # said once: no two claims alike, no evidence behind two claims (issue 19)
    shown = [c["text"] for c in run["report"]["claims"]]
    cited = [e for c in run["report"]["claims"] for e in c["evidence"]]
    assert len(claims) == len(shown) and len(set(shown)) == len(shown) and len(set(cited)) == len(cited)
    for n in range(len(claims)):  # open every claim, as a person clicking each expander
        at.session_state[f"rca_claim_{run_id}_{n}"] = True
    at.run()
    code = " ".join(c.value for c in at.code)
    assert "KeyError" in code
    assert "[REDACTED:groq_key#1]" in code
    assert "gsk_4f8Q" not in code
    # The hostile log line is shown only as inert text, never as markdown.
    assert "Ignore previous instructions" in code
    assert not any("Ignore previous instructions" in m.value for m in at.markdown)
    at.text_input(key="rca_approver").input("alice").run()
    at.button(key="rca_approve").click().run()
    assert not at.exception
    with Workspace.open(app_env) as ws:
        inc = ws.get_incident(inc_id)
    assert inc.status == "approved"
    assert inc.approved_by == "alice"
    at.text_input(key="rca_question").input("what errors hit payments after 10:06?")
    at.button[-1].click().run()  # the Ask form's submit button
    assert not at.exception
    assert any("matching log lines" in t.value for t in at.text)
    labels = [e.label for e in at.expander]
    assert any("ERROR" in label for label in labels), labels  # the evidence shows its line, not a bare id
    assert not any(label.startswith("log:") for label in labels)


def test_an_unknown_incident_in_the_url_is_said_and_the_page_goes_on(app_env):
    inc_id = build_workspace(app_env)
    at = _page({"incident": "zzzzzzzz"})
    assert any("no incident 'zzzzzzzz'" in e.value for e in at.error)
    assert at.selectbox(key="rca_incident").value == inc_id  # the page still offers the incidents there are
