"""Serve benchmark (issue 16): OTLP logs pushed to `crashlens serve` against `crashlens ingest` of a file.

Records: the real Loghub-2k lines of ``../shared/data/loghub-2k`` as OTLP log record bodies
(service = the system), repeated with fresh timestamps up to ``--records`` per half. The
systems are split in two halves (tune: HDFS, Hadoop, Spark, Zookeeper; report: BGL, Apache,
OpenSSH, Linux) and every figure is printed for both. Nothing is tuned here: the request
size is the OpenTelemetry SDK's default export batch (512 records) and the client concurrency
is fixed at 4 before any run; the split only shows how much the figures move with the data.

Per half, in one run, each in a fresh workspace:

1. ``crashlens serve`` throughput: 4 client threads post every record as protobuf+gzip
   requests of 512; the clock runs from the first request to the moment the server says
   everything is written (``/healthz``: spool empty, loaded = sent). The server runs the
   same signals refresh after each batch as ``crashlens ingest`` does after a file. Twice:
   as served by default (each request answered once its batch is written, so a batch holds
   at most one request per client), and with ``--ack-wait 0`` (answered 202 once fsync'ed in
   the spool, so the batches grow with the backlog).
2. The reference: the same records as one OTLP JSON file through ``crashlens ingest logs
   --format otlp`` (a fresh process: wall time, and the ingest's own seconds).
3. Latency at a fixed offered rate: ``--rate`` requests/s of 100 records, open loop, for
   ``--seconds`` seconds, on a fresh server; p50/p95/max of request latency (answered 200
   once written, or 202 once spooled if writing takes longer than ``--ack-wait``). When the
   writer held the workspace 75% of the last 3 s it pauses 0.8 s so the app and the CLI get
   in; the pauses are counted, since they show in the tail latency.
4. Peak RSS of the server process (VmHWM) over 1 and 3.
5. Alert to incident, on the workspace of 2 (the half's records) served with ``--rca-on-alert``:
   an Alertmanager webhook posted straight to ``/alerts/alertmanager`` (seconds until it is
   answered, when the incident exists, and until its offline RCA is recorded), then a real
   Alertmanager (Debian's ``prometheus-alertmanager``, ``group_wait`` 1 s) given the alert
   through its API and routing it to the server (seconds from that POST to the incident and to
   its RCA; Alertmanager's group_wait is inside). Skipped, saying so, without the binary.

Pull connectors (``--only pull`` runs just these), per half, each in a fresh workspace:

6. ``crashlens pull`` from a real Prometheus (Debian's ``prometheus``; a TSDB backfilled with
   ``promtool tsdb create-blocks-from openmetrics``, as tests/pull_servers.py does) of the Nezha
   Train-Ticket pod metrics of ``../shared/data/rca-dev`` (every numeric column of each pod's CSV
   a series ``nezha_<column>{service, instance=pod}``, one sample a minute): a 2-hour incident
   window and its default baseline (the 2 hours before), for the half's services, step 60 s (the
   data's own resolution, so each point is one sample). The services are split by a fixed rule:
   sorted by name, alternately tune and report. Next to it the reference: the same samples of
   the same four hours as a Prometheus text file through ``crashlens ingest metrics``.
7. ``crashlens pull`` from a real ClickHouse (Debian's ``clickhouse-server``, as the tests start
   it) of the half's Loghub lines (``--records`` of them, ten a second, in one table per half):
   the second half of their time range as the window, the first as its baseline, through a table
   source with column mappings; the reference: the same rows as a JSON Lines file through
   ``crashlens ingest logs``.
   For both: seconds of the process (what a user waits) and of the pull's own ranges (fetch,
   convert, ingest), rows/s. A missing binary or a server that does not start skips the part
   with a one-line reason.

Loopback only; every loop is bounded; it reports, it does not assert: exit 0.

    .venv/bin/python bench/serve.py [--records N] [--rate R] [--seconds S] [--only all|otlp|pull]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "loghub-2k"
sys.path.insert(0, str(ROOT))
from bench.serve_pull import crashlens_cli, pull_clickhouse, pull_prometheus  # noqa: E402

HALVES = {"tune": ["HDFS", "Hadoop", "Spark", "Zookeeper"], "report": ["BGL", "Apache", "OpenSSH", "Linux"]}
PER_REQUEST = 512   # the OpenTelemetry SDK's BatchLogRecordProcessor max_export_batch_size default
CLIENTS = 4
T0_NS = 1_715_680_800 * 10**9


def records_for(systems: list[str], n: int) -> list[tuple[str, str, int]]:
    """(service, body, time ns) — real lines, cycled, one millisecond apart."""
    lines = []
    for system in systems:
        text = (DATA / system / f"{system}_2k.log").read_text(encoding="utf-8", errors="replace")
        lines += [(system.lower(), line) for line in text.splitlines() if line.strip()]
    return [(lines[i % len(lines)][0], lines[i % len(lines)][1], T0_NS + i * 1_000_000) for i in range(n)]


def level_of(body: str) -> str:
    """A level for a Loghub line (its systems write levels in different places): ERROR when it says so."""
    return "ERROR" if "error" in body.lower() or "fail" in body.lower() else "INFO"


def export_doc(recs: list[tuple[str, str, int]]) -> dict:
    by_service: dict[str, list] = {}
    for service, body, ts in recs:
        level = level_of(body)
        by_service.setdefault(service, []).append({"timeUnixNano": str(ts), "severityText": level,
                                                   "body": {"stringValue": body}})
    return {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s}}]},
                              "scopeLogs": [{"logRecords": rs}]} for s, rs in by_service.items()]}


def protobuf_gzip(doc: dict) -> bytes:
    from google.protobuf.json_format import ParseDict

    from crashlens_core.serve.otlp import request_class

    return gzip.compress(ParseDict(doc, request_class("logs")()).SerializeToString(), compresslevel=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, workspace: Path, *extra: str) -> None:
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = "bench-token-0123456789abcdef"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHLENS_", "GROQ_"))}
        env["PYTHONPATH"] = str(ROOT)
        self.log = open(workspace.parent / f"serve-{self.port}.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "crashlens_core", "serve", "--workspace", str(workspace),
                                      "--port", str(self.port), "--token", self.token, *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.client = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {self.token}"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.client.get(self.url + "/healthz")
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit("crashlens serve did not start")

    def health(self) -> dict:
        return self.client.get(self.url + "/healthz").json()

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.client.close()
        self.log.close()


def post(client, url: str, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    r = client.post(url, content=body, headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    return r.status_code, time.perf_counter() - started


def throughput(folder: Path, recs: list, *extra: str) -> dict:
    bodies = [protobuf_gzip(export_doc(recs[i:i + PER_REQUEST])) for i in range(0, len(recs), PER_REQUEST)]
    srv = Server(folder / f"push{len(extra)}", *extra)
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            codes = [c for c, _ in pool.map(lambda b: post(srv.client, srv.url + "/v1/logs", b), bodies)]
        acked = time.perf_counter() - started
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            h = srv.health()
            if h["pending_requests"] == 0 and h["writer"]["loaded"] + h["writer"]["rejected"] >= len(recs):
                break
            time.sleep(0.05)
        written = time.perf_counter() - started
        rss = srv.peak_rss_mb()
        batches = h["writer"]["batches"]
        loaded = h["writer"]["loaded"]
    finally:
        srv.stop()
    return {"codes": {c: codes.count(c) for c in set(codes)}, "acked_s": acked, "written_s": written,
            "loaded": loaded, "batches": batches, "rss_mb": rss}


def file_ingest(folder: Path, recs: list) -> dict:
    path = folder / "records.otlp.json"
    path.write_text(json.dumps(export_doc(recs)))
    wall, out = crashlens_cli("ingest", "logs", str(path), "--format", "otlp", "--json", "--workspace", str(folder / "file"),
                              timeout=1200)
    report = json.loads(out.stdout.splitlines()[0]) if out.returncode == 0 else {"loaded": 0, "seconds": float("nan")}
    return {"wall_s": wall, "ingest_s": report["seconds"], "loaded": report["loaded"]}


def latency(folder: Path, recs: list, rate: float, seconds: float) -> dict:
    per = 100
    n = int(rate * seconds)
    bodies = [protobuf_gzip(export_doc(recs[(i * per) % len(recs):(i * per) % len(recs) + per])) for i in range(n)]
    srv = Server(folder / "latency")
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    try:
        def one(body: bytes) -> None:
            got = post(srv.client, srv.url + "/v1/logs", body)
            with lock:
                results.append(got)

        threads = []
        start = time.perf_counter()
        for i, body in enumerate(bodies):  # open loop: request i leaves at i/rate whatever the answers do
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t = threading.Thread(target=one, args=(body,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join(120)
        offered = n / (time.perf_counter() - start)
        rss = srv.peak_rss_mb()
        writer = srv.health()["writer"]
    finally:
        srv.stop()
    lat = sorted(s for _, s in results)
    codes = [c for c, _ in results]
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    return {"requests": n, "offered_rps": offered, "p50_ms": q[49] * 1000, "p95_ms": q[94] * 1000, "max_ms": lat[-1] * 1000,
            "codes": {c: codes.count(c) for c in set(codes)}, "rss_mb": rss,
            "rounds": writer["rounds"], "yields": writer["yields"]}


AM_BINARY = "/usr/bin/prometheus-alertmanager"


def wait_until(probe, timeout: float = 300, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    return None


def am_alert(name: str, service: str, starts_ns: int) -> dict:
    starts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(starts_ns / 1e9)) + "Z"
    return {"labels": {"alertname": name, "service": service, "severity": "critical"},
            "annotations": {"summary": f"{service} errors above their baseline"}, "startsAt": starts}


def alert_to_incident(folder: Path, service: str, starts_ns: int) -> dict:
    """Seconds from an alert to its incident and to the incident's offline RCA (the workspace holds the records)."""
    srv = Server(folder / "file", "--rca-on-alert")
    out: dict = {}
    am = None
    try:
        def rca_of(incident_id: str):
            r = srv.client.get(f"{srv.url}/rca/{incident_id}")
            return r.status_code == 200 and r.json().get("status") == "done"

        # 1. the webhook straight from a client, as Alertmanager posts it (version 4)
        alert = am_alert("BenchDirect", service, starts_ns)
        body = {"version": "4", "receiver": "crashlens", "status": "firing", "groupKey": '{}:{alertname="BenchDirect"}',
                "alerts": [dict(alert, status="firing", endsAt="0001-01-01T00:00:00Z", fingerprint="bench0000direct")],
                "groupLabels": {"alertname": "BenchDirect"}, "commonLabels": alert["labels"],
                "commonAnnotations": alert["annotations"], "externalURL": "http://127.0.0.1", "truncatedAlerts": 0}
        started = time.perf_counter()
        answer = srv.client.post(srv.url + "/alerts/alertmanager", json=body)
        out["direct_answer_s"] = time.perf_counter() - started
        incident_id = answer.json()["alerts"][0]["incident_id"]
        out["direct_rca_s"] = time.perf_counter() - started if wait_until(lambda: rca_of(incident_id)) else float("nan")
        out["onset"] = srv.client.get(f"{srv.url}/incidents/{incident_id}").json()["details"]["onset"]["method"]
        # 2. a real Alertmanager routing to the server
        if not os.access(AM_BINARY, os.X_OK):
            out["am"] = "skipped: prometheus-alertmanager is not installed (make test-deps)"
            return out
        from crashlens_core.serve.alert_hooks import alertmanager_config

        am_dir = folder / "alertmanager"
        am_dir.mkdir(exist_ok=True)
        token_file = am_dir / "token"
        token_file.write_text(srv.token)
        token_file.chmod(0o600)
        (am_dir / "am.yml").write_text(alertmanager_config(srv.url, str(token_file)))
        am_port = free_port()
        am_log = open(am_dir / "am.log", "wb")
        am = subprocess.Popen([AM_BINARY, f"--config.file={am_dir / 'am.yml'}", f"--storage.path={am_dir / 'data'}",
                               f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                              stdout=am_log, stderr=subprocess.STDOUT)
        am_url = f"http://127.0.0.1:{am_port}"

        def ready() -> bool:
            try:
                return srv.client.get(am_url + "/-/ready").status_code == 200
            except Exception:
                return False

        if not wait_until(ready, 60, 0.1):
            out["am"] = "skipped: alertmanager did not get ready"
            return out
        before = {i["id"] for i in srv.client.get(srv.url + "/incidents").json()}
        started = time.perf_counter()
        srv.client.post(am_url + "/api/v2/alerts", json=[am_alert("BenchViaAlertmanager", service, starts_ns)])

        def new_incident():
            fresh = [i["id"] for i in srv.client.get(srv.url + "/incidents").json() if i["id"] not in before]
            return fresh[0] if fresh else None

        via = wait_until(new_incident)
        out["am_incident_s"] = time.perf_counter() - started
        out["am_rca_s"] = time.perf_counter() - started if via and wait_until(lambda: rca_of(via)) else float("nan")
        out["alerts"] = srv.health()["alerts"]
    finally:
        if am is not None:
            am.terminate()
            am.wait(30)
        srv.stop()
    return out


def pull_figures(records: int) -> None:
    """Items 6 and 7: `crashlens pull` from Prometheus and ClickHouse next to `crashlens ingest` of the same rows."""
    print(f"# crashlens pull vs crashlens ingest; {platform.python_version()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="crashlens-bench-pull-") as tmp:
        pull_prometheus(Path(tmp), print)
        logs = {half: [(s, body, level_of(body)) for s, body, _ in records_for(systems, records)]
                for half, systems in HALVES.items()}
        pull_clickhouse(Path(tmp), logs, print)
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="log records per half (default 50,000)")
    parser.add_argument("--rate", type=float, default=10.0, help="offered requests/s for the latency run (default 10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run (default 10)")
    parser.add_argument("--only", choices=("all", "otlp", "pull"), default="all", help="run one part (default all)")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"no benchmark data at {DATA}")
        return 0
    if args.only != "otlp":
        pull_figures(args.records)
    if args.only == "pull":
        return 0
    print(f"# crashlens serve vs crashlens ingest, OTLP logs; {platform.python_version()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"# {args.records:,} records per half, {PER_REQUEST} per request, {CLIENTS} clients; latency: "
          f"{args.rate:g} req/s x 100 records for {args.seconds:g} s\n")
    rows = []
    for half, systems in HALVES.items():
        recs = records_for(systems, args.records)
        with tempfile.TemporaryDirectory(prefix=f"crashlens-bench-serve-{half}-") as tmp:
            folder = Path(tmp)
            push = throughput(folder, recs)
            spooled = throughput(folder, recs, "--ack-wait", "0")
            ref = file_ingest(folder, recs)
            lat = latency(folder, recs, args.rate, args.seconds)
            # the alert names the half's first system, at the time of its last records
            alert = alert_to_incident(folder, systems[0].lower(), recs[-1][2])
        rows.append((half, systems, push, spooled, ref, lat))
        print(f"[{half}] {', '.join(systems)}")
        print(f"  serve : {push['loaded']:,} records written in {push['written_s']:.2f} s = "
              f"{push['loaded'] / push['written_s']:,.0f} records/s ({push['batches']} batches; all acknowledged after "
              f"{push['acked_s']:.2f} s; answers {push['codes']})")
        print(f"  serve --ack-wait 0 (answered 202 once spooled): {spooled['loaded']:,} records written in "
              f"{spooled['written_s']:.2f} s = {spooled['loaded'] / spooled['written_s']:,.0f} records/s "
              f"({spooled['batches']} batches; all acknowledged after {spooled['acked_s']:.2f} s; answers {spooled['codes']})")
        print(f"  ingest: {ref['loaded']:,} records, process {ref['wall_s']:.2f} s = {ref['loaded'] / ref['wall_s']:,.0f} "
              f"records/s (ingest itself {ref['ingest_s']:.2f} s = {ref['loaded'] / max(ref['ingest_s'], 1e-9):,.0f}/s)")
        print(f"  serve / ingest process: {(push['loaded'] / push['written_s']) / (ref['loaded'] / ref['wall_s']):.2f}x")
        print(f"  latency at {lat['offered_rps']:.1f} req/s offered: p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, "
              f"max {lat['max_ms']:.0f} ms over {lat['requests']} requests (answers {lat['codes']}; {lat['rounds']} write rounds, "
              f"{lat['yields']} pauses of 0.8 s letting other processes in)")
        print(f"  peak RSS of the server: {max(push['rss_mb'], spooled['rss_mb'], lat['rss_mb']):.0f} MB")
        print(f"  alert to incident: webhook answered with the incident in {alert['direct_answer_s']:.2f} s, its offline "
              f"RCA recorded {alert['direct_rca_s']:.2f} s after the webhook (the server's first RCA: imports included; "
              f"onset found by: {alert['onset']})")
        if "am" in alert:
            print(f"  alert via a real Alertmanager: {alert['am']}\n")
        else:
            print(f"  alert via a real Alertmanager: incident {alert['am_incident_s']:.2f} s, offline RCA "
                  f"{alert['am_rca_s']:.2f} s after the alert was posted to Alertmanager's API (a second RCA in the "
                  f"server process; the alert started long before, so Alertmanager skips its 1 s group_wait)\n")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
