"""A real redis-server for the queue tests: one per session, emptied before each test."""

from __future__ import annotations

import pytest

from runner.queue.local_redis import LocalRedis, find_redis_server

NO_REDIS = "redis-server not found on PATH (Debian: apt-get install redis-server; .ci/run installs it)"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    if find_redis_server() is None:
        pytest.skip(NO_REDIS)
    with LocalRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis(redis_server):
    from runner.queue.jobs import connect

    client = connect(redis_server.url)
    client.flushall()
    yield client
    client.close()
