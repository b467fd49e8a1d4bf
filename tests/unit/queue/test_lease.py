"""The Redis lease against a real redis-server: one holder, owner-only renew and release, heartbeat."""

from __future__ import annotations

import threading
import time

from runner.queue.lease import Heartbeat, Lease

KEY = "agent-runner:acme/tasks:lease:550e8400-e29b-41d4-a716-446655440000"


def _lease(redis, owner="agent-runner-host-a-101", ttl=5.0) -> Lease:
    return Lease(redis, KEY, owner=owner, ttl=ttl)


def test_lease_only_one_of_two_workers_gets_it(redis):
    first, second = _lease(redis), _lease(redis, owner="agent-runner-host-b-202")
    assert first.acquire() is True
    assert second.acquire() is False
    assert redis.get(KEY).decode().startswith("agent-runner-host-a-101:")


def test_lease_same_process_twice_still_one_holder(redis):
    """Two jobs for one task in one worker process must not both believe they hold it."""
    assert _lease(redis).acquire() is True
    assert _lease(redis).acquire() is False


def test_lease_release_by_another_owner_leaves_it_in_place(redis):
    holder, stranger = _lease(redis), _lease(redis, owner="agent-runner-host-b-202")
    holder.acquire()
    assert stranger.release() is False
    assert stranger.renew() is False
    assert redis.get(KEY).decode() == holder.token


def test_lease_release_frees_it_for_the_next_worker(redis):
    holder, next_one = _lease(redis), _lease(redis, owner="agent-runner-host-b-202")
    holder.acquire()
    assert holder.release() is True
    assert next_one.acquire() is True


def test_lease_expires_when_nobody_renews_it(redis):
    dead = _lease(redis, ttl=0.2)
    dead.acquire()
    time.sleep(0.35)
    assert _lease(redis, owner="agent-runner-host-b-202").acquire() is True


def test_lease_renew_takes_back_a_lease_redis_forgot(redis):
    holder = _lease(redis)
    holder.acquire()
    redis.flushall()  # what a restart without persistence looks like
    assert holder.renew() is True
    assert redis.get(KEY).decode() == holder.token
    assert 0 < redis.pttl(KEY) <= 5000


def test_lease_heartbeat_keeps_it_past_its_ttl(redis):
    holder = _lease(redis, ttl=0.3)
    holder.acquire()
    lost = []
    with Heartbeat(holder, on_lost=lost.append):
        time.sleep(1.0)
        assert _lease(redis, owner="agent-runner-host-b-202").acquire() is False
    assert lost == []


def test_lease_heartbeat_reports_a_lease_another_worker_took(redis):
    holder = _lease(redis, ttl=0.3)
    holder.acquire()
    lost = threading.Event()
    with Heartbeat(holder, on_lost=lambda _why: lost.set()):
        redis.set(KEY, "agent-runner-host-b-202:feedbeef", px=5000)  # as if it had expired and been taken
        assert lost.wait(2.0)
    assert redis.get(KEY) == b"agent-runner-host-b-202:feedbeef"


def test_lease_heartbeat_gives_up_after_the_task_timeout(redis):
    holder = _lease(redis, ttl=0.3)
    holder.acquire()
    reasons: list[str] = []
    with Heartbeat(holder, on_lost=reasons.append, max_hold=0.2):
        time.sleep(0.8)
    assert reasons and "task timeout" in reasons[0]
    assert redis.get(KEY) is None  # not renewed: it expired, so another runner may take over
