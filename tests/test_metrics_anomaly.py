"""BARO-style metric anomalies on real ingested metric CSVs."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from crashlens_core.ingest import ingest_file
from crashlens_core.signals.metrics_anomaly import FALLBACK_WINDOWS, baro_score, metric_anomalies, metric_evidence_id, robust_scale

from .data_helpers import T0

W0, W1 = T0 + timedelta(minutes=5), T0 + timedelta(minutes=8)


def _csv(tmp_path, rows):
    p = tmp_path / "metrics.csv"
    p.write_text("ts,name,value,service,host\n" + "".join(f"{(T0 + timedelta(seconds=s)).isoformat()}Z,{n},{v},{svc},{h}\n"
                                                       for s, n, v, svc, h in rows))
    return p


def test_ranks_the_series_that_left_its_baseline(ws, tmp_path):
    rng = random.Random(3)
    rows = []
    for s in range(0, 480, 5):
        incident = s >= 300
        rows.append((s, "latency_p95_ms", (400 if incident else 100) + rng.uniform(-10, 10), "pay", "h1"))
        rows.append((s, "latency_p95_ms", 100 + rng.uniform(-10, 10), "pay", "h2"))        # the healthy host
        rows.append((s, "cpu_percent", 30 + rng.uniform(-5, 5), "shop", "h1"))              # noise only
        rows.append((s, "process_up", 0 if incident and s > 320 else 1, "shop", "h3"))      # flat, then down
        if incident:
            rows.append((s, "retries", 7, "pay", "h1"))                                     # only in the window
    rows.append((310, "cpu_percent", 90, "shop", "h1"))  # one stray sample: smoothed away
    assert ingest_file(ws, "metrics", str(_csv(tmp_path, rows))).rejected == 0
    found = metric_anomalies(ws, W0, W1, T0, W0)
    ids = [a.evidence_id for a in found]
    assert ids.index("metric:pay.latency_p95_ms@h1") < ids.index("metric:pay.latency_p95_ms@h2")
    top = {a.evidence_id: a for a in found}
    assert top["metric:shop.process_up@h3"].direction == "down" and top["metric:shop.process_up@h3"].score >= 50
    assert top["metric:pay.latency_p95_ms@h1"].direction == "up" and top["metric:pay.latency_p95_ms@h1"].score > 10
    assert top["metric:pay.latency_p95_ms@h2"].score < 3 and top["metric:shop.cpu_percent@h1"].score < 3
    assert top["metric:pay.retries@h1"].direction == "new" and top["metric:pay.retries@h1"].baseline_samples == 0
    ev = top["metric:pay.latency_p95_ms@h1"].to_evidence()
    assert ev.kind == "metric" and "latency_p95_ms" in ev.text and ev.data["evidence_id"] == ev.id
    assert metric_anomalies(ws, W1 + timedelta(hours=1), W1 + timedelta(hours=2), T0, W0) == []


def test_scales_and_ids():
    assert robust_scale(2.0, 1.0, 5.0, 10.0, [1]) == 2.0
    assert robust_scale(0.0, 1.0, 5.0, 10.0, [1]) == 1.4826
    assert robust_scale(0.0, 0.0, 0.5, 0.0, [1]) == 0.5   # mostly flat with spikes: the std
    assert robust_scale(0.0, 0.0, 0.0, 1.0, [0.0]) == 0.01  # flat: 1% of the size
    assert baro_score([1.0, 1.1, 9.0, 9.2, 9.1], 1.0, 0.5) == pytest.approx((16.3, 9.15))
    assert metric_evidence_id("error_rate") == "metric:error_rate"
    assert metric_evidence_id("error_rate", "pay") == "metric:pay.error_rate"


def test_a_too_short_baseline_falls_back_to_the_stretch_before_skipping_other_incidents(ws, tmp_path):
    # one sample a minute for an hour; the user's "normal period" is one minute long (one sample)
    rng = random.Random(5)
    rows = []
    for m in range(60):
        cpu = 20 + rng.uniform(-2, 2)
        if 30 <= m < 33:
            cpu = 500.0  # another incident, before the window: not normal behaviour
        if m >= 50:
            cpu = 80.0  # the window's fault
        rows.append((60 * m, "cpu", cpu, "basic", "h1"))
    assert ingest_file(ws, "metrics", str(_csv(tmp_path, rows))).rejected == 0
    window = (T0 + timedelta(minutes=50), T0 + timedelta(minutes=53))
    given = (T0 + timedelta(seconds=30), T0 + timedelta(seconds=90))
    found = {a.evidence_id: a for a in metric_anomalies(ws, *window, *given)}["metric:basic.cpu@h1"]
    assert found.auto_baseline and found.baseline_samples >= 5 and found.direction == "up" and found.score > 10
    assert "before the window" in found.describe() and found.to_json()["auto_baseline"] is True
    assert abs(found.baseline_median - 20) < 3  # the earlier incident's samples are in the stretch ...
    ws.create_incident("earlier incident", window_start=T0 + timedelta(minutes=30), window_end=T0 + timedelta(minutes=33))
    skipped = {a.evidence_id: a for a in metric_anomalies(ws, *window, *given)}["metric:basic.cpu@h1"]
    assert skipped.baseline_samples == found.baseline_samples - 3  # ... and left out once it is a known incident
    assert FALLBACK_WINDOWS * 3 == 30 and skipped.baseline_samples <= 30
    # a baseline with enough samples is used as given
    long = {a.evidence_id: a for a in metric_anomalies(ws, *window, T0, T0 + timedelta(minutes=20))}["metric:basic.cpu@h1"]
    assert not long.auto_baseline and long.baseline_samples == 20
