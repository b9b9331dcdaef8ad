"""RCA: pick an incident, run the analysis with progress, read the cited report, approve, re-run, share; Ask.

Everything the report holds may come from logs or a model: it is shown as inert text
(st.text / st.code / st.dataframe), never as markdown or HTML.

What a person waits for is the browser drawing every element, not only the script run, so
the page sends what is read first (metrics, root cause, suspects, claims) and fills the
collapsed parts (each claim's evidence, timeline, hypotheses, all runs, bundle verification)
only when they are opened (``on_change="rerun"`` expanders); a finished run is read once
per server (see ``_finished_run``).
"""

import streamlit as st

from pages import common, reads
from pages.bundle_view import render_export, render_verify
from crashlens_core.config import ENGINES
from crashlens_core.errors import CrashLensError
from crashlens_core.rca.ask import ask
from crashlens_core.rca.changes import describe_changes
from crashlens_core.rca.engine import load_run, run_rca

common.leave_legacy_multipage()  # a cold server may run this file directly: go through app.py


@st.cache_data(max_entries=64, show_spinner=False)
def _finished_run(folder: str, run_id: str, _ws):
    """A finished run's row, report and evidence. Keyed on the workspace folder and the run id:
    a run is written once when it finishes and never changed, so the key is its version."""
    return load_run(_ws, run_id)


def _lazy(label: str, key: str, icon: str):
    """A collapsed expander whose body the page fills only while it is open (each open is a rerun)."""
    return st.expander(label, icon=icon, key=key, on_change="rerun")


st.title("Root-cause analysis")
ws = common.workspace()
settings = common.settings()


def _verify_section() -> None:
    """Verifying a bundle someone sent: beside the export (or alone on a workspace with no incidents)."""
    with _lazy("Verify a signed bundle", "rca_verify_open", ":material/verified:") as box:
        if box.open:
            render_verify(ws, settings)


incidents = reads.incidents(ws)
if not incidents:
    st.info("No incidents yet. Build the demo on the Simulate page, or create one with `crashlens incidents create`.",
            icon=":material/info:")
    _verify_section()
    st.stop()

wanted = common.incident_in_url() or common.last_incident()
ids = [i.id for i in incidents]
start = ids.index(wanted) if wanted in ids else 0
labels = {i.id: f"{i.title} · {i.status} · {i.window_start:%Y-%m-%d %H:%M}" if i.window_start else f"{i.title} · {i.status}"
          for i in incidents}
chosen = st.selectbox("Incident", ids, index=start, format_func=lambda i: labels[i], key="rca_incident")
inc = reads.incident(ws, chosen)
if st.query_params.get("incident") != inc.id:
    st.query_params["incident"] = inc.id

c1, c2 = st.columns([2, 1])
engine = c1.segmented_control("Engine", list(ENGINES), default=settings.active_engine, key="rca_engine",
                              help="offline needs no network; groq needs GROQ_API_KEY; openai an OpenAI-compatible base URL")
runs = reads.runs(ws, inc.id)
label = "Run analysis" if not runs else f"Run again with {engine or 'offline'}"
if c2.button(label, type="primary", icon=":material/psychology:", key="rca_run", width="stretch"):
    with st.status("Analysing…", expanded=True) as status:
        bar = st.progress(0.0, text="evidence")
        try:
            run = run_rca(ws, settings, inc.id, engine=engine or "offline",
                          progress=lambda f, msg: bar.progress(min(f, 1.0), text=msg[:120]), actor="app")
            status.update(label=f"Analysis done in {run.seconds:.1f} s", state="complete", expanded=False)
        except CrashLensError as exc:
            status.update(label="Analysis failed", state="error")
            common.show_error(exc)
    runs = reads.runs(ws, inc.id)
    inc = reads.incident(ws, inc.id)

if not runs:
    st.caption("No analysis yet for this incident: one click runs it (evidence → analysis → validation).")
    _verify_section()
    st.stop()

done = [r for r in runs if r["status"] == "done" and r.get("report")]
if not done:
    st.warning("The last analysis did not finish.", icon=":material/warning:")
    st.text(runs[0].get("notice") or "")
    _verify_section()
    st.stop()

run, report, evidence = _finished_run(str(ws.folder), done[0]["id"], ws)
by_id = {e.id: e for e in (evidence.items if evidence else [])}

m1, m2, m3, m4 = st.columns(4)
m1.metric("Engine", report.engine)
m2.metric("Confidence", f"{report.confidence:.0%}")
if report.prompt_tokens or report.completion_tokens or report.cost_usd:
    m3.metric("Tokens (in / out)", f"{report.prompt_tokens:,} / {report.completion_tokens:,}")
    m4.metric("Cost", f"${report.cost_usd:.4f}")
else:  # the offline engine pays nothing: show what it worked from instead of 0 / 0 and $0
    m3.metric("Evidence items", f"{len(by_id):,}")
    m4.metric("Claims", f"{len(report.claims)}" + (f" (+{len(report.more_claims)})" if report.more_claims else ""))
st.caption(f"Model: {report.model} · run {run['id'][:8]} · evidence {len(by_id)} items, digest {report.evidence_digest[:12]}")
if report.notice:
    st.warning("This report carries a notice:", icon=":material/report:")
    st.text(report.notice)

st.subheader("Root cause")
st.text(report.root_cause)
st.text(report.summary)
if report.impact:
    st.caption("Impact")
    st.text(report.impact)

st.subheader("Suspects")
st.dataframe([{"rank": n, "service": s.service, "component": s.component, "location": s.location, "commit": s.commit[:12],
               "score": s.score, "evidence": ", ".join(s.evidence)} for n, s in enumerate(report.suspects, 1)],
             hide_index=True, width="stretch", key="rca_suspects")

st.subheader("Changes")
verdict = describe_changes(report, evidence.items if evidence else [])
if verdict["verdict"] == "none":
    st.caption("No change events were weighed: ingest deploys, commits, flags or config changes (Logs page, or "
               "`crashlens ingest changes`) and run the analysis again.")
else:
    culprit = verdict["verdict"] == "culprit"
    st.badge("Change named as the cause" if culprit else "No change caused this",
             icon=":material/target:" if culprit else ":material/block:", color="red" if culprit else "green")
    st.text(verdict["headline"])  # labels, flag keys and reasons come from data: inert text
    st.text(verdict["why"])
    if verdict["rows"]:
        st.caption("Every change of the look-back before the onset, ranked; the reasons are what it was weighed on.")
        st.dataframe(verdict["rows"], hide_index=True, width="stretch", key="rca_changes",
                     column_order=["rank", "verdict", "change", "service", "ts", "minutes_before_onset", "lands_on",
                                   "files_in_stack", "identifiers_in_failures", "score", "why", "evidence"],
                     column_config={"ts": "time (UTC)", "minutes_before_onset": st.column_config.NumberColumn(
                         "min before onset", format="%.1f"), "lands_on": "lands on",
                         "files_in_stack": "files in the stack", "identifiers_in_failures": "named in failing messages",
                         "score": st.column_config.NumberColumn("score", format="%.2f"),
                         "why": st.column_config.TextColumn("why", width="large")})

st.subheader("Claims")
st.caption("Every claim cites evidence, strongest first, each said once; open one to read the evidence itself.")
for n, claim in enumerate(report.claims):
    st.text(f"{n + 1}. {claim.text}")
    with _lazy(f"Evidence: {', '.join(claim.evidence)}", f"rca_claim_{run['id']}_{n}", ":material/fact_check:") as box:
        if box.open:
            for eid in claim.evidence:
                item = by_id.get(eid)
                st.text(f"{eid} · {item.title if item else '(not in the recorded evidence)'}")
                if item is not None:
                    st.code(item.text, language=None)
if report.more_claims:
    with _lazy(f"{len(report.more_claims)} more claims on weaker evidence", f"rca_more_{run['id']}", ":material/more_horiz:") as box:
        if box.open:
            st.dataframe([{"claim": c.text, "weight": c.weight, "evidence": ", ".join(c.evidence)} for c in report.more_claims],
                         hide_index=True, width="stretch")

st.subheader("Remediation")
for n, step in enumerate(report.remediation, 1):
    st.text(f"{n}. {step}")

if report.timeline:
    with _lazy("Timeline", "rca_timeline_open", ":material/timeline:") as box:
        if box.open:
            st.dataframe([{"time": t.ts, "event": t.event, "evidence": ", ".join(t.evidence)} for t in report.timeline],
                         hide_index=True, width="stretch")
with _lazy("Hypotheses considered", "rca_hypotheses_open", ":material/rule:") as box:
    if box.open:
        st.dataframe([{"hypothesis": h.text, "status": h.status, "why": h.why, "evidence": ", ".join(h.evidence)}
                      for h in report.hypotheses], hide_index=True, width="stretch")
        if report.rejected_claims:
            st.caption("Claims rejected because they cite evidence that is not in the set")
            st.dataframe(report.rejected_claims, hide_index=True, width="stretch")
if report.suggested_patch:
    with _lazy("Suggested patch (unverified)", "rca_patch_open", ":material/difference:") as box:
        if box.open:
            st.caption(report.suggested_patch["label"])
            st.code(report.suggested_patch["diff"], language="diff")

st.divider()
a1, a2 = st.columns(2)
with a1:
    if inc.status == "rca_ready":
        who = st.text_input("Approver", key="rca_approver", placeholder="your name")
        if st.button("Approve this RCA", icon=":material/verified_user:", key="rca_approve", disabled=not who.strip()):
            try:
                ws.set_incident_status(inc.id, "approved", actor=who.strip(), note=f"approved RCA {run['id'][:8]}")
                st.success(f"Approved by {who.strip()}.", icon=":material/check_circle:")
            except CrashLensError as exc:
                common.show_error(exc)
    else:
        st.caption(f"Incident status: {inc.status}" + (f" (approved by {inc.approved_by})" if inc.approved_by else ""))
with a2:
    if settings.slack_webhook_url:
        if st.button("Share to Slack", icon=":material/share:", key="rca_share"):
            from crashlens_core.slack import post_slack

            try:
                post_slack(settings.slack_webhook_url, dict(report.to_json(), title=inc.title))
                st.success("Posted the summary to Slack.", icon=":material/check_circle:")
            except CrashLensError as exc:
                common.show_error(exc)
    else:
        st.caption("Set CRASHLENS_SLACK_WEBHOOK_URL to share summaries to Slack.")

render_export(ws, settings, inc.id)
_verify_section()

with _lazy(f"All runs of this incident ({len(runs)})", "rca_runs_open", ":material/history:") as box:
    if box.open:
        st.dataframe([{"run": r["id"][:8], "status": r["status"], "engine": r["engine"], "model": r["model"],
                       "started": r["started_ts"], "tokens": (r["prompt_tokens"] or 0) + (r["completion_tokens"] or 0),
                       "cost_usd": r["cost_usd"], "notice": r["notice"]} for r in runs], hide_index=True, width="stretch")

st.subheader("Ask the workspace")
with st.form("rca_ask"):
    question = st.text_input("Question", placeholder="what errors hit payments after 10:05?", key="rca_question")
    asked = st.form_submit_button("Ask", icon=":material/search:")
if asked and question.strip():
    try:
        rng = common.time_range()  # a range picked in the sidebar wins; else the incident's window
        around = ((rng.start, rng.end) if rng.bounded and not rng.is_everything
                  else (inc.window_start, inc.window_end) if inc.window_start and inc.window_end else None)
        answer = ask(ws, settings, question, engine=engine or "offline", around=around)
        st.text(answer.answer)
        if answer.notice:
            st.text(answer.notice)
        for e in answer.evidence:
            # the line itself, not its id: people read lines; the id stays as the citation
            first = (e.text or e.title).splitlines()[0] if (e.text or e.title) else e.id
            with st.expander(common.inert(first[:140]), icon=":material/description:"):
                st.caption(e.id)
                st.code(e.text, language=None)
    except CrashLensError as exc:
        common.show_error(exc)
