"""Issue 11 items 4 and 7 against real servers: Redis Sentinel failing over under traffic, and
revocation seen by another "host" whose Redis traffic crosses a latency-injecting proxy.

The numbers these scenarios measure (failover windows, the cross-host window) are reported by
bench/revocation_faults.py and documented in docs/operations.md; the tests assert only what
must hold: no revoked credential admitted, no 5xx, the copy follows the new primary.
"""

from __future__ import annotations

import json
import time

import pytest

from tests import fault_rows, fault_topology
from tests.live import _sqlite_template, lab, live_database  # noqa: F401
from tests.services import find_redis_server

pytestmark = [
    pytest.mark.live_server,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        find_redis_server() is None,
        reason="needs redis-server or valkey-server (with --sentinel support) on this machine",
    ),
]


def test_sentinel_failover_under_traffic(lab):  # noqa: F811
    result = fault_topology.sentinel_failover(lab, sentinels=1)
    for phase in ("sentinel_failover", "primary_killed"):
        assert result[phase]["requests"] > 50, json.dumps(result)
        assert result[phase]["revoked_admitted"] == 0, json.dumps(result)
        assert result[phase]["errors_5xx"] == 0, json.dumps(result)
    # Every worker's copy follows the primary: a revocation after each failover is refused
    # at once everywhere, which needs the subscription on the node the publisher writes to.
    # After SENTINEL FAILOVER that happens only once Sentinel turns the old primary into a
    # replica (and closes its pub/sub clients): measured, see docs/operations.md.
    assert result["resubscribed_after_s"] is not None, json.dumps(result)
    assert result["subscribers_on_newest_primary"] >= result["workers"], json.dumps(result)
    # Until then a revocation may reach a worker only through the database catch-up: within
    # the bound, never later.
    assert result["after_failover"]["admitted_after_bound"] == 0, json.dumps(result)
    assert result["after_kill"]["admitted_after_bound"] == 0, json.dumps(result)


def test_another_host_refuses_within_the_bound(lab):  # noqa: F811
    # 10 ms each way (the bench also runs 0 and 1 ms).
    result = fault_topology.many_hosts(lab, 0.01, trials=5)
    # Host B learns of the revocation over its slower link; it must never take longer than
    # the bound the whole design promises (its window is measured by the bench).
    assert result["first_refusal_after_return_ms_max"] < fault_rows.BOUND * 1000, json.dumps(result)


def _numsub(server: object, channel: str) -> int:
    try:
        reply = server.client().execute_command("PUBSUB", "NUMSUB", channel)  # type: ignore[attr-defined]
    except Exception:
        return -1
    return int(reply[1])


def test_f6_subscribers_follow_sentinel_failover_and_a_demoted_node_cannot_vouch(lab):  # noqa: F811
    """Red-team finding F6: after ``SENTINEL FAILOVER`` the subscriptions stayed on the demoted
    node (PUBSUB NUMSUB 3 there, 0 on the new primary), which kept answering the liveness PING;
    once it stopped replicating, a revocation on a healthy cache was admitted after the call
    returned (up to 0.75 s). Now liveness is proven by a heartbeat published through the
    primary: every subscriber moves to the new primary, and nothing is admitted after return.
    """
    sentinels = lab.sentinels(1)
    env = lab.env(sentinels.cache(), REVOCATION_SYNC_INTERVAL=1)
    server = lab.server(env, 3)
    driver = lab.driver(env)
    channel = ":1:jws:invalidate"
    user = fault_rows.setup_user(server, "f6")
    fault_rows.warm(server, fault_rows.bearer(user["access"]))
    old = sentinels.primary_port()
    assert _numsub(sentinels.server(old), channel) == 3

    sentinels.failover()
    new = sentinels.wait_primary_moved(old)
    moved = time.monotonic()
    followed_after = None
    while time.monotonic() < moved + 10:
        fault_rows.probe(server, fault_rows.bearer(user["access"]), time.monotonic() + 0.1)
        on_new = _numsub(sentinels.server(new), channel)
        on_old = _numsub(sentinels.server(old), channel)
        if on_new == 3 and on_old == 0:
            followed_after = time.monotonic() - moved
            break
    assert followed_after is not None, (on_new, on_old)
    # Measured on a 2-core machine: 0.1-0.6 s after Sentinel reports the new primary.
    assert followed_after < 3.0, followed_after

    # The demoted node stops replicating: it must not keep any worker trusting its copy.
    sentinels.server(old).client().replicaof("no", "one")
    for trial in range(3):
        victim = fault_rows.setup_user(server, f"f6-{trial}")
        headers = fault_rows.bearer(victim["access"])
        fault_rows.warm(server, headers)
        returned = driver.call("revoke_session", id=victim["session_id"])["returned"]
        probes = fault_rows.probe(server, headers, time.monotonic() + 1.5)
        admitted = [p for p in probes if p.status == 200 and p.started > returned]
        assert admitted == [], (trial, admitted)
        assert [p for p in probes if p.status >= 500 or p.status == 0] == []
