"""Running one scenario: the fleet, the timeline, the outputs.

The driver builds (or reuses) the sample repository, imports the versions the
scenario deploys, boots one shop per host against the simulated world, then
replays the timeline in simulated time: scenario events (deploys, restarts,
faults) and seeded requests, each request handled start to finish by the real
shop code on the host the load balancer picks. Afterwards it reads the ground
truth off what happened and writes the output files.
"""

from __future__ import annotations

import heapq
import logging
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from . import changefeed, export, traffic, truth
from .loader import LoadedVersion, ShopLoader
from .repo import blame, build_sample_repo
from .runtime import LogCapture, Meter, SimClock, Tracer
from .scenarios import Event, ScenarioSpec
from .world import HOUR_US, FLEET_ENV, World, iso_us

__all__ = ["SimulationResult", "run", "DEFAULT_START"]

DEFAULT_START = datetime(2024, 5, 14, 10, 0, tzinfo=timezone.utc)
_BOOT_DELAY_US = 3_000_000  # a restarting host is out of the load balancer this long
_TAIL_US = 10_000_000  # load stops this long before the end, so every request ends inside the window
_RETRY_US = (10_000_000, 20_000_000, 40_000_000, 60_000_000)  # crash-loop back-off


@dataclass
class SimulationResult:
    """What run_scenario wrote: the output files by role, and the ground truth."""

    scenario: str
    out_dir: Path
    files: dict[str, Path]
    ground_truth: dict[str, Any]
    repo_dir: Path | None = None


@dataclass
class _Host:
    name: str
    version: str
    env: dict[str, str]
    app: Any = None
    up: bool = False
    failures: int = 0
    states: list[tuple[int, bool]] = field(default_factory=list)


def _epoch_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # naive times are UTC
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class _Run:
    """The mutable state of one scenario run."""

    def __init__(self, spec: ScenarioSpec, seed: int, loader: ShopLoader, start_us: int) -> None:
        self.spec = spec
        self.loader = loader

        def rng(part: str) -> random.Random:
            return random.Random(f"{spec.scenario.name}:{seed}:{part}")

        self.rng = rng
        self.start_us = start_us
        self.fault_us = start_us + spec.baseline_s * 1_000_000
        self.end_us = self.fault_us + spec.fault_s * 1_000_000
        self.clock = SimClock(start_us)
        self.tracer = Tracer(self.clock, rng("ids"), loader.scrub, lambda: loader.roots)
        self.logs = LogCapture(self.tracer)
        self.meter = Meter(self.tracer)
        self.world = World(self.clock, rng("world"), rng("seed-data"), start_us,
                           storm_us=self.fault_us - 4 * HOUR_US)
        self._lb = rng("balancer")
        self.hosts = {name: _Host(name, spec.base_version, dict(FLEET_ENV)) for name in spec.hosts}
        self.eta_outcomes: list[truth.EtaOutcome] = []
        self.injected_calls: list[truth.InjectedCall] = []
        self._events: list[tuple[int, int, str, Any]] = []
        self._seq = 0
        self.change_feed: list[dict[str, Any]] = []  # issue 15: written as changes.jsonl

    def install(self, loaded: LoadedVersion) -> None:
        loaded.telemetry.install(tracer=self.tracer, clock=self.clock, meter=self.meter)
        logger = loaded.logger
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # the simulation's logs must not reach the caller's handlers
        logger.addHandler(self.logs)

    def schedule(self, at_us: int, action: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at_us, self._seq, action, payload))

    def _set_state(self, host: _Host, at_us: int, up: bool) -> None:
        host.up = up
        host.states.append((at_us, up))

    def _boot(self, host: _Host, at_us: int) -> None:
        loaded = self.loader.versions[host.version]
        self.clock.now_us = at_us
        self.tracer.host, self.tracer.version = host.name, host.version
        backends = loaded.app.Backends(connect=self.world.connect, transport=self.world.transport)
        try:
            host.app = loaded.app.boot(host.env, backends)
        except Exception:
            # The shop logged why; like a supervisor, restart it with back-off.
            host.app = None
            self._set_state(host, at_us, False)
            retry = _RETRY_US[min(host.failures, len(_RETRY_US) - 1)]
            host.failures += 1
            self.schedule(at_us + retry, "boot", host.name)
            return
        host.failures = 0
        self._set_state(host, at_us, True)

    def _apply(self, event: Event, at_us: int) -> None:
        world = self.world
        if event.action in ("deploy", "restart"):
            host = self.hosts[event.host or ""]
            if event.version:
                host.version = event.version
            host.env.update(event.args.get("env", {}))
            self._set_state(host, at_us, False)
            self.schedule(at_us + _BOOT_DELAY_US, "boot", host.name)
        elif event.action == "gateway_degraded":
            world.faults["gateway_degraded"] = True
        elif event.action == "drop_index":
            world.run_ddl(f"DROP INDEX {event.args['index']}")
        elif event.action == "carrier_stale":
            world.faults["carrier_stale_carrier"] = event.args["carrier"]
            world.faults["carrier_stale_as_of_us"] = at_us - event.args["hours_old"] * HOUR_US
        elif event.action == "method_return":
            self._inject_return(event.args["target"], event.args.get("value"))
        else:
            raise ValueError(f"unknown scenario action {event.action!r}")

    def _inject_return(self, target: str, value: Any) -> None:
        """Make ``module:Class.method`` of every loaded version return ``value`` at entry.

        The class is patched, so instances already booted are affected too, as a JVM agent
        rewrites the loaded class. Each call is recorded for the ground truth.
        """
        module_name, _, qualname = target.partition(":")
        class_name, _, method_name = qualname.rpartition(".")
        for loaded in self.loader.versions.values():
            module = sys.modules[f"{loaded.package}.{module_name}"]
            owner = getattr(module, class_name) if class_name else module
            original = getattr(owner, method_name)
            code = original.__code__
            site = truth.InjectedSite(service=getattr(module, "SERVICE", module_name),
                                      file=self.loader.scrub(code.co_filename), function=method_name,
                                      line=code.co_firstlineno)

            def injected(*args: Any, _site: truth.InjectedSite = site, **kwargs: Any) -> Any:
                current = self.tracer.current
                self.injected_calls.append(truth.InjectedCall(
                    self.clock.now_us, _site, self.tracer.host, self.tracer.version,
                    current.trace_id if current else "", tuple(a for a in args if isinstance(a, str))))
                return value

            setattr(owner, method_name, injected)

    def _dispatch(self, request: traffic.Request) -> None:
        healthy = [h for h in self.hosts.values() if h.up]
        if not healthy:
            return  # the load balancer answers 503 itself; the shop never sees it
        host = healthy[self._lb.randrange(len(healthy))]
        self.clock.now_us = request.at_us
        self.tracer.host, self.tracer.version = host.name, host.version
        status, body = host.app.handle(request.method, request.path, request.body)
        if status == 200 and request.path.endswith("/eta") and body.get("basis") != "warehouse":
            self._record_eta(request, body)

    def _record_eta(self, request: traffic.Request, body: dict) -> None:
        row = int(body["order_id"].removeprefix("o-"))
        found = self.world.db.execute("SELECT tracking FROM shipments WHERE order_id = ?", (row,)).fetchone()
        shipment = self.world.shipments[found[0]]
        predicted_us = _epoch_us(datetime.fromisoformat(body["eta"].replace("Z", "+00:00")))
        self.eta_outcomes.append(truth.EtaOutcome(request.at_us, body["order_id"], predicted_us,
                                                  shipment.true_eta_us, self.tracer.last_trace_id,
                                                  shipment.carrier, shipment.tracking))

    def play(self, requests: list[traffic.Request], progress: Callable[[float, str], None]) -> None:
        for event in self.spec.events:
            self.schedule(self.fault_us + int(event.at_s * 1_000_000), "event", event)
        for i, host in enumerate(self.hosts.values()):
            self.schedule(self.start_us + i * 150_000, "boot", host.name)
        step = max(1, len(requests) // 20)
        index = 0
        while index < len(requests) or self._events:
            # Events first at equal times: a deploy at t is in place for a request at t.
            if self._events and (index >= len(requests) or self._events[0][0] <= requests[index].at_us):
                at_us, _, action, payload = heapq.heappop(self._events)
                if at_us >= self.end_us:
                    continue
                if action == "boot":
                    self._boot(self.hosts[payload], at_us)
                else:
                    self._apply(payload, at_us)
                continue
            self._dispatch(requests[index])
            index += 1
            if index % step == 0:
                progress(0.1 + 0.75 * index / len(requests), f"simulated {index}/{len(requests)} requests")


def run(spec: ScenarioSpec, out_dir: Path, seed: int = 0, repo_dir: Path | None = None,
        start: datetime | None = None,
        progress: Callable[[float, str], None] | None = None) -> SimulationResult:
    report = progress or (lambda fraction, message: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    repo_dir = Path(repo_dir) if repo_dir is not None else out_dir / "repo"
    report(0.0, "building the sample repository")
    build_sample_repo(repo_dir)
    # Whole milliseconds: every timestamp written is millisecond-precise anyway.
    start_us = _epoch_us(start or DEFAULT_START + timedelta(hours=spec.slot)) // 1000 * 1000
    with ShopLoader(repo_dir) as loader:
        versions = {spec.base_version} | {e.version for e in spec.events if e.version}
        if spec.prior_release is not None:  # the feed names the release commit of the version it replaced
            versions.add(spec.prior_release[0])
        for version in sorted(versions):
            loader.load(version)
        run_state = _Run(spec, seed, loader, start_us)
        try:
            for loaded in loader.versions.values():
                run_state.install(loaded)
            report(0.05, "generating load")
            windows = [(start_us + 2_000_000, run_state.fault_us, spec.load),
                       (run_state.fault_us, run_state.end_us - _TAIL_US, spec.fault_load or spec.load)]
            requests = traffic.generate(run_state.rng("load"), run_state.world, windows)
            run_state.play(requests, report)
            report(0.85, "deriving the ground truth")
            cause, ground_truth = _ground_truth(run_state, seed, repo_dir, loader)
            # issue 15: what changed around the fault (decoys included) and the truth about it
            run_state.change_feed, ground_truth["changes"] = changefeed.build_feed(
                spec, seed, start_us, run_state.fault_us, {v: lv.commit for v, lv in loader.versions.items()})
            report(0.9, "writing outputs")
            files = _write_outputs(run_state, out_dir, cause, ground_truth)
        finally:
            run_state.world.db.close()
    report(1.0, f"wrote {len(files)} files to {out_dir}")
    return SimulationResult(spec.scenario.name, out_dir, files, ground_truth, repo_dir)


def _ground_truth(run: _Run, seed: int, repo_dir: Path,
                  loader: ShopLoader) -> tuple[truth.RootCause, dict[str, Any]]:
    spec = run.spec
    window = (run.fault_us, run.end_us)
    spans = run.tracer.spans
    incident = None
    if spec.locate == "exception":
        assert spec.expected_exception is not None
        cause = truth.from_exception(spans, spec.expected_exception)
    elif spec.locate == "slowest_query":
        cause = truth.from_slowest_query(spans, window)
    elif spec.locate == "stale_tool_call":
        worst = truth.worst_eta_outcome(run.eta_outcomes, window)
        cause = truth.from_stale_tool_call(spans, worst, "carrier-api")
        incident = {
            "order_id": worst.order_id,
            "eta_delta_hours": round(worst.delta_hours, 1),
            "problem_type": "eta_mismatch",
            "promised_eta": iso_us(worst.predicted_eta_us),
            "actual_eta": iso_us(worst.true_eta_us),
            "carrier": worst.carrier,
            "tracking": worst.tracking,
            "trace_id": worst.trace_id,
        }
    elif spec.locate == "injected_method":
        first = truth.first_injected_call(run.injected_calls, window)
        cause = truth.from_injected_call(first)
        order = next((a for a in first.str_args if a.startswith("o-")), None)
        incident = {"problem_type": spec.report or "wrong_result", "reported_at": iso_us(run.end_us), "service": None}
        if order:
            incident["order_id"] = order
        incident["example_trace_id"] = first.trace_id
    else:
        raise ValueError(f"unknown locate rule {spec.locate!r}")
    if spec.culprit_host is not None and cause.host != spec.culprit_host:
        raise RuntimeError(f"{spec.scenario.name}: first failure on {cause.host}, not {spec.culprit_host}")
    commit = None
    if spec.blame:
        commit = blame(repo_dir, loader.versions[cause.version].commit, cause.file, cause.line)
    return cause, {
        "scenario": spec.scenario.name,
        "kind": spec.scenario.kind,
        "description": spec.scenario.description,
        "seed": seed,
        "root_cause": cause.as_dict(commit=commit, host=spec.culprit_host,
                                    version=spec.culprit_version),
        "fault_window": {"start": iso_us(run.fault_us), "end": iso_us(run.end_us)},
        "baseline_window": {"start": iso_us(run.start_us), "end": iso_us(run.fault_us)},
        "incident_details": incident,
        "expected_exception": spec.expected_exception,
        "handled_exception": spec.handled,
        "example_trace_id": cause.trace_id,
        "hosts": list(spec.hosts),
        "versions": {name: host.version for name, host in run.hosts.items()},
    }


def _write_outputs(run: _Run, out_dir: Path, cause: truth.RootCause,
                   ground_truth: dict[str, Any]) -> dict[str, Path]:
    names = {role: out_dir / name for role, name in export.OUTPUT_NAMES.items()}
    spans = run.tracer.spans
    entries = run.logs.entries
    files = {
        "logs": export.write_logs(names["logs"], entries),
        # The faulting service's own log file, on the host of the example trace.
        "text_logs": export.write_text_log(names["text_logs"], entries, cause.service, cause.host),
        "spans": export.write_otlp(names["spans"], spans),
    }
    if run.spec.locate == "stale_tool_call":
        agent = [s for s in spans if "args_digest" in s.attributes]
        files["agent_spans"] = export.write_agent_spans(names["agent_spans"], agent)
    host_states = [(t, host.name, up) for host in run.hosts.values() for t, up in host.states]
    files["metrics"] = export.write_metrics(names["metrics"], spans, run.meter.events, host_states,
                                            (run.start_us, run.end_us), run.rng("metrics"))
    files["changes"] = changefeed.write_feed(names["changes"], run.change_feed)  # issue 15
    if run.spec.locate in ("exception", "slowest_query"):  # a signal shows it: the SLO alert fires
        files["alert"] = export.write_json(names["alert"], changefeed.alert_payload(run.spec, run.fault_us,
                                                                                    run.spec.locate == "slowest_query"))
    files["ground_truth"] = export.write_json(names["ground_truth"], ground_truth)
    # A folder reused for another scenario must not keep outputs this run did not write.
    for role, path in names.items():
        if role not in files:
            path.unlink(missing_ok=True)
    return files
