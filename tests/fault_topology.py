"""Issue 11 items 4 and 7: Redis Sentinel failover under traffic, and revocation across "hosts"
whose Redis traffic crosses a latency-injecting proxy.

Shared by tests/test_faults_topology.py (assertions) and bench/revocation_faults.py (numbers).
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import threading
import time
from typing import Any

from tests.fault_rows import BOUND, bearer, probe, setup_user, warm
from tests.faults import Lab, LiveServer, redis_cache


@dataclasses.dataclass
class Hit:
    started: float
    kind: str  # "revoked" or "valid"
    status: int


class Traffic:
    """Steady traffic from a few threads: a revoked credential and a valid one, alternately."""

    def __init__(self, server: LiveServer, revoked: str, valid: str, threads: int = 3) -> None:
        self.server = server
        self.credentials = {"revoked": revoked, "valid": valid}
        self.hits: list[Hit] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        deadline = time.monotonic() + 120  # bounded whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            for kind, token in self.credentials.items():
                started = time.monotonic()
                try:
                    status, _ = self.server.request(
                        "GET", "/faults/probe/", headers=bearer(token), timeout=15
                    )
                except OSError:
                    status = 0
                with self._lock:
                    self.hits.append(Hit(started, kind, status))

    def stop(self) -> list[Hit]:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return sorted(self.hits, key=lambda h: h.started)


def window(hits: list[Hit], bad: Any) -> float:
    """Seconds from the first to the last hit for which ``bad(hit)``; 0 when none."""
    found = [h.started for h in hits if bad(h)]
    return (max(found) - min(found)) if found else 0.0


def pubsub_clients(port: int) -> int:
    import redis

    client = redis.Redis(port=port, socket_timeout=2)
    return len(client.client_list(_type="pubsub"))


def _revocation_is_immediate(server: LiveServer, name: str) -> dict[str, Any]:
    """Warm a fresh session in every worker, log it out, probe: admissions after the return."""
    creds = setup_user(server, name)
    warm(server, bearer(creds["access"]))
    status, _ = server.request("POST", "/api/auth/logout/", headers=bearer(creds["access"]))
    returned = time.monotonic()
    assert status == 204
    probes = probe(server, bearer(creds["access"]), returned + BOUND + 1.0)
    return {
        "admitted_after_logout": sum(1 for p in probes if p.status == 200),
        "admitted_after_bound": sum(
            1 for p in probes if p.status == 200 and p.started > returned + BOUND
        ),
        "probes": len(probes),
    }


def _phase(
    server: LiveServer, revoked: str, valid: str, fault: Any, settle: float
) -> dict[str, Any]:
    traffic = Traffic(server, revoked, valid)
    time.sleep(1.0)
    started = time.monotonic()
    fault()
    time.sleep(settle)
    hits = traffic.stop()
    during = [h for h in hits if h.started >= started - 1.0]
    return {
        "requests": len(during),
        "revoked_admitted": sum(1 for h in hits if h.kind == "revoked" and h.status == 200),
        "errors_5xx": sum(1 for h in hits if h.status >= 500 or h.status == 0),
        "error_window_s": round(window(hits, lambda h: h.status >= 500 or h.status == 0), 2),
        "valid_refused": sum(1 for h in hits if h.kind == "valid" and h.status != 200),
        "valid_refused_window_s": round(
            window(hits, lambda h: h.kind == "valid" and h.status != 200), 2
        ),
        "slowest_gap_s": round(_slowest_gap(hits), 2),
    }


def _slowest_gap(hits: list[Hit]) -> float:
    starts = [h.started for h in hits]
    return max((b - a for a, b in itertools.pairwise(starts)), default=0.0)


def sentinel_failover(lab: Lab, sentinels: int = 1, workers: int = 3) -> dict[str, Any]:
    """Fail the primary over twice under traffic: ``SENTINEL FAILOVER``, then SIGKILL."""
    topology = lab.sentinels(sentinels)
    server = lab.server(lab.env(topology.cache()), workers)
    revoked = setup_user(server, "sentinel-revoked")
    valid = setup_user(server, "sentinel-valid")
    warm(server, bearer(revoked["access"]))
    warm(server, bearer(valid["access"]))
    status, _ = server.request("POST", "/api/auth/logout/", headers=bearer(revoked["access"]))
    assert status == 204
    result: dict[str, Any] = {"sentinels": sentinels, "workers": workers}
    # Each sentinel holds one pub/sub connection of its own on every instance it monitors.
    result["subscribers_before"] = pubsub_clients(topology.primary_port()) - sentinels

    old = topology.primary_port()

    def failover() -> None:
        topology.failover()
        result["failover_s"] = _timed_move(topology, old)

    result["sentinel_failover"] = _phase(
        server, revoked["access"], valid["access"], failover, settle=3.0
    )
    new = topology.primary_port()
    moved_at = time.monotonic()
    _touch_every_worker(server, valid["access"])
    result["subscribers_on_new_primary"] = pubsub_clients(new) - sentinels
    result["subscribers_on_old_primary"] = pubsub_clients(old) - sentinels
    result["after_failover"] = _revocation_is_immediate(server, "sentinel-after-failover")
    result["resubscribed_after_s"] = _wait_subscribed(
        server, valid["access"], new, workers, sentinels, moved_at
    )
    result["subscribers_on_new_primary_later"] = pubsub_clients(new) - sentinels

    def kill() -> None:
        topology.server(new).kill()
        result["kill_failover_s"] = _timed_move(topology, new)

    result["primary_killed"] = _phase(server, revoked["access"], valid["access"], kill, settle=6.0)
    newest = topology.primary_port()
    _touch_every_worker(server, valid["access"])
    result["subscribers_on_newest_primary"] = pubsub_clients(newest) - sentinels
    result["after_kill"] = _revocation_is_immediate(server, "sentinel-after-kill")
    return result


def _wait_subscribed(
    server: LiveServer, token: str, port: int, workers: int, sentinels: int, since: float
) -> float | None:
    """Seconds after the failover until every worker is subscribed on ``port`` (``None``: not
    within 30 s), with traffic meanwhile so each worker gets the chance to resubscribe."""
    deadline = since + 30
    while time.monotonic() < deadline:
        if pubsub_clients(port) - sentinels >= workers:
            return round(time.monotonic() - since, 2)
        probe(server, bearer(token), time.monotonic() + 0.2)
    return None


def _timed_move(topology: Any, old: int) -> float:
    started = time.monotonic()
    topology.wait_primary_moved(old)
    return round(time.monotonic() - started, 2)


def _touch_every_worker(server: LiveServer, token: str) -> None:
    """A few requests per worker, so each has had the chance to resubscribe."""
    deadline = time.monotonic() + 10
    seen: dict[int, int] = {}
    while time.monotonic() < deadline:
        for found in probe(server, bearer(token), time.monotonic() + 0.3):
            if found.pid:
                seen[found.pid] = seen.get(found.pid, 0) + 1
        if len(seen) >= server.workers and min(seen.values()) >= 3:
            return


def many_hosts(lab: Lab, latency: float, trials: int = 30) -> dict[str, Any]:
    """Host A revokes over a direct link; host B checks in a loop over a link that delays
    every packet by ``latency`` each way. The window: B's last admission minus A's return."""
    redis = lab.redis()
    far = lab.proxy(redis.port)
    far.latency(latency)
    near_env = lab.env(redis_cache(redis.url))
    host_a = lab.driver(near_env)
    host_b = lab.driver(lab.env(redis_cache(far.url)))
    server = lab.server(near_env, workers=1)  # only to make sessions
    windows: list[float] = []
    to_refusal: list[float] = []
    late = 0
    for index in range(trials):
        creds = setup_user(server, f"host-{latency}-{index}")
        host_b.call("spin_start", token=creds["access"], seconds=5.0)
        time.sleep(0.05)
        answer = host_a.call("revoke_session", id=creds["session_id"])
        spin = host_b.call("spin_result")
        assert spin["first_refused"], "host B never refused the revoked session"
        if spin["last_admitted"]:
            windows.append(spin["last_admitted"] - answer["returned"])
            late += spin["last_admitted"] > answer["returned"]
        to_refusal.append(spin["first_refused"] - answer["returned"])
    return {
        "latency_ms_each_way": latency * 1000,
        "trials": trials,
        "admitted_after_return": late,
        "window_ms_max": round(max(windows) * 1000, 2) if windows else None,
        "window_ms_median": round(statistics.median(windows) * 1000, 2) if windows else None,
        "first_refusal_after_return_ms_max": round(max(to_refusal) * 1000, 2),
    }
