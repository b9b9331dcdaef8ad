"""Claims said once, heaviest first, no filler (issue 19): curate_claims and the offline analyzer's claims."""

from __future__ import annotations

from crashlens_core.models import Evidence
from crashlens_core.rca.claims import MAX_CLAIMS, curate_claims, is_filler
from crashlens_core.rca.evidence import EvidenceSet
from crashlens_core.rca.offline import analyze_offline
from crashlens_core.rca.schema import Claim, RcaReport

SITE = "/app/shop/payments.py:_charge:64"


def _failure_items() -> list[Evidence]:
    """One KeyError seen through every collector: the span, two exception groups (caller and callee),
    the error lines of both services, their template and the crash site's source."""
    common = {"exc_type": "KeyError", "location": SITE, "count": 93, "baseline_count": 0, "expected": 0.0}
    return [
        Evidence("span:a1", "span", "error origin", "…", 60.0, dict(common, signal="error_span", service="payments",
                                                                      name="payments.charge")),
        Evidence("fp:1", "fp", "exception KeyError", "…", 59.0, dict(common, signal="fingerprint", services=["payments"], novelty=7.0)),
        Evidence("fp:2", "fp", "exception KeyError", "…", 58.0, dict(common, signal="fingerprint", services=["checkout"], novelty=7.0)),
        Evidence("log:10", "log", "ERROR payments", "…", 58.0, dict(common, signal="error_log", service="payments", level="ERROR",
                                                                   novelty=7.0, exception="KeyError: 'amount'")),
        Evidence("log:11", "log", "ERROR checkout", "…", 57.0, dict(common, signal="error_log", service="checkout", level="ERROR",
                                                                   novelty=7.0, exception="KeyError: 'amount'")),
        Evidence("tpl:T1", "tpl", "new template T1", "Template T1\ncharge failed <*>", 5.0,
                 {"signal": "template", "services": ["payments"], "count": 93, "baseline_count": 0, "expected": 0.0, "novelty": 7.0,
                  "state": "new", "level": "ERROR", "example_log": "log:10"}),
        Evidence("code:repo@1:shop/payments.py#L60-L68", "code", "crash site shop/payments.py:64", "…", 12.0,
                 {"signal": "frame", "file": "shop/payments.py", "line": 64, "function": "_charge", "from": "span:a1"}),
    ]


def _dims() -> list[Evidence]:
    return [
        Evidence("dim:span.latency=100-500 ms", "dim", "errors concentrate on span.latency=100-500 ms", "…", 2.6,
                 {"signal": "comparison", "dim": "span.latency", "value": "100-500 ms", "share": 0.8, "baseline_share": 0.01}),
        Evidence("dim:attr.status_code=500", "dim", "errors concentrate on attr.status_code=500", "…", 2.8,
                 {"signal": "comparison", "dim": "attr.status_code", "value": "500", "share": 1.0, "baseline_share": 0.0}),
        Evidence("dim:attr.region=eu", "dim", "errors concentrate on attr.region=eu", "…", 2.0,
                 {"signal": "comparison", "dim": "attr.region", "value": "eu", "share": 0.6, "baseline_share": 0.45}),
        Evidence("dim:version=1.4.1", "dim", "errors concentrated on version 1.4.1", "…", 4.0,
                 {"signal": "dimension", "dim": "version", "value": "1.4.1", "errors": 186, "all_errors": 186, "lines": 443,
                  "all_lines": 1611, "share": 1.0, "lift": 3.6}),
        Evidence("dim:attr.version=1.4.1", "dim", "errors concentrate on attr.version=1.4.1", "…", 2.9,
                 {"signal": "comparison", "dim": "attr.version", "value": "1.4.1", "share": 1.0, "baseline_share": 0.0}),
    ]


def test_one_failure_seen_by_every_collector_is_one_claim_citing_all_of_it():
    items = _failure_items()
    drafts = [Claim(f"claim about {e.id}", [e.id]) for e in items]
    kept, more = curate_claims(drafts, items)
    assert len(kept) == 1 and not more
    assert set(kept[0].evidence) == {e.id for e in items}
    assert kept[0].text.startswith("claim about span:a1")  # the strongest item's sentence
    assert "also shows in checkout" in kept[0].text  # the caller that logged it is named, once


def test_same_evidence_or_same_sentence_is_one_claim_whatever_the_engine():
    items = [Evidence("log:1", "log", "t", "x", 3.0, {}), Evidence("log:2", "log", "t", "x", 2.0, {})]
    drafts = [Claim("payments fails", ["log:1"]), Claim("Payments   fails", ["log:2"]), Claim("another view", ["log:1"])]
    kept, _ = curate_claims(drafts, items, by_subject=False)
    assert [(c.text, c.evidence) for c in kept] == [("payments fails", ["log:1", "log:2"])]


def test_filler_is_no_claim_and_one_dimension_value_is_said_once():
    items = _dims()
    assert is_filler(items[0]) == "a bucket of a continuous value"
    assert is_filler(items[1]).startswith("it restates the error")
    assert is_filler(items[2]) == "not distinctive against the baseline"
    assert not is_filler(items[3]) and not is_filler(items[4])
    drafts = [Claim(f"claim about {e.id}", [e.id]) for e in items]
    kept, more = curate_claims(drafts, items)
    assert [c.evidence for c in kept] == [["dim:version=1.4.1", "dim:attr.version=1.4.1"]] and not more


def test_claims_are_ordered_by_weight_capped_and_the_rest_is_listed_as_more():
    items = [Evidence(f"log:{n}", "log", "t", "x", float(n), {}) for n in range(1, 13)]
    drafts = [Claim(f"finding {n}", [f"log:{n}"]) for n in range(1, 13)]
    kept, more = curate_claims(drafts, items)
    assert [c.text for c in kept] == [f"finding {n}" for n in range(12, 12 - MAX_CLAIMS, -1)]
    assert [c.text for c in more] == [f"finding {n}" for n in range(12 - MAX_CLAIMS, 0, -1)]
    assert all(a.weight >= b.weight for a, b in zip(kept, kept[1:]))
    # the verdict leads whatever its own weight; a claim about another service is not about this failure
    items.append(Evidence("change:c1", "change", "deploy", "x", 0.5, {"signal": "changes", "service": "shop"}))
    items.append(Evidence("metric:search.cpu", "metric", "cpu", "x", 20.0, {"signal": "metric", "service": "search"}))
    drafts += [Claim("the deploy did it", ["change:c1"]), Claim("search is busy", ["metric:search.cpu"])]
    kept, more = curate_claims(drafts, items, lead="change:c1", focus={"payments"})
    assert kept[0].text == "the deploy did it" and "search is busy" in [c.text for c in more]


def _offline_set(extra: list[Evidence]) -> EvidenceSet:
    return EvidenceSet(_failure_items() + extra)


def test_offline_report_claims_only_the_failures_commits_and_no_duplicates():
    related = Evidence("commit:aaaaaaaaaaaa", "commit", "suspect commit aaaaaaaaaaaa: Parse gateway replies", "…", 2.0,
                       {"signal": "commit", "commit": "a" * 40, "file": "shop/payments.py", "why": "last changed line 64",
                        "from": "span:a1"})
    everyday = Evidence("span:d1", "span", "error origin", "…", 3.0,
                        {"signal": "error_span", "service": "inventory", "name": "inventory.reserve", "exc_type": "OutOfStock",
                         "location": "/app/shop/inventory.py:reserve:54", "count": 10, "baseline_count": 10, "expected": 10.0,
                         "novelty": 0.0})
    unrelated = Evidence("commit:bbbbbbbbbbbb", "commit", "suspect commit bbbbbbbbbbbb: Inventory service", "…", 2.0,
                         {"signal": "commit", "commit": "b" * 40, "file": "shop/inventory.py", "why": "last changed line 54",
                          "from": "span:d1"})
    report = analyze_offline(_offline_set(_dims() + [related, everyday, unrelated]))
    cited = [e for c in report.claims for e in c.evidence]
    assert len(cited) == len(set(cited))  # no item backs two claims
    assert "commit:aaaaaaaaaaaa" in cited and "commit:bbbbbbbbbbbb" not in cited
    assert "dim:span.latency=100-500 ms" not in cited and "dim:attr.status_code=500" not in cited
    texts = [" ".join(c.text.lower().split()) for c in report.claims]
    assert len(texts) == len(set(texts))
    assert report.claims[0].evidence[0] == "span:a1" and len(report.claims) <= MAX_CLAIMS
    again = RcaReport.from_json(report.to_json())
    assert again.claims == report.claims and again.more_claims == report.more_claims


def test_a_traffic_surge_is_the_trigger_of_a_pool_timeout_and_the_pool_fix_comes_first():
    common = {"exc_type": "shop.pool.PoolTimeout", "location": "/app/shop/pool.py:connection:39", "count": 277,
              "baseline_count": 0, "expected": 0.0}
    items = [
        Evidence("span:p1", "span", "error origin", "…", 60.0, dict(common, signal="error_span", service="checkout",
                                                                      name="checkout.place_order")),
        # declines grow with the requests (15 x 1 in a 12x surge): the everyday error rate, not the failure
        Evidence("span:p2", "span", "error origin", "…", 20.0,
                 {"signal": "error_span", "service": "payments", "name": "payments.charge", "exc_type": "PaymentDeclined",
                  "location": "/app/shop/payments.py:_charge:63", "count": 15, "baseline_count": 1, "expected": 1.0, "novelty": 3.9}),
        Evidence("failure:profile", "failure", "Where the failure starts", "…", 3.0,
                 {"signal": "changes", "first_failing_service": "checkout", "traffic_ratio": 12.8, "no_change_kind": "traffic_surge"}),
    ]
    report = analyze_offline(EvidenceSet(items))
    assert "12.8x the baseline's traffic" in report.root_cause
    assert any("failure:profile" in c.evidence and "12.8x" in c.text for c in report.claims)
    assert not any("span:p2" in c.evidence for c in report.claims)
    assert report.remediation[0].startswith("Release database connections") and "12.8x" in report.remediation[0]


def test_the_deploy_verdict_absorbs_the_version_claims_and_keeps_its_own_sentence():
    items = _dims() + [Evidence("change:d1", "change", "deploy of shop v1.4.1", "…", 2.2,
                                {"signal": "changes", "kind": "deploy", "service": "shop", "version": "1.4.1", "links": ["version"]})]
    drafts = [Claim(f"claim about {e.id}", [e.id]) for e in items[3:5]] + [Claim("The failure follows the deploy", ["change:d1"])]
    kept, _ = curate_claims(drafts, items, lead="change:d1", focus={"payments"})
    assert [c.text for c in kept] == ["The failure follows the deploy"]  # no "also shows in shop": a change is not a failure
    assert set(kept[0].evidence) == {"change:d1", "dim:version=1.4.1", "dim:attr.version=1.4.1"}


def test_an_error_only_version_comparison_is_no_claim_when_the_traffic_aware_check_found_nothing():
    everywhere = Evidence("dim:attr.version=1.5.0", "dim", "errors concentrate on attr.version=1.5.0", "…", 2.9,
                          {"signal": "comparison", "dim": "attr.version", "value": "1.5.0", "share": 1.0, "baseline_share": 0.0})
    report = analyze_offline(_offline_set([everywhere]))
    assert not any("dim:attr.version=1.5.0" in c.evidence for c in report.claims + report.more_claims)
