"""One failure, one group (issue 19): a caller logging the error its callee raised is one issue.

Real parts: the stack traces come from a small real Python program run here (a shop whose
checkout calls payments, and two services sharing a database pool), written as JSON log lines
with trace ids, ingested into a real DuckDB workspace and labelled by the real fingerprinting.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from crashlens_core.ingest import ingest_file
from crashlens_core.signals.issues import group_fingerprints, window_issues
from crashlens_core.signals.labels import label_pending
from crashlens_core.store import Workspace
from crashlens_core.store import signals as signal_store

START = datetime(2024, 5, 14, 10, 0, 0)

SHOP = {
    "shop/__init__.py": "",
    "shop/pool.py": """
        class PoolTimeout(Exception):
            pass

        def connection(order):
            raise PoolTimeout(f"no database connection free after 1000 ms (pool size 4, all in use) for {order}")
        """,
    "shop/gateway.py": """
        class GatewayTimeout(Exception):
            pass

        def post(order):
            raise GatewayTimeout(f"card gateway did not answer within 2500 ms (order {order})")
        """,
    "shop/payments.py": """
        import traceback
        from shop import gateway

        def _charge(order):
            return {"order": order}["amount_captured"]

        def charge(order, log):
            try:                      # payments logs what it raised, then the error goes back to the caller
                return _charge(order)
            except Exception:
                log("payments", traceback.format_exc())
                raise

        def serve_payment(order, log):   # payments' own entry point: its stack has a frame checkout's lacks
            try:
                return _charge(order)
            except Exception:
                log("payments", traceback.format_exc())
                raise

        def dispatch(order):   # the RPC server's dispatcher: the traceback it sends back starts here
            return _charge(order)

        def capture(order, log):
            try:
                return gateway.post(order)
            except Exception:
                log("payments", traceback.format_exc())
                raise
        """,
    "shop/checkout.py": """
        import traceback
        from shop import payments

        class UpstreamError(Exception):
            pass

        def place_order(order, log):
            return payments.charge(order, log)

        def handle(order, log):
            try:
                return place_order(order, log)
            except Exception:
                log("checkout", traceback.format_exc())

        def call_payment_service(order, log):
            try:
                payments.serve_payment(order, log)  # payments logs the failure at its entry point ...
            except Exception:
                pass
            try:
                payments.dispatch(order)  # ... and the RPC reply carries the traceback from the dispatcher down
            except Exception:
                log("checkout", traceback.format_exc())

        def pay_by_card(order, log):
            try:
                payments.capture(order, log)
            except Exception as exc:
                try:
                    raise UpstreamError(f"payments failed: {exc}") from None
                except Exception:
                    log("checkout", traceback.format_exc())
        """,
    "shop/inventory.py": """
        import traceback
        from shop import pool

        def stock_level(order, log):
            try:
                return pool.connection(order)
            except Exception:
                log("inventory", traceback.format_exc())
        """,
    "shop/orders.py": """
        import traceback
        from shop import pool

        def list_orders(order, log):
            try:
                return pool.connection(order)
            except Exception:
                log("orders", traceback.format_exc())
        """,
    "run.py": """
        import json, sys
        from datetime import datetime, timedelta
        from shop import checkout, inventory, orders

        start = datetime(2024, 5, 14, 10, 0, 0)
        out = open(sys.argv[1], "w")
        tick = [0]

        def emitter(trace):
            def log(service, text):
                tick[0] += 1  # one millisecond per line: the callee's line comes before its caller's
                ts = start + timedelta(milliseconds=tick[0])
                rec = {"ts": ts.isoformat() + "Z", "level": "ERROR", "service": service,
                       "message": "request failed\\n" + text}
                if trace:
                    rec["trace_id"] = trace
                out.write(json.dumps(rec) + "\\n")
            return log

        for i in range(12):
            checkout.handle(f"o-{i}", emitter(f"{i:032x}"))                       # in-process: stack extends
            checkout.call_payment_service(f"p-{i}", emitter(f"{i + 100:032x}"))   # remote: same crash frame, same trace
            checkout.pay_by_card(f"c-{i}", emitter(None))                          # wrapped: the message quotes
            inventory.stock_level(f"s-{i}", emitter(f"{i + 200:032x}"))          # one pool, two services,
            orders.list_orders(f"l-{i}", emitter(f"{i + 300:032x}"))             # unrelated requests
        out.close()
        """,
}


@pytest.fixture(scope="module")
def shop_ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    for name, text in SHOP.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    logs = root / "logs.jsonl"
    subprocess.run([sys.executable, str(root / "run.py"), str(logs)], cwd=root, check=True, timeout=120)
    folder = root / "ws"
    with Workspace.open(folder) as ws:
        assert ingest_file(ws, "logs", str(logs)).loaded == 12 * 8
        label_pending(ws)
    return folder


def _issues(folder: Path):
    with Workspace.open(folder, read_only=True) as ws:
        return window_issues(ws, START - timedelta(hours=1), START + timedelta(hours=1), limit=20)


def _by_title(issues, words: str):
    return [i for i in issues if words in i.title]


def test_a_caller_logging_its_callees_error_is_one_issue_with_both_services(shop_ws):
    issues = _issues(shop_ws)
    with Workspace.open(shop_ws, read_only=True) as ws:
        fps = signal_store.window_fingerprints(ws, START - timedelta(hours=1), START + timedelta(hours=1), limit=50)
    assert len(fps) == 8  # every stack shape is its own fingerprint ...
    assert len(issues) == 5  # ... and the three caller/callee pairs are one issue each
    in_process = next(i for i in issues if any(m["link"] == "frames" for m in i.members))
    assert in_process.exc_type == "KeyError" and in_process.services == ["payments", "checkout"]
    origin, caller = in_process.members
    assert (origin["role"], origin["services"], caller["role"], caller["services"]) == ("origin", ["payments"], "caller", ["checkout"])
    assert caller["via"] == origin["fingerprint"] == in_process.id and caller["shared_traces"] == 12
    assert in_process.count == 24 and in_process.culprit.startswith("_charge")


def test_a_remote_callers_own_stack_joins_by_crash_frame_and_shared_traces(shop_ws):
    remote = [i for i in _issues(shop_ws) if any(m["link"] == "traces" for m in i.members)]
    assert len(remote) == 1
    assert remote[0].services == ["payments", "checkout"] and remote[0].members[0]["services"] == ["payments"]
    assert remote[0].members[1]["shared_traces"] == 12


def test_a_wrapping_exception_that_quotes_the_message_joins_the_callees_issue(shop_ws):
    quoted = _by_title(_issues(shop_ws), "card gateway did not answer")
    assert len(quoted) == 1  # the UpstreamError is not an issue of its own
    issue = quoted[0]
    assert issue.exc_type.endswith("GatewayTimeout") and issue.services == ["payments", "checkout"]
    assert [m["link"] for m in issue.members] == [None, "message"]
    assert issue.members[1]["title"].startswith("shop.checkout.UpstreamError")


def test_one_pool_exhausted_by_two_services_in_unrelated_requests_stays_two_issues(shop_ws):
    pool = _by_title(_issues(shop_ws), "no database connection free")
    assert sorted(i.services[0] for i in pool) == ["inventory", "orders"]
    assert all(len(i.members) == 1 for i in pool)


def test_fingerprint_ids_are_kept_and_every_one_is_in_exactly_one_issue(shop_ws):
    with Workspace.open(shop_ws, read_only=True) as ws:
        stored = {r[0] for r in ws.con.execute("SELECT fingerprint FROM fingerprints").fetchall()}
    members = [fp for i in _issues(shop_ws) for fp in i.fingerprints]
    assert sorted(members) == sorted(stored)
    assert all(i.id in stored for i in _issues(shop_ws))


def test_generic_quotes_and_one_services_own_paths_are_not_joined():
    frames = [{"module": "db", "function": "query", "file": "shop/db.py"}]
    rows = [
        {"fingerprint": "f1", "exc_type": "TimeoutError", "title": "TimeoutError: timed out", "services": ["cart"], "count": 5,
         "frames": frames, "first_ts": START, "last_ts": START},
        {"fingerprint": "f2", "exc_type": "UpstreamError", "title": "UpstreamError: cart: timed out", "services": ["web"],
         "count": 5, "frames": [{"module": "web", "function": "get", "file": "web/app.py"}], "first_ts": START, "last_ts": START},
        # the same service reaching the crash frame from two places: its own two issues
        {"fingerprint": "f3", "exc_type": "TimeoutError", "title": "TimeoutError: timed out", "services": ["cart"], "count": 2,
         "frames": frames + [{"module": "cart", "function": "add", "file": "shop/cart.py"}], "first_ts": START, "last_ts": START},
    ]
    assert sorted(i.fingerprints for i in group_fingerprints(rows)) == [["f1"], ["f2"], ["f3"]]
    # a specific quote: joined while the callee fails, not an hour after it stopped
    rows[0]["title"] = "TimeoutError: cart store did not answer in time"
    rows[1]["title"] = "UpstreamError: cart: cart store did not answer in time"
    rows[1]["first_ts"] = rows[1]["last_ts"] = START + timedelta(seconds=5)
    assert sorted(i.fingerprints for i in group_fingerprints(rows)) == [["f1", "f2"], ["f3"]]
    rows[1]["first_ts"] = rows[1]["last_ts"] = START + timedelta(hours=1)
    assert sorted(i.fingerprints for i in group_fingerprints(rows)) == [["f1"], ["f2"], ["f3"]]


def test_incidents_page_lists_one_issue_per_failure_and_links_its_lines(shop_ws, tmp_path, monkeypatch):
    import shutil

    from .helpers import run_page

    folder = tmp_path / "ws"
    shutil.copytree(shop_ws, folder)
    with Workspace.open(folder) as ws:
        inc = ws.create_incident("checkout errors", services=["checkout"], window_start=START, window_end=START + timedelta(minutes=5))
    for key in ("GROQ_API_KEY", "CRASHLENS_ENGINE", "CRASHLENS_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CRASHLENS_HOME", str(folder))
    at = run_page("incidents", query={"incident": inc.id})
    at.session_state["inc_tab"] = "Fingerprints"  # only the open tab is drawn
    at.run()
    labels = [e.label for e in at.expander]
    assert sum("payments, checkout" in label for label in labels) == 3  # three failures seen by both services
    assert sum("One failure, logged by 2 services" in m.value for m in at.markdown) == 3
    queries = [parse_qs(link.proto.query_string).get("q", [""])[0] for link in at.get("page_link")]
    issue = _issues(folder)[0]
    assert len(issue.fingerprints) == 2 and "fingerprint=" + ",".join(issue.fingerprints) in queries

    logs = run_page("logs", query={"q": "fingerprint=" + ",".join(issue.fingerprints)})
    assert logs.text_input(key="lq_query").value == "fingerprint=" + ",".join(issue.fingerprints)
    assert any(f"**{issue.count:,}** matching lines" in m.value for m in logs.markdown)
