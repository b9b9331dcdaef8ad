"""RCA evidence reads stack traces with the one parser (signals.stacks), as the Incidents page does:
a Go panic has frames, a Java ``Caused by:`` chain names the cause, and the in-app settings count."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from crashlens_core.config import Settings
from crashlens_core.ingest import ingest_files
from crashlens_core.knowledge.frames import analyze
from crashlens_core.rca.evidence import assemble_evidence
from crashlens_core.store import Workspace

T0 = datetime(2024, 6, 3, 9, 0, 0)
WINDOW = (T0 + timedelta(minutes=10), T0 + timedelta(minutes=14))

GO_PANIC = """panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]

goroutine 17 [running]:
github.com/acme/ledger/internal/store.(*Book).Post(0x0, {0xc000123, 0x5})
\t/src/ledger/internal/store/book.go:88 +0x1c
github.com/acme/ledger/api.postHandler({0x7f2, 0xc0001}, 0xc000200)
\t/src/ledger/api/handlers.go:41 +0x9a
net/http.HandlerFunc.ServeHTTP(0x0?, {0x7f2, 0xc0001}, 0xc000200)
\t/usr/local/go/src/net/http/server.go:2136 +0x29"""

JAVA_CHAIN = """order {n} failed
org.springframework.web.util.NestedServletException: Request processing failed; nested exception is java.lang.IllegalStateException: stock missing
\tat org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)
\tat com.acme.orders.web.OrderController.place(OrderController.java:55)
Caused by: java.lang.IllegalStateException: stock missing for sku {n}
\tat com.acme.orders.stock.StockClient.reserve(StockClient.java:120)
\tat com.acme.orders.service.OrderService.place(OrderService.java:77)
\t... 1 more"""

PY_SDK = """charge {n} failed
Traceback (most recent call last):
  File "/app/billing/charge.py", line 30, in charge
    return client.send(payload)
  File "/usr/lib/python3/site-packages/acme_sdk/client.py", line 212, in send
    raise TimeoutError("gateway did not answer")
TimeoutError: gateway did not answer"""

TRACES = {"ledger": GO_PANIC, "orders": JAVA_CHAIN, "billing": PY_SDK}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rca-stacks")
    lines = []
    for i in range(14 * 60):
        ts = T0 + timedelta(seconds=i)
        svc = ("ledger", "orders", "billing")[i % 3]
        rec = {"ts": ts.isoformat() + "Z", "level": "INFO", "service": svc, "host": f"{svc}-1", "message": f"request {i} ok"}
        if WINDOW[0] <= ts < WINDOW[1] and i % 9 < 3:
            rec.update(level="ERROR", message=TRACES[svc].replace("{n}", str(i)))
        lines.append(json.dumps(rec))
    path = folder / "app.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with Workspace.open(folder / "ws") as ws:
        assert ingest_files(ws, "logs", [str(path)])[0].loaded == len(lines)
        inc = ws.create_incident("errors", severity="sev2", services=["ledger", "orders", "billing"],
                                 window_start=WINDOW[0], window_end=WINDOW[1])
    return folder / "ws", inc.id


def _error_log(ws, inc_id, service, settings=None):
    es = assemble_evidence(ws, settings or Settings(), inc_id, collectors=["error_logs"])
    return next(e for e in es.items if e.data.get("signal") == "error_log" and e.data["service"] == service)


def _page_crash_site(trace):
    """The crash site the Incidents page (knowledge.frames) shows for the same trace."""
    top = analyze(trace).suspects[0]
    return top.file, top.line


def test_a_go_panic_gives_frames_and_the_crash_site(workspace):
    folder, inc_id = workspace
    with Workspace.open(folder) as ws:
        item = _error_log(ws, inc_id, "ledger")
    assert item.data["frames"], "a Go panic has frames"
    assert item.data["frames"][0]["file"] == "/src/ledger/internal/store/book.go"
    assert item.data["location"] == "/src/ledger/internal/store/book.go:Book.Post:88"
    assert item.data["exc_type"] == "panic"
    assert item.data["exception"].startswith("panic: runtime error: invalid memory address")
    assert _page_crash_site(GO_PANIC) == ("/src/ledger/internal/store/book.go", 88)


def test_a_java_caused_by_chain_names_the_cause_not_the_wrapper(workspace):
    folder, inc_id = workspace
    with Workspace.open(folder) as ws:
        item = _error_log(ws, inc_id, "orders")
    assert item.data["exc_type"] == "java.lang.IllegalStateException"
    assert item.data["exception"].startswith("java.lang.IllegalStateException: stock missing for sku")
    assert item.data["chain"] == ["org.springframework.web.util.NestedServletException", "java.lang.IllegalStateException"]
    assert item.data["location"] == "StockClient.java:StockClient.reserve:120"
    assert _page_crash_site(JAVA_CHAIN.replace("{n}", "1")) == ("StockClient.java", 120)


def test_the_in_app_settings_move_the_crash_site(workspace):
    folder, inc_id = workspace
    with Workspace.open(folder) as ws:
        default = _error_log(ws, inc_id, "billing")
        sdk_is_ours = _error_log(ws, inc_id, "billing", Settings().replace(frames_in_app="acme_sdk"))
        charge_is_not = _error_log(ws, inc_id, "billing", Settings().replace(frames_not_in_app="/app/billing/"))
    assert default.data["location"] == "/app/billing/charge.py:charge:30"
    assert [f["in_app"] for f in default.data["frames"]] == [False, True]
    assert sdk_is_ours.data["location"] == "/usr/lib/python3/site-packages/acme_sdk/client.py:send:212"
    assert [f["in_app"] for f in sdk_is_ours.data["frames"]] == [True, True]
    # no in-app frame left: the innermost frame is where it was raised
    assert [f["in_app"] for f in charge_is_not.data["frames"]] == [False, False]
    assert charge_is_not.data["location"] == "/usr/lib/python3/site-packages/acme_sdk/client.py:send:212"
