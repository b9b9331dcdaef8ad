"""Simulate: run the sample shop with an injected fault, see what it produced, ingest it."""

import json

import streamlit as st

from crashlens_core.errors import CrashLensError
from crashlens_core.simulate import list_scenarios, run_scenario
from crashlens_core.simulate.demo import ingest_simulation, load_simulation
from pages import common

common.leave_legacy_multipage()  # a cold server may run this file directly: go through app.py

st.title("Simulate")
st.caption("Runs the sample shop service under load with one injected fault, for real: the logs, spans and "
           "metrics below come from code that actually ran, with a ground truth to check any analysis against.")
ws = common.workspace()
scenarios = {s.name: s for s in list_scenarios()}

c1, c2 = st.columns([3, 1])
name = c1.selectbox("Scenario", list(scenarios), format_func=lambda n: f"{n} · {scenarios[n].kind.replace('_', ' ')}",
                    key="sim_scenario")
seed = c2.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="sim_seed",
                       help="the same seed always produces byte-identical files")
st.markdown(scenarios[name].description)

if st.button("Run scenario", type="primary", icon=":material/play_arrow:", key="sim_run"):
    bar = st.progress(0.0, text="starting…")
    try:
        result = run_scenario(name, ws.folder / "simulations" / f"{name}-seed{int(seed)}", seed=int(seed),
                              repo_dir=ws.folder / "demo-repo",
                              progress=lambda f, msg: bar.progress(min(f, 1.0), text=msg[:120]))
    except CrashLensError as exc:
        common.show_error(exc)
    else:
        bar.progress(1.0, text="done")
        st.session_state["sim_result"] = {"scenario": result.scenario, "seed": int(seed), "out_dir": str(result.out_dir),
                                          "files": {k: str(v) for k, v in result.files.items()},
                                          "ground_truth": result.ground_truth}

res = st.session_state.get("sim_result")
if res:
    st.subheader(f"Produced by {res['scenario']} (seed {res['seed']})")
    truth = res["ground_truth"]
    rc = truth.get("root_cause") or {}
    cols = st.columns(4)
    cols[0].metric("Root-cause service", rc.get("service") or "-")
    cols[1].metric("Fault kind", str(truth.get("kind", "-")).replace("_", " "))
    cols[2].metric("Exception", truth.get("expected_exception") or "none")
    cols[3].metric("Commit", (rc.get("commit") or "-")[:10])
    st.caption(f"Root cause at `{rc.get('file')}:{rc.get('line')}` in `{rc.get('function')}` · "
               f"fault window {truth['fault_window']['start']} → {truth['fault_window']['end']}")
    st.dataframe([{"output": key, "file": path} for key, path in res["files"].items()], hide_index=True)
    with st.expander("ground_truth.json"):
        st.code(json.dumps(truth, indent=2), language="json")
    if st.button("Ingest into the workspace", icon=":material/input:", key="sim_ingest"):
        try:
            with st.spinner("ingesting…"):
                reports, incident_ids = ingest_simulation(ws, load_simulation(res["out_dir"]), common.settings(),
                                                         seed=res["seed"])
        except CrashLensError as exc:
            common.show_error(exc)
        else:
            for r in reports:
                st.write(f"{r.path.rsplit('/', 1)[-1]}: " + (r.note if r.skipped else f"{r.loaded:,} loaded, {r.rejected:,} rejected"))
            if incident_ids:
                st.success(f"Ingested; incident {', '.join(i[:8] for i in incident_ids)} covers the injected fault.",
                           icon=":material/check_circle:")
            else:
                st.success("Ingested; no incident covers the injected fault window.", icon=":material/check_circle:")
