"""Redaction figures: per-label recall / false-alter rate on the labelled dev corpus, and
throughput plus false alters on a large synthetic log.

    .venv/bin/python bench/redact.py [--lines 200000] [--data ../shared/data/redaction/dev.jsonl]

A dev line counts as caught when the redactor changes it; a `none` line counts as falsely
altered when it changes at all. `ambiguous` lines are reported but have no target. The
synthetic log mixes ordinary service log lines (timestamps, UUIDs, hex trace ids, versions,
durations, paths, private IPs) with 1% lines carrying a planted secret or PII value.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import string
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crashlens_core.redact import Redactor, redact_lines  # noqa: E402

TARGETS = {"secret": ("recall", 0.98), "pii": ("recall", 0.98), "none": ("false-alter", 0.05)}


def dev_figures(path: Path) -> None:
    caught: Counter[str] = Counter()
    total: Counter[str] = Counter()
    missed: list[str] = []
    for raw in path.read_text().splitlines():
        row = json.loads(raw)
        text = base64.b64decode(row["text_b64"]).decode("utf-8", "replace")
        altered = Redactor().redact(text) != text
        total[row["label"]] += 1
        caught[row["label"]] += altered
        if altered != (row["label"] != "none") and row["label"] != "ambiguous":
            missed.append(f"{row['id']} {row['label']} {row['kind']}")
    print(f"dev corpus: {path} ({sum(total.values())} lines)")
    print(f"  {'label':<10} {'lines':>5} {'altered':>8} {'figure':>12}   target")
    for label in ("secret", "pii", "none", "ambiguous"):
        n, k = total[label], caught[label]
        rate = k / n if n else 0.0
        name, target = TARGETS.get(label, ("altered", None))
        goal = (f">= {target:.2f}" if name == "recall" else f"<= {target:.2f}") if target is not None else "(no target)"
        ok = "" if target is None else ("  ok" if (rate >= target if name == "recall" else rate <= target) else "  MISSED")
        print(f"  {label:<10} {n:>5} {k:>8} {name:>6} {rate:5.3f}   {goal}{ok}")
    if missed:
        print("  wrong: " + "; ".join(missed))


def loghub_figures(root: Path) -> None:
    """Real logs nobody wrote for us: what gets masked, per system (expected: only public IPs, emails)."""
    files = sorted(root.glob("*/*_2k.log"))
    if not files:
        print(f"loghub-2k not found under {root}; skipping")
        return
    print(f"real logs: {root} (Loghub 2k samples; altered lines should carry real PII only)")
    for path in files:
        r = Redactor()
        lines = path.read_text(errors="replace").splitlines()
        altered = sum(1 for line in lines if r.redact(line) != line)
        print(f"  {path.stem:<16} {len(lines):>5} lines  {altered:>5} altered ({altered / len(lines):6.1%})  {r.summary() or ''}")


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def _ordinary(rng: random.Random, i: int) -> str:
    ts = f"2024-05-14T10:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 1000:03d}Z"
    svc = rng.choice(["checkout", "payments", "cart", "auth", "search", "gateway"])
    forms = [
        f"{ts} INFO {svc} request_id={uuid.UUID(int=rng.getrandbits(128))} GET /api/v2/orders/{rng.randint(1, 99999)} 200 in {rng.randint(1, 900)}ms",
        f"{ts} WARN {svc} trace_id={_hex(rng, 32)} span_id={_hex(rng, 16)} slow query took {rng.random() * 5:.3f}s",
        f"{ts} ERROR {svc} upstream 10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}:8080 connect timeout after 30000 ms (attempt {rng.randint(1, 5)}/5)",
        f"{ts} INFO {svc} started version 3.{rng.randint(0, 20)}.{rng.randint(0, 99)} build 2024.05.{rng.randint(10, 31)} commit {_hex(rng, 40)} pid={rng.randint(100, 65000)}",
        f"{ts} DEBUG {svc} cache_key=user:{rng.randint(1, 10**6)} hit ratio=0.{rng.randint(0, 999):03d} ttl=300s bytes={rng.randint(0, 10**7)}",
        f"{ts} ERROR {svc} java.lang.NullPointerException at com.shop.{svc}.Service.handle(Service.java:{rng.randint(10, 900)})",
        f"{ts} INFO {svc} token refresh ok for session {_hex(rng, 12)}; expires_in=3600 prompt_tokens={rng.randint(10, 4000)}",
        f"{ts} INFO {svc} pod {svc}-{_hex(rng, 10)}-{_alnum(rng, 5).lower()} ready on node ip-172-31-{rng.randint(0, 255)}-{rng.randint(0, 255)}.ec2.internal",
        f"{ts} WARN {svc} retrying order 2024-{rng.randint(100000, 999999)} amount=129.99 USD duration=1h2m3s epoch={1715680000000 + i}",
        f"{ts} INFO {svc} password reset requested; auth: ok; secret rotation scheduled at 02:00:00 UTC",
    ]
    return rng.choice(forms)


def _planted(rng: random.Random) -> str:
    forms = [
        lambda: f"connecting with key AKIA{''.join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))}",
        lambda: f"GROQ_API_KEY=gsk_{_alnum(rng, 52)}",
        lambda: f"Authorization: Bearer sk-proj-{_alnum(rng, 48)}",
        lambda: f"github token ghp_{_alnum(rng, 36)} used",
        lambda: f"db url postgres://app:{_alnum(rng, 14)}@db.internal:5432/shop",
        lambda: f"user {_alnum(rng, 6).lower()}@example.org logged in",
        lambda: f"client ip {rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)} blocked",
        lambda: "card 4111 1111 1111 1111 declined",
        lambda: f'config {{"password": "{_alnum(rng, 12)}"}}',
        lambda: f"slack xoxb-{rng.randint(10**11, 10**12)}-{rng.randint(10**11, 10**12)}-{_alnum(rng, 24)}",
    ]
    return rng.choice(forms)()


def synthetic_figures(n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    lines: list[str] = []
    planted: list[bool] = []
    for i in range(n):
        is_secret = rng.random() < 0.01
        lines.append((_planted(rng) if is_secret else _ordinary(rng, i)) + "\n")
        planted.append(is_secret)
    redactor = Redactor()
    t0 = time.perf_counter()
    out = list(redact_lines(lines, redactor))
    dt = time.perf_counter() - t0
    assert len(out) == len(lines)
    false_alter = sum(1 for a, b, p in zip(lines, out, planted) if not p and a != b)
    caught = sum(1 for a, b, p in zip(lines, out, planted) if p and a != b)
    clean, dirty = planted.count(False), planted.count(True)
    print(f"synthetic log: {n} lines ({dirty} planted), {sum(map(len, lines)) / 1e6:.1f} MB")
    print(f"  throughput      {n / dt:,.0f} lines/s  ({dt:.2f} s, redact_lines, one core)")
    print(f"  planted recall  {caught / max(dirty, 1):.3f}")
    print(f"  false alters    {false_alter / max(clean, 1):.4f} of ordinary lines ({false_alter})")
    if false_alter:
        examples = [(a, b) for a, b, p in zip(lines, out, planted) if not p and a != b][:3]
        for a, b in examples:
            print(f"    {a.strip()!r}\n -> {b.strip()!r}")
    print(f"  summary         {redactor.summary()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/redaction/dev.jsonl")
    ap.add_argument("--lines", type=int, default=200_000)
    args = ap.parse_args()
    if args.data.exists():
        dev_figures(args.data)
    else:
        print(f"dev corpus not found at {args.data}; skipping")
    loghub_figures(args.data.parents[1] / "loghub-2k")
    synthetic_figures(args.lines)


if __name__ == "__main__":
    main()
