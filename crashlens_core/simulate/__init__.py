"""The crash simulator: realistic incidents in a small sample service, with ground truth.

It builds the sample "shop" service's git repository from ``data/demo/shop``,
runs the real shop code (imported from that repository) under seeded load in
simulated time across a few hosts, injects one fault per scenario, and writes
logs, spans, metrics and a ``ground_truth.json`` saying where the fault really
is. The same scenario and seed always produce the same bytes.

>>> from pathlib import Path
>>> [s.name for s in list_scenarios()][:2]
['checkout-discount-bug', 'payment-gateway-timeout']
>>> result = run_scenario("payment-gateway-timeout", Path("/tmp/sim"))  # doctest: +SKIP
>>> result.ground_truth["root_cause"]["file"]  # doctest: +SKIP
'shop/payments.py'
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable

from .driver import DEFAULT_START, SimulationResult
from .driver import run as _run
from .repo import build_sample_repo
from .runbook import build_runbook_pdf
from .scenarios import Scenario, list_scenarios
from .scenarios import get_spec as _get_spec

__all__ = [
    "Scenario",
    "SimulationResult",
    "list_scenarios",
    "run_scenario",
    "build_sample_repo",
    "build_runbook_pdf",
    "DEFAULT_START",
]


def run_scenario(name: str, out_dir: Path, seed: int = 0, repo_dir: Path | None = None,
                 start: datetime | None = None,
                 progress: Callable[[float, str], None] | None = None) -> SimulationResult:
    """Run scenario ``name`` and write its telemetry and ground truth into ``out_dir``.

    ``repo_dir`` is where the sample repository is built (default ``out_dir/repo``;
    an existing build is reused). ``start`` is when the baseline begins (naive
    means UTC; default: 2024-05-14T10:00Z plus one hour per catalogue position, so
    scenarios never overlap). ``progress(fraction, message)`` is called as it runs.
    Raises InputError for an unknown scenario name.
    """
    spec = _get_spec(name)
    return _run(spec, Path(out_dir), seed=seed, repo_dir=repo_dir, start=start, progress=progress)
