"""The simulator's change feed (issue 15): each scenario's own changes, seeded decoys, the truth, the alert."""

from __future__ import annotations

from crashlens_core.ingest.changes import normalize_change
from crashlens_core.signals.alerts import parse_alert
from crashlens_core.simulate.changefeed import alert_payload, build_feed
from crashlens_core.simulate.scenarios import get_spec
from crashlens_core.simulate.world import iso_us

START = 1_715_680_800_000_000  # 2024-05-14T10:00Z in µs
FAULT = START + 300_000_000
COMMITS = {"1.4.0": "a" * 40, "1.4.1": "b" * 40, "1.4.2": "c" * 40, "1.5.0": "d" * 40}


def feed(name: str, seed: int = 0):
    return build_feed(get_spec(name), seed, START, FAULT, COMMITS)


def test_a_bad_deploy_is_the_culprit_among_seeded_decoys_one_of_them_after_the_onset():
    events, truth = feed("bad-canary-deploy")
    assert truth == {"culprit_change": {"kind": "deploy", "service": "shop", "version": "1.4.1"}, "decoys": 3,
                     "no_change_kind": None, "remediation_kind": "rollback"}
    culprit = [e for e in events if e.get("version") == "1.4.1"]
    assert len(culprit) == 1 and culprit[0]["commit"] == "b" * 40 and culprit[0]["hosts"] == ["shop-2"]
    previous = events[0]
    assert previous["version"] == "1.4.0" and previous["ts"] < iso_us(START)  # the fleet's deploy a day before
    decoys = [e for e in events if e["service"] != "shop"]
    assert len(decoys) == 3 and any(e["ts"] > iso_us(FAULT) for e in decoys)
    assert all(normalize_change(e)["kind"] == e["kind"] for e in events)  # the feed reads as change events
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert feed("bad-canary-deploy", 1)[0] != events and feed("bad-canary-deploy")[0] == events  # seeded


def test_config_flag_migration_and_no_change_truths_follow_the_events():
    assert feed("config-startup-error")[1]["culprit_change"] == {"kind": "config", "service": "shop",
                                                                 "name": "SHOP_GATEWAY_TIMEOUT_MS"}
    events, truth = feed("fraud-flag-lockout")
    flags = [e for e in events if e["kind"] == "flag" and e["service"] == "shop"]
    assert len(flags) == 1 and flags[0]["change"] == "5->1"  # three restarts deliver one flip
    assert truth["culprit_change"]["name"] == "fraud_max_orders_per_hour"
    assert feed("slow-fraud-query")[1]["culprit_change"]["kind"] == "infra"
    for name, kind, remedy in (("payment-gateway-timeout", "upstream_outage", "failover"), ("db-pool-exhaustion", "traffic_surge", "scale"),
                               ("agent-stale-carrier-data", "upstream_outage", "failover")):
        events, truth = feed(name)
        assert truth["culprit_change"] is None and truth["no_change_kind"] == kind and truth["remediation_kind"] == remedy
        assert len([e for e in events if e["service"] != "shop"]) == 3


def test_a_traffic_surge_feed_has_its_own_decoys_just_before_the_onset_and_no_culprit():
    events, truth = feed("newsletter-traffic-surge")
    assert truth == {"culprit_change": None, "decoys": 5, "no_change_kind": "traffic_surge", "remediation_kind": "scale"}
    before = {(e["kind"], e["service"], e["ts"]) for e in events}
    assert ("deploy", "search", iso_us(FAULT - 4 * 60_000_000)) in before
    assert ("flag", "checkout", iso_us(FAULT - 75_000_000)) in before
    assert all(normalize_change(e)["kind"] == e["kind"] for e in events)
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    # the scenario's own decoys draw nothing from the generator: the seeded three are another scenario's draws
    assert feed("bad-canary-deploy")[1]["decoys"] == 3


def test_the_alert_is_an_alertmanager_webhook_a_minute_after_the_onset():
    alert = parse_alert(alert_payload(get_spec("bad-canary-deploy"), FAULT, latency=False))
    assert alert.source == "alertmanager" and alert.services == ["checkout"]
    assert iso_us(FAULT + 60_000_000).startswith(alert.fired_at.isoformat()[:19]) and alert.metrics == ["error_rate"]


def test_a_delayed_onset_feed_releases_the_culprit_well_before_the_data_with_innocent_deploys_in_between():
    events, truth = feed("partner-code-expiry")
    assert truth["culprit_change"] == {"kind": "deploy", "service": "shop", "version": "1.5.0"} and truth["decoys"] == 5
    previous, release = [e for e in events if e["service"] == "shop"]
    assert previous["version"] == "1.4.2" and previous["commit"] == "c" * 40  # what the release replaced, a day before
    assert release["version"] == "1.5.0" and release["commit"] == "d" * 40
    assert release["ts"] == iso_us(FAULT - 50 * 60_000_000) and release["ts"] < iso_us(START)  # before the recorded data
    between = [e for e in events if e["kind"] == "deploy" and e["service"] != "shop" and release["ts"] < e["ts"] < iso_us(FAULT)]
    assert len(between) >= 2  # innocent deploys land after the culprit and before the onset
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    # the other scenarios' feeds are not moved by the new draws
    assert feed("bad-canary-deploy")[1]["decoys"] == 3
