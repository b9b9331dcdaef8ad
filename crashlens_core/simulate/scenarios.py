"""The scenario catalogue: what each incident is, when it starts, how it is injected.

A scenario is data: the fleet's starting version, the load in the baseline and
the fault window, the timed events that cause the fault (a deploy, a config
rollout, a degraded dependency, a dropped index, a stale data feed) and how the
ground truth is located afterwards (from the real exception, the slowest query,
or the stale tool call). The driver interprets it; nothing here runs code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crashlens_core.errors import InputError

__all__ = ["Scenario", "Load", "Event", "ScenarioSpec", "SPECS", "HOSTS", "HEAD_VERSION",
           "list_scenarios", "demo_scenarios", "get_spec"]

HOSTS = ("shop-1", "shop-2", "shop-3")
HEAD_VERSION = "1.5.0"


@dataclass(frozen=True)
class Scenario:
    """A simulated incident, as listed by ``crashlens simulate --list``."""

    name: str
    kind: str
    description: str


@dataclass(frozen=True)
class Load:
    """Seeded request load over all hosts: rate and the mix of request kinds."""

    rate: float = 3.0  # requests per second
    checkout: float = 0.6
    stock: float = 0.25
    eta: float = 0.15
    discount_share: float = 0.15  # checkouts that carry a discount code
    expired_partner_share: float = 0.0  # discounted checkouts using the expired partner code


@dataclass(frozen=True)
class Event:
    """Something that happens at ``at_s`` seconds after the fault window opens."""

    at_s: float
    action: str  # deploy | restart | gateway_degraded | drop_index | carrier_stale | method_return
    host: str | None = None
    version: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioSpec:
    scenario: Scenario
    slot: int  # default start: the base date plus this many hours, so runs never overlap
    events: tuple[Event, ...]
    locate: str  # exception | slowest_query | stale_tool_call | injected_method
    expected_exception: str | None = None
    base_version: str = HEAD_VERSION
    baseline_s: int = 300
    fault_s: int = 180
    load: Load = Load()
    fault_load: Load | None = None
    culprit_host: str | None = None
    culprit_version: str | None = None
    blame: bool = False  # root-cause commit = git blame of the faulting line
    hosts: tuple[str, ...] = HOSTS
    # A fault no signal shows reaches people as a business report: its problem type.
    report: str | None = None
    # A restart whose env change a feature-flag service delivered: (flag key, change) for the change feed.
    flag: tuple[str, str] | None = None
    # The expected exception is one the shop answers itself (a 4xx): recorded on its span, logged as a warning.
    handled: bool = False
    # A delayed onset: base_version was released to the fleet this many seconds before the fault
    # window opens (before the recorded data), replacing `previous`; the change feed says so.
    prior_release: tuple[str, int] | None = None  # (previous version, seconds before the onset)
    # Innocent deploys of other services the change feed places between that release and the onset.
    decoys_between: int = 0
    # Innocent changes the change feed places shortly before the onset, on top of the seeded ones:
    # (kind, service, seconds before the onset), each one of the feed's decoys of that kind and service.
    decoys_before: tuple[tuple[str, str, int], ...] = ()
    # Part of the demo workspace (the demo's incidents and figures stay as they were when a
    # scenario is added for the benchmarks only).
    in_demo: bool = True


SPECS: tuple[ScenarioSpec, ...] = (
    ScenarioSpec(
        Scenario("checkout-discount-bug", "code_bug",
                 "Release 1.5.0 rolls out across the fleet; its partner-campaign change indexes a "
                 "campaign lookup that returns None for expired codes, so checkouts with an expired "
                 "partner code fail with TypeError in shop/discounts.py."),
        slot=0, base_version="1.4.2", locate="exception", expected_exception="TypeError",
        load=Load(discount_share=0.3, expired_partner_share=0.35),
        events=(Event(0, "deploy", "shop-1", HEAD_VERSION), Event(20, "deploy", "shop-2", HEAD_VERSION),
                Event(40, "deploy", "shop-3", HEAD_VERSION)),
        culprit_version=HEAD_VERSION, blame=True),
    ScenarioSpec(
        Scenario("payment-gateway-timeout", "dependency_timeout",
                 "The external card gateway degrades: most charges take about 3 s, past the "
                 "2.5 s client timeout, so checkouts fail with PaymentGatewayTimeout on every host."),
        slot=1, locate="exception", expected_exception="shop.payments.PaymentGatewayTimeout",
        events=(Event(0, "gateway_degraded"),)),
    ScenarioSpec(
        Scenario("config-startup-error", "config_error",
                 "A config rollout sets SHOP_GATEWAY_TIMEOUT_MS=2.5s; shop-1 restarts with it, "
                 "fails validation at start-up with ConfigError and crash-loops while the other "
                 "hosts carry its traffic."),
        slot=2, locate="exception", expected_exception="shop.config.ConfigError",
        events=(Event(0, "restart", "shop-1", args={"env": {"SHOP_GATEWAY_TIMEOUT_MS": "2.5s"}}),),
        culprit_host="shop-1"),
    ScenarioSpec(
        Scenario("slow-fraud-query", "slow_query",
                 "A table-rebuild migration drops idx_orders_customer; the per-customer fraud "
                 "velocity query in checkout turns into a full scan of orders. Nothing fails: "
                 "checkout latency and pool usage rise."),
        slot=3, locate="slowest_query",
        events=(Event(0, "drop_index", args={"index": "idx_orders_customer"}),)),
    ScenarioSpec(
        Scenario("db-pool-exhaustion", "pool_exhaustion",
                 "A flash sale multiplies checkout traffic; each checkout holds its database "
                 "connection across the card charge, the 4-connection pools run dry and requests "
                 "fail with PoolTimeout."),
        slot=4, locate="exception", expected_exception="shop.pool.PoolTimeout",
        fault_s=75, fault_load=Load(rate=40.0, checkout=0.92, stock=0.06, eta=0.02),
        events=()),
    ScenarioSpec(
        Scenario("bad-canary-deploy", "bad_deploy",
                 "Version 1.4.1 is canaried on shop-2 only; it reads a gateway response field "
                 "(amount_captured) that the gateway does not send, so every charge on shop-2 "
                 "fails with KeyError while shop-1 and shop-3 (1.4.0) are healthy."),
        slot=5, base_version="1.4.0", locate="exception", expected_exception="KeyError",
        events=(Event(0, "deploy", "shop-2", "1.4.1"),),
        culprit_host="shop-2", culprit_version="1.4.1", blame=True),
    ScenarioSpec(
        Scenario("agent-stale-carrier-data", "agent_stale_data",
                 "The carrier tracking API starts serving ParcelPro records cached six hours ago; "
                 "the order-ETA agent's carrier_api tool passes them on and the agent promises "
                 "arrival times that miss a storm delay at the LEJ hub by many hours."),
        slot=6, locate="stale_tool_call",
        load=Load(checkout=0.35, stock=0.15, eta=0.5),
        events=(Event(0, "carrier_stale", args={"carrier": "ParcelPro", "hours_old": 6}),)),
    # Wrong return values, injected as ChaosBlade's `jvm return` does (the method returns the
    # given value at entry, its body never runs), as in the Nezha data sets: nothing raises,
    # nothing slows; only behaviour changes (calls, logs and spans that vanish).
    ScenarioSpec(
        Scenario("confirmation-mail-skipped", "wrong_return",
                 "Notifier.send_confirmation returns True without sending: orders are placed and "
                 "paid, but no confirmation e-mail leaves the shop and nothing logs an error; "
                 "customers report missing confirmations."),
        slot=7, locate="injected_method", report="missing_confirmation_email",
        events=(Event(0, "method_return", args={"target": "notifications:Notifier.send_confirmation", "value": True}),)),
    ScenarioSpec(
        Scenario("charge-not-captured", "wrong_return",
                 "Payments._charge returns a stale charge id without calling the card gateway: "
                 "checkouts succeed and orders read paid, but no money is captured; finance's "
                 "reconciliation reports paid orders the gateway never saw."),
        slot=8, locate="injected_method", report="uncaptured_payments",
        events=(Event(0, "method_return", args={"target": "payments:Payments._charge", "value": "ch_7f3a0c1d"}),)),
    ScenarioSpec(
        Scenario("stock-not-reserved", "wrong_return",
                 "Inventory.reserve returns without taking units out of stock: every checkout "
                 "succeeds, stock levels never fall and the warehouse reports orders for items "
                 "it does not have."),
        slot=9, locate="injected_method", report="oversold_stock",
        load=Load(checkout=0.7, stock=0.2, eta=0.1),
        events=(Event(0, "method_return", args={"target": "inventory:Inventory.reserve", "value": None}),)),
    # Issue 15: a fault a feature flag causes. The flag service's value reaches the shop as
    # SHOP_FRAUD_MAX_ORDERS_PER_HOUR on a rolling restart; the change feed records the flip.
    ScenarioSpec(
        Scenario("fraud-flag-lockout", "flag_change",
                 "The strict-fraud flag is switched on: fraud_max_orders_per_hour drops from 5 to 1 across "
                 "the fleet in a rolling restart, and every returning customer's checkout is refused as "
                 "suspected fraud (FraudSuspected, 429) although nothing about them changed."),
        slot=10, locate="exception", expected_exception="shop.checkout.FraudSuspected",
        events=(Event(0, "restart", "shop-1", args={"env": {"SHOP_FRAUD_MAX_ORDERS_PER_HOUR": "1"}}),
                Event(15, "restart", "shop-2", args={"env": {"SHOP_FRAUD_MAX_ORDERS_PER_HOUR": "1"}}),
                Event(30, "restart", "shop-3", args={"env": {"SHOP_FRAUD_MAX_ORDERS_PER_HOUR": "1"}})),
        flag=("fraud_max_orders_per_hour", "5->1"), handled=True),
    # Issue 15: a delayed onset. The culprit release ran clean for most of an hour, because the
    # input that trips its bug (an expired partner code) only arrives at the onset; deploys of
    # other services land in between.
    ScenarioSpec(
        Scenario("partner-code-expiry", "delayed_code_bug",
                 "Release 1.5.0 reached the fleet 50 minutes before anything failed and ran clean; then a partner "
                 "campaign's codes expire, its campaign lookup returns None for them, and checkouts with the expired "
                 "code fail with TypeError in shop/discounts.py. Innocent deploys of other services land in between."),
        slot=11, locate="exception", expected_exception="TypeError",
        load=Load(discount_share=0.3, expired_partner_share=0.0),
        fault_load=Load(discount_share=0.3, expired_partner_share=0.35),
        events=(), culprit_version=HEAD_VERSION, blame=True, prior_release=("1.4.2", 50 * 60), decoys_between=2),
    # Issue 15: a second fault no change causes. Position 12 of the catalogue: an even position, so
    # it is in the tune half of bench/changes.py and bench/rca_eval.py (appended, so no other
    # scenario changes half). Not in the demo: the demo's incidents stay as they were.
    ScenarioSpec(
        Scenario("newsletter-traffic-surge", "traffic_surge",
                 "The marketing newsletter goes out: requests to the shop multiply about sevenfold within "
                 "seconds, most of them checkouts; the 4-connection pools saturate, checkout latency climbs "
                 "and requests fail with PoolTimeout. A search deploy and a checkout flag flip land shortly "
                 "before; nothing changed at the fault."),
        slot=12, locate="exception", expected_exception="shop.pool.PoolTimeout",
        fault_s=90, load=Load(rate=5.0), fault_load=Load(rate=35.0, checkout=0.85, stock=0.12, eta=0.03),
        events=(), decoys_before=(("deploy", "search", 4 * 60), ("flag", "checkout", 75)), in_demo=False),
)


def list_scenarios() -> list[Scenario]:
    """Every scenario the simulator can run, in catalogue order.

    >>> [s.kind for s in list_scenarios()][:2]
    ['code_bug', 'dependency_timeout']
    """
    return [spec.scenario for spec in SPECS]


def demo_scenarios() -> list[Scenario]:
    """The scenarios the demo workspace runs, in catalogue order (those the benchmarks alone run are left out)."""
    return [spec.scenario for spec in SPECS if spec.in_demo]


def get_spec(name: str) -> ScenarioSpec:
    for spec in SPECS:
        if spec.scenario.name == name:
            return spec
    raise InputError(f"unknown scenario {name!r}", hint="crashlens simulate --list shows the scenarios")
