"""Which client a URL gets, and the misconfigurations that fail at start."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.cluster

from redis_cluster import RedisCluster
from threadkeeper.daemon.redis_server import ManagedRedis, free_port
from threadkeeper.errors import ConfigError
from threadkeeper.settings import Settings
from threadkeeper.store.connection import is_cluster, queue_client, queue_url, sync_client


def test_a_cluster_url_gets_the_cluster_client(redis_cluster: RedisCluster) -> None:
    client = sync_client(redis_cluster.url)
    try:
        assert isinstance(client, redis.cluster.RedisCluster)
        client.set("{a}x", 1)
        client.set("{b}x", 2)  # another slot, another master: followed, not MOVED
        assert client.get("{b}x") == b"2"
    finally:
        client.delete("{a}x", "{b}x")
        client.close()


def test_the_queue_defaults_to_a_standalone_hot_store(redis_server: ManagedRedis) -> None:
    assert not is_cluster(redis_server.url)
    assert queue_url(Settings(redis_url=redis_server.url)) == redis_server.url


def test_a_cluster_hot_store_needs_its_own_queue_redis(
    redis_cluster: RedisCluster, redis_server: ManagedRedis
) -> None:
    with pytest.raises(ConfigError, match="set THREADKEEPER_QUEUE_REDIS_URL"):
        queue_url(Settings(redis_url=redis_cluster.url))
    with pytest.raises(ConfigError, match="THREADKEEPER_QUEUE_REDIS_URL=.* names a Redis Cluster"):
        queue_client(redis_cluster.url)
    settings = Settings(redis_url=redis_cluster.url, queue_redis_url=redis_server.url)
    assert queue_url(settings) == redis_server.url


def test_a_cluster_that_serves_no_slots_fails_at_start(tmp_path: Path) -> None:
    args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(free_port())]  # fmt: skip
    node = ManagedRedis(tmp_path / "lonely", extra_args=args).start()
    try:
        with pytest.raises(ConfigError, match="THREADKEEPER_REDIS_URL=.*serves 0 of the 16384"):
            sync_client(node.url)
    finally:
        node.stop()
