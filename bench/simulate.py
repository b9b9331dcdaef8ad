"""Benchmark the crash simulator: seconds per scenario and for a whole demo build.

Usage: python bench/simulate.py [--seed N] [--keep DIR]

The demo build is what `crashlens demo` needs from the simulator: the sample
repository, the runbook PDF and every scenario. Target: under 60 s in total on
the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crashlens_core.simulate import (  # noqa: E402
    build_runbook_pdf,
    build_sample_repo,
    list_scenarios,
    run_scenario,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write outputs here instead of a temporary directory")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="crashlens-bench-sim-"))
    try:
        total = time.perf_counter()
        t = time.perf_counter()
        head = build_sample_repo(out / "repo")
        repo_s = time.perf_counter() - t
        t = time.perf_counter()
        build_runbook_pdf(out / "runbook-shop.pdf")
        pdf_s = time.perf_counter() - t
        print(f"{'sample repository':28s} {repo_s:6.2f} s  HEAD {head[:12]}")
        print(f"{'runbook PDF':28s} {pdf_s:6.2f} s")
        rows = []
        for scenario in list_scenarios():
            t = time.perf_counter()
            result = run_scenario(scenario.name, out / scenario.name, seed=args.seed, repo_dir=out / "repo")
            seconds = time.perf_counter() - t
            logs = sum(1 for _ in result.files["logs"].open())
            spans = sum(len(scope["spans"]) for rs in json.loads(result.files["spans"].read_text())["resourceSpans"]
                        for scope in rs["scopeSpans"])
            size_mb = sum(p.stat().st_size for p in result.files.values()) / 1e6
            rows.append((scenario.name, seconds, logs, spans, size_mb))
            print(f"{scenario.name:28s} {seconds:6.2f} s  {logs:6d} log lines  {spans:6d} spans  {size_mb:5.1f} MB")
        total_s = time.perf_counter() - total
        print(f"{'scenarios only':28s} {sum(r[1] for r in rows):6.2f} s")
        print(f"{'demo build total':28s} {total_s:6.2f} s  (target < 60 s)")
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
