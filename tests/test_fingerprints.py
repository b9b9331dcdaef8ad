"""Exception fingerprints: the same bug is one group, different code paths are different groups."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from crashlens_core.signals.fingerprints import fingerprint, normalize_function
from crashlens_core.signals.stacks import StackTrace, extract_stacks, parse_stack

SERVICE = """
import sys

class Store:
    def __init__(self):
        self.rows = {}

    def price(self, sku):
        return self.rows[sku]["price"]

def checkout(store, order_id, sku):
    {padding}
    return store.price(sku) * 2

def refund(store, order_id, sku):
    return store.price(sku)

def serve(route, order_id, sku):
    try:
        (checkout if route == "checkout" else refund)(Store(), order_id, sku)
    except Exception:
        import traceback
        print("ERROR request", order_id, "failed at", hex(id(object())), file=sys.stderr)
        traceback.print_exc()

for arg in sys.argv[1:]:
    route, order_id, sku = arg.split(":")
    serve(route, order_id, sku)
"""


def run_service(tmp_path: Path, requests: list[str], padding: str = "pass", root: str = "app") -> list[StackTrace]:
    """Run a small service for real: each request logs its traceback on stderr."""
    folder = tmp_path / root
    folder.mkdir(parents=True, exist_ok=True)
    prog = folder / "service.py"
    prog.write_text(textwrap.dedent(SERVICE).replace("{padding}", padding))
    proc = subprocess.run([sys.executable, str(prog), *requests], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
    stacks = extract_stacks(proc.stderr)
    assert len(stacks) == len(requests), proc.stderr
    return stacks


def test_same_bug_in_many_requests_is_one_fingerprint(tmp_path):
    stacks = run_service(tmp_path, [f"checkout:o-{n}:sku-{n * 7}" for n in range(1, 6)])
    ids = {fingerprint(st).id for st in stacks}
    assert len(ids) == 1
    fp = fingerprint(stacks[0])
    assert fp.exc_type == "KeyError" and fp.basis == "in_app" and 16 <= len(fp.id) <= 32
    assert [f["function"] for f in fp.frames] == ["price", "checkout", "serve"]
    assert all("line" not in f for f in fp.frames) and fp.frames[0]["file"] == "app/service.py"
    assert fp.title.startswith("KeyError: 'sku-7'") and fp.culprit.startswith("price (")


def test_line_shifts_and_deploy_roots_do_not_split_a_group(tmp_path):
    before = run_service(tmp_path / "v1", ["checkout:o-1:a"])[0]
    after = run_service(tmp_path / "v2", ["checkout:o-2:b"], padding="x = 1\n    y = 2\n    z = x + y", root="app")[0]
    assert before.frames[1].line != after.frames[1].line
    assert fingerprint(before).id == fingerprint(after).id


def test_different_code_paths_and_types_are_different_groups(tmp_path):
    checkout, refund = run_service(tmp_path, ["checkout:o-1:a", "refund:o-2:a"])
    assert checkout.exception == refund.exception == "KeyError"
    assert fingerprint(checkout).id != fingerprint(refund).id
    other_type = StackTrace("python", "TypeError", "x", checkout.frames)
    assert fingerprint(other_type).id != fingerprint(checkout).id


JAVA_A = """java.lang.IllegalStateException: order 1001 rejected for user 77
\tat com.acme.shop.Orders.lambda$submit$0(Orders.java:41)
\tat com.acme.shop.Orders$$Lambda$412/0x0000000800c4b440.apply(Unknown Source)
\tat com.acme.shop.Orders$1.run(Orders.java:60)
\tat jdk.internal.reflect.GeneratedMethodAccessor57.invoke(Unknown Source)
\tat com.acme.shop.Api.post(Api.java:20)"""
JAVA_B = """java.lang.IllegalStateException: order 2002 rejected for user 12
\tat com.acme.shop.Orders.lambda$submit$3(Orders.java:44)
\tat com.acme.shop.Orders$$Lambda$977/0x0000000801a1c000.apply(Unknown Source)
\tat com.acme.shop.Orders$2.run(Orders.java:63)
\tat jdk.internal.reflect.GeneratedMethodAccessor112.invoke(Unknown Source)
\tat com.acme.shop.Api.post(Api.java:22)"""


def test_java_generated_names_lambdas_and_addresses_are_normalized():
    a, b = parse_stack("x\n" + JAVA_A), parse_stack("x\n" + JAVA_B)
    assert fingerprint(a).id == fingerprint(b).id
    c = parse_stack("x\n" + JAVA_B.replace("Api.post", "Api.put"))
    assert fingerprint(c).id != fingerprint(a).id
    assert normalize_function("Orders$$Lambda$412/0x0000000800c4b440") == "Orders$$Lambda"


GO_PANIC = """panic: assignment to entry in nil map

goroutine {g} [running]:
main.(*Cache).Put(0x{addr}, {{0x4d2a1b, 0x3}})
\t/build/{root}/cache.go:{line} +0x{off}
main.main()
\t/build/{root}/main.go:9 +0x25
"""


def test_go_addresses_offsets_and_goroutine_ids_are_ignored():
    a = parse_stack(GO_PANIC.format(g=1, addr="c000010000", root="v1", line=20, off="3e"))
    b = parse_stack(GO_PANIC.format(g=77, addr="c0000a2f00", root="v2", line=23, off="41"))
    assert fingerprint(a).id == fingerprint(b).id


def test_recursion_depth_does_not_split_a_group(tmp_path):
    prog = tmp_path / "rec.py"
    prog.write_text("import sys\ndef walk(n):\n    if n == 0:\n        raise RecursionError('deep')\n    return walk(n - 1)\nwalk(int(sys.argv[1]))\n")
    stacks = []
    for depth in ("2", "9"):
        proc = subprocess.run([sys.executable, str(prog), depth], capture_output=True, text=True, timeout=60)
        stacks.append(parse_stack(proc.stderr))
    assert len(stacks[0].frames) != len(stacks[1].frames)
    assert fingerprint(stacks[0]).id == fingerprint(stacks[1]).id


def test_fallbacks_all_frames_then_message():
    lib_only = parse_stack("x\njava.lang.NullPointerException\n\tat java.util.Objects.requireNonNull(Objects.java:209)\n"
                           "\tat java.util.HashMap.merge(HashMap.java:1300)")
    other_lib = parse_stack("x\njava.lang.NullPointerException\n\tat java.util.TreeMap.put(TreeMap.java:80)")
    assert fingerprint(lib_only).basis == "all_frames" and fingerprint(lib_only).frames
    assert fingerprint(lib_only).id != fingerprint(other_lib).id
    m1 = StackTrace("python", "TimeoutError", "upstream 10.0.0.7:8080 timed out after 3012 ms (req 9f1c2a44)", [])
    m2 = StackTrace("python", "TimeoutError", "upstream 10.0.0.9:8080 timed out after 2999 ms (req 00ab77c1)", [])
    m3 = StackTrace("python", "TimeoutError", "pool exhausted", [])
    assert fingerprint(m1).basis == "message"
    assert fingerprint(m1).id == fingerprint(m2).id != fingerprint(m3).id


def test_the_cause_chain_is_part_of_the_group():
    wrapped = "x\njava.lang.RuntimeException: failed\n\tat com.acme.Api.call(Api.java:5)\nCaused by: {cause}: boom\n\tat com.acme.Db.query(Db.java:9)\n\t... 1 more"
    sql = parse_stack(wrapped.format(cause="java.sql.SQLException"))
    io = parse_stack(wrapped.format(cause="java.io.IOException"))
    assert fingerprint(sql).id != fingerprint(io).id
    assert fingerprint(sql).culprit.startswith("query (")
