"""The crash simulator: real runs of every scenario against a real git repository.

Each scenario runs once per session (module fixture, ~10 s in all); the tests
then check the outputs against the ground truth, the formats against what the
ingesters expect, and determinism by running again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from crashlens_core.errors import InputError
from crashlens_core.simulate import (
    Scenario,
    build_runbook_pdf,
    build_sample_repo,
    list_scenarios,
    run_scenario,
)

ROOT = Path(__file__).resolve().parents[1]
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
TEXT_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
                       r"\[([\w-]+)\] (.*) trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16})$")
FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
KINDS = {"code_bug", "dependency_timeout", "config_error", "slow_query", "pool_exhaustion",
         "bad_deploy", "agent_stale_data", "wrong_return", "flag_change", "delayed_code_bug", "traffic_surge"}


def git(repo: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(repo), "LANG": "C", "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout


def read_logs(result) -> list[dict]:
    return [json.loads(line) for line in result.files["logs"].read_text().splitlines()]


def metric(result, name: str) -> list[dict]:
    with result.files["metrics"].open() as handle:
        return [row for row in csv.DictReader(handle) if row["name"] == name]


def in_fault(result, ts: str) -> bool:
    window = result.ground_truth["fault_window"]
    return window["start"] <= ts < window["end"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("shop-repo")
    build_sample_repo(path)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, repo) -> dict:
    out = tmp_path_factory.mktemp("sim")
    return {s.name: run_scenario(s.name, out / s.name, seed=0, repo_dir=repo) for s in list_scenarios()}


def by_kind(runs: dict, kind: str):
    return next(r for r in runs.values() if r.ground_truth["kind"] == kind)


def test_catalogue_covers_every_failure_family():
    scenarios = list_scenarios()
    assert all(isinstance(s, Scenario) and s.description for s in scenarios)
    assert len({s.name for s in scenarios}) == len(scenarios) >= 7
    assert {s.kind for s in scenarios} == KINDS


def test_unknown_scenario_is_an_input_error(tmp_path):
    with pytest.raises(InputError) as info:
        run_scenario("no-such-scenario", tmp_path)
    assert "no-such-scenario" in str(info.value)
    assert "--list" in info.value.hint


def test_sample_repo_is_deterministic_and_idempotent(tmp_path, repo):
    head = git(repo, "rev-parse", "HEAD").strip()
    assert build_sample_repo(repo) == head  # reused, not rebuilt
    assert build_sample_repo(tmp_path / "again") == head  # same hashes on a fresh build
    log = git(repo, "log", "--format=%an|%s").splitlines()
    assert len(log) >= 15 and len({line.split("|")[0] for line in log}) >= 3
    assert {"v1.4.0", "v1.4.1", "v1.4.2", "v1.5.0"} <= set(git(repo, "tag").split())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError):
        build_sample_repo(foreign)


def test_every_output_file_has_the_documented_shape(runs):
    for result in runs.values():
        files = result.files
        assert {"logs", "text_logs", "spans", "metrics", "ground_truth"} <= set(files)
        hosts = set(result.ground_truth["hosts"])
        assert 2 <= len(hosts) <= 3

        records = read_logs(result)
        assert records
        for record in records:
            assert TS.match(record["ts"]) and HEX32.match(record["trace_id"]) and HEX16.match(record["span_id"])
            assert record["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
            assert record["host"] in hosts and record["service"] and record["version"]
            assert record["logger"].startswith("shop")
            assert "_crashlens_shop_" not in record["message"] and "/tmp" not in record["message"]
        baseline = result.ground_truth["baseline_window"]
        assert baseline["start"] <= records[0]["ts"] and records[-1]["ts"] < result.ground_truth["fault_window"]["end"]

        text = files["text_logs"].read_text().splitlines()
        heads = [line for line in text if TEXT_LINE.match(line)]
        assert heads
        for line in text:
            assert TEXT_LINE.match(line) or line.startswith(("Traceback", "  ", "shop.", "KeyError",
                                                              "TypeError", "During", "The above", ""))

        spans = json.loads(files["spans"].read_text())
        ids, parents = set(), set()
        for resource in spans["resourceSpans"]:
            attrs = {a["key"]: a["value"]["stringValue"] for a in resource["resource"]["attributes"]}
            assert {"service.name", "host.name", "service.version"} <= set(attrs)
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    assert HEX32.match(span["traceId"]) and HEX16.match(span["spanId"])
                    assert int(span["startTimeUnixNano"]) <= int(span["endTimeUnixNano"])
                    assert span["status"]["code"] in (1, 2)
                    ids.add(span["spanId"])
                    if span["parentSpanId"]:
                        parents.add(span["parentSpanId"])
        assert parents and parents <= ids  # every parent link resolves

        with files["metrics"].open() as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["ts", "name", "value", "service", "host"]
        names = {row[1] for row in rows[1:]}
        assert {"requests_per_sec", "error_rate", "latency_p95_ms", "cpu_percent", "db_pool_in_use"} <= names
        seconds = sorted({datetime.fromisoformat(r[0].replace("Z", "+00:00")).timestamp() for r in rows[1:]})
        assert {round(b - a) for a, b in zip(seconds, seconds[1:])} == {10}

        truth = json.loads(files["ground_truth"].read_text())
        assert truth == result.ground_truth
        assert set(truth["root_cause"]) == {"service", "file", "function", "line", "commit", "host", "version"}
        for key in ("fault_window", "baseline_window"):
            assert TS.match(truth[key]["start"]) and TS.match(truth[key]["end"])


def test_exceptions_are_raised_where_the_ground_truth_says(runs, repo):
    checked = 0
    for result in runs.values():
        truth = result.ground_truth
        expected = truth["expected_exception"]
        if expected is None:
            assert not any("exc_type" in r for r in read_logs(result))
            continue
        failures = [r for r in read_logs(result) if r.get("exc_type") == expected]
        if truth.get("handled_exception"):  # a 4xx the shop answers itself: on its span, never logged as a crash
            assert not failures and f'"stringValue":"{expected}"' in result.files["spans"].read_text()
            continue
        assert failures, result.scenario
        cause = truth["root_cause"]
        for record in failures:
            assert in_fault(result, record["ts"])
            message, trace = record["message"].split("\n", 1)
            assert trace.startswith("Traceback (most recent call last):")
            assert trace.rstrip().splitlines()[-1].startswith(expected)
            path, line, function = FRAME.findall(trace)[-1]
            assert (path, int(line), function) == ("/app/" + cause["file"], cause["line"], cause["function"])
        # The recorded line is real source in the version that ran.
        version = cause["version"] or failures[0]["version"]
        source = git(repo, "show", f"v{version}:{cause['file']}").splitlines()[cause["line"] - 1]
        assert source.strip() in failures[0]["message"]
        checked += 1
    assert checked == 7  # the delayed-onset scenario raises the code bug's TypeError too, the traffic surge PoolTimeout


def test_code_bug_commit_is_what_git_blame_names(runs, repo):
    cause = by_kind(runs, "code_bug").ground_truth["root_cause"]
    porcelain = git(repo, "blame", "-L", f"{cause['line']},{cause['line']}", "--porcelain", "HEAD",
                    "--", cause["file"])
    assert re.fullmatch(r"[0-9a-f]{40}", cause["commit"])
    assert porcelain.split()[0] == cause["commit"]
    assert "Partner campaign" in git(repo, "log", "-1", "--format=%s", cause["commit"])
    assert cause["commit"] != git(repo, "rev-parse", "HEAD").strip()


def test_bad_deploy_fails_only_on_the_canary(runs, repo):
    result = by_kind(runs, "bad_deploy")
    cause = result.ground_truth["root_cause"]
    assert (cause["host"], cause["version"]) == ("shop-2", "1.4.1")
    failures = [r for r in read_logs(result) if "exc_type" in r]
    assert failures and {(r["host"], r["version"]) for r in failures} == {("shop-2", "1.4.1")}
    blamed = git(repo, "blame", "-L", f"{cause['line']},{cause['line']}", "--porcelain", "v1.4.1",
                 "--", cause["file"]).split()[0]
    assert blamed == cause["commit"]


def test_config_error_takes_one_host_down(runs):
    result = by_kind(runs, "config_error")
    assert result.ground_truth["root_cause"]["host"] == "shop-1"
    critical = [r for r in read_logs(result) if r["level"] == "CRITICAL"]
    assert len(critical) >= 3 and {r["host"] for r in critical} == {"shop-1"}
    down = {(r["host"], in_fault(result, r["ts"])) for r in metric(result, "process_up") if r["value"] == "0"}
    assert ("shop-1", True) in down and not any(h != "shop-1" or not f for h, f in down)


def test_dependency_timeout_hits_every_host(runs):
    result = by_kind(runs, "dependency_timeout")
    failures = [r for r in read_logs(result) if "exc_type" in r]
    assert {r["host"] for r in failures} == set(result.ground_truth["hosts"])
    assert result.ground_truth["root_cause"]["service"] == "payments"


def test_slow_query_shows_only_as_latency(runs, repo):
    result = by_kind(runs, "slow_query")
    cause = result.ground_truth["root_cause"]
    rows = [r for r in metric(result, "db_query_p95_ms") if r["service"] == cause["service"]]
    before = max(float(r["value"]) for r in rows if not in_fault(result, r["ts"]))
    during = max(float(r["value"]) for r in rows if in_fault(result, r["ts"]))
    assert during > 50 * before
    source = (repo / cause["file"]).read_text().splitlines()[cause["line"] - 1]
    assert "conn.query(" in source


def test_pool_exhaustion_pins_the_pool(runs):
    result = by_kind(runs, "pool_exhaustion")
    peaks = [float(r["value"]) for r in metric(result, "db_pool_in_use") if in_fault(result, r["ts"])]
    assert max(peaks) == 4


def test_traffic_surge_multiplies_the_requests_and_saturates_the_pool_with_no_change_at_fault(runs):
    result = by_kind(runs, "traffic_surge")
    truth = result.ground_truth
    assert truth["changes"]["culprit_change"] is None and truth["changes"]["no_change_kind"] == "traffic_surge"
    assert truth["changes"]["remediation_kind"] == "scale" and truth["root_cause"]["service"] == "checkout"
    # entry requests per second: the fault window against the baseline, from the exported spans
    doc = json.loads(result.files["spans"].read_text())
    starts = [int(s["startTimeUnixNano"]) for r in doc["resourceSpans"] for sc in r["scopeSpans"] for s in sc["spans"]
              if s.get("kind") == 2 or not s.get("parentSpanId")]
    fault = [datetime.fromisoformat(truth["fault_window"][k].replace("Z", "+00:00")).timestamp() * 1e9 for k in ("start", "end")]
    base = datetime.fromisoformat(truth["baseline_window"]["start"].replace("Z", "+00:00")).timestamp() * 1e9
    rate_b = sum(base <= t < fault[0] for t in starts) / (fault[0] - base)
    rate_f = sum(fault[0] <= t < fault[1] for t in starts) / (fault[1] - fault[0])
    assert 5 <= rate_f / rate_b <= 9
    assert max(float(r["value"]) for r in metric(result, "db_pool_in_use") if in_fault(result, r["ts"])) == 4
    failures = [r for r in read_logs(result) if r["level"] == "ERROR" and in_fault(result, r["ts"])]
    assert failures and all("PoolTimeout" in r["message"] for r in failures if r["service"] == "checkout")
    # the decoys just before the onset: a deploy and a flag flip, neither of them the cause
    feed = [json.loads(line) for line in result.files["changes"].read_text().splitlines()]
    before = [e for e in feed if truth["fault_window"]["start"] > e["ts"] >= truth["baseline_window"]["start"]]
    assert {("deploy", "search"), ("flag", "checkout")} <= {(e["kind"], e["service"]) for e in before}


def _span_names(result) -> list[tuple[str, str]]:
    """(start time ISO, span name) of every span the run exported."""
    doc = json.loads(result.files["spans"].read_text())
    out = []
    for resource in doc["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                ts = datetime.fromtimestamp(int(span["startTimeUnixNano"]) / 1e9, tz=timezone.utc)
                out.append((ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", span["name"]))
    return out


def test_wrong_return_faults_raise_nothing_and_only_change_behaviour(runs, repo):
    results = [r for r in runs.values() if r.ground_truth["kind"] == "wrong_return"]
    assert len({r.ground_truth["root_cause"]["service"] for r in results}) >= 3  # not one service's trick
    for result in results:
        truth = result.ground_truth
        cause = truth["root_cause"]
        # the ground truth is the replaced method's own definition in the deployed version
        source = (repo / cause["file"]).read_text().splitlines()[cause["line"] - 1]
        assert source.lstrip().startswith(f"def {cause['function']}("), source
        assert truth["incident_details"]["problem_type"]
        assert truth["incident_details"]["service"] is None  # the report names a symptom, not a service
        records = read_logs(result)
        faulty = [r for r in records if in_fault(result, r["ts"])]
        assert faulty
        assert not [r for r in faulty if r["level"] in ("ERROR", "CRITICAL")], result.scenario
        # calls the method made before the fault vanish during it
        spans = _span_names(result)
        before = {n for ts, n in spans if not in_fault(result, ts)}
        during = {n for ts, n in spans if in_fault(result, ts)}
        assert before - during, result.scenario


def test_agent_incident_and_native_spans(runs):
    result = by_kind(runs, "agent_stale_data")
    details = result.ground_truth["incident_details"]
    assert details["problem_type"] == "eta_mismatch" and details["eta_delta_hours"] > 1
    assert re.fullmatch(r"o-\d+", details["order_id"])
    spans = [json.loads(line) for line in result.files["agent_spans"].read_text().splitlines()]
    tools = {s["tool"] for s in spans}
    assert {"carrier_api", "inventory_lookup"} <= tools
    for span in spans:
        assert set(span) >= {"span_id", "trace_id", "parent_id", "tool", "start_ts", "end_ts", "status",
                             "args_digest", "result_digest", "attributes", "incident_id"}
        assert span["incident_id"] is None and TS.match(span["start_ts"])
        args = span["attributes"]["agent.args"]
        assert span["args_digest"] == hashlib.sha256(args.encode()).hexdigest()
        assert args == json.dumps(json.loads(args), sort_keys=True, separators=(",", ":"))
        if span["status"] == "ok":
            result_json = span["attributes"]["agent.result"]
            assert span["result_digest"] == hashlib.sha256(result_json.encode()).hexdigest()
    incident = [s for s in spans if s["trace_id"] == details["trace_id"] and s["tool"] == "carrier_api"]
    assert json.loads(incident[0]["attributes"]["agent.result"])["as_of"] < details["promised_eta"]
    assert result.ground_truth["root_cause"]["function"] == "carrier_api"
    for other in runs.values():
        assert ("agent_spans" in other.files) == (other is result)


def test_same_seed_same_bytes_other_seed_differs(runs, repo, tmp_path):
    for name in ("agent-stale-carrier-data", "config-startup-error"):
        first = runs[name]
        again = run_scenario(name, tmp_path / name, seed=0, repo_dir=repo)
        assert again.files.keys() == first.files.keys()
        for role, path in first.files.items():
            assert path.read_bytes() == again.files[role].read_bytes(), role
    other = run_scenario("agent-stale-carrier-data", tmp_path / "seed1", seed=1, repo_dir=repo)
    first = runs["agent-stale-carrier-data"]
    for role in ("logs", "spans", "metrics", "agent_spans"):
        assert other.files[role].read_bytes() != first.files[role].read_bytes(), role


def test_start_time_and_progress(repo, tmp_path):
    calls = []
    start = datetime(2024, 6, 1, 8, 30)
    result = run_scenario("slow-fraud-query", tmp_path, repo_dir=repo, start=start,
                          progress=lambda fraction, message: calls.append((fraction, message)))
    assert result.ground_truth["baseline_window"]["start"] == "2024-06-01T08:30:00.000Z"
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and all(m for _, m in calls)


def test_default_windows_never_overlap(runs):
    windows = sorted((r.ground_truth["baseline_window"]["start"], r.ground_truth["fault_window"]["end"])
                     for r in runs.values())
    assert all(a[1] <= b[0] for a, b in zip(windows, windows[1:]))


def test_runs_leave_no_modules_loggers_or_files_behind(runs, repo):
    import logging

    assert not [m for m in sys.modules if m.startswith("_crashlens_shop_")]
    assert not [n for n in logging.Logger.manager.loggerDict if n.startswith("_crashlens_shop_")]
    assert git(repo, "status", "--porcelain", "--ignored") == ""  # not even __pycache__


def test_runbook_pdf(tmp_path):
    import pymupdf

    path = build_runbook_pdf(tmp_path / "runbook.pdf")
    with pymupdf.open(path) as doc:
        assert doc.page_count >= 4
        assert sum(len(page.get_images()) for page in doc) >= 1
        text = "\n".join(page.get_text() for page in doc)
        toc = [title for _, title, _ in doc.get_toc()]
    for family in ("Dependency timeouts", "pool exhaustion", "Bad deploy", "Configuration errors",
                   "Slow queries", "stale tool data"):
        assert any(family in title for title in toc), family
    assert "PoolTimeout" in text
    # Reproducible, and the copy shipped in data/demo is what the code generates.
    assert build_runbook_pdf(tmp_path / "again.pdf").read_bytes() == path.read_bytes()
    assert (ROOT / "data" / "demo" / "runbook-shop.pdf").read_bytes() == path.read_bytes()


def test_importing_the_simulator_stays_light():
    code = ("import sys, crashlens_core.simulate; "
            "print(sorted(m for m in ('streamlit', 'pymupdf', 'fitz', 'git') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_start_accepts_aware_datetimes(repo, tmp_path):
    result = run_scenario("config-startup-error", tmp_path, repo_dir=repo,
                          start=datetime(2024, 7, 1, 0, 0, tzinfo=timezone.utc))
    assert result.ground_truth["fault_window"]["start"] == "2024-07-01T00:05:00.000Z"


def test_delayed_onset_runs_the_culprit_release_clean_until_its_trigger_arrives(runs):
    delayed, bug = by_kind(runs, "delayed_code_bug"), by_kind(runs, "code_bug")
    truth = delayed.ground_truth
    assert set(truth["versions"].values()) == {"1.5.0"}  # the release was in place before the recorded data
    failures = [r for r in read_logs(delayed) if r.get("exc_type") == "TypeError"]
    assert failures and all(in_fault(delayed, r["ts"]) for r in failures)  # clean baseline on the same version
    # the same faulty line and commit as the rollout scenario: only the time from change to onset differs
    assert truth["root_cause"]["commit"] == bug.ground_truth["root_cause"]["commit"]
    assert truth["changes"]["culprit_change"] == {"kind": "deploy", "service": "shop", "version": "1.5.0"}
