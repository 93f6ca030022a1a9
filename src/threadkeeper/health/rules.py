"""Judging, pure: facts in, a status and warnings that each say what to do."""

from __future__ import annotations

from collections.abc import Callable

from threadkeeper.auth import check_bind
from threadkeeper.errors import ConfigError
from threadkeeper.health.children import ChildState
from threadkeeper.health.report import (
    Facts,
    Finding,
    HealthReport,
    Status,
    redacted,
)
from threadkeeper.models import rfc3339
from threadkeeper.store.canary import RECOVER

TARGET_VERSION = (7, 0)
WAITAOF_VERSION = (7, 2)
MEMORY_WARN_RATIO = 0.9
SEARCH_LAG_WARN_S = 60.0  # a search index further behind than this is degraded
RUNBOOK = (
    "If redis-server will not start, read its log: a corrupt AOF stops it. Keep a copy of "
    "the data dir, then run `redis-check-aof --fix <dir>/appendonly/<name>.manifest` (it "
    "drops everything after the damage), or rebuild Redis from the archive with "
    "`threadkeeper recover`"
)


# -- judging (pure) ------------------------------------------------------------------

Rule = Callable[[Facts], "Finding | None"]


def _failing(message: str) -> Finding:
    return Finding(Status.FAILING, message)


def _degraded(message: str) -> Finding:
    return Finding(Status.DEGRADED, message)


def _note(message: str) -> Finding:
    """A warning that does not lower the status."""
    return Finding(Status.OK, message)


def judge(facts: Facts) -> HealthReport:
    """The status is the worst finding; every finding becomes a warning."""
    rules = REDIS_RULES if facts.redis is not None else (_unreachable,)
    findings = [f for rule in (*rules, *OTHER_RULES) if (f := rule(facts)) is not None]
    status = max((f.status for f in findings), default=Status.OK)
    return HealthReport(status, facts, tuple(f.message for f in findings))


def combine(whole: HealthReport, per_master: list[HealthReport]) -> HealthReport:
    """A cluster's report: the worst master decides; a warning that only some masters
    have is prefixed with each one's address."""
    if not per_master:
        return whole
    everywhere = set.intersection(*(set(r.warnings) for r in per_master))
    warnings = [w for w in per_master[0].warnings if w in everywhere]
    for r in per_master:
        name = redacted(r.facts.redis_url)
        warnings += [f"master {name}: {w}" for w in r.warnings if w not in everywhere]
    worst = max(per_master, key=lambda r: r.status)
    return HealthReport(worst.status, worst.facts, tuple(warnings), tuple(per_master))


def _unreachable(facts: Facts) -> Finding:
    url = redacted(facts.redis_url)
    return _failing(f"Redis ({url}) is unreachable: {facts.redis_error}. {RUNBOOK}")


def _aof_off(facts: Facts) -> Finding | None:
    r = facts.redis
    if r is None or r.aof:
        return None
    rdb = " RDB snapshots are off too: it loses everything." if r.rdb_saves is False else ""
    return _degraded(
        "AOF is off (appendonly no): a crash or restart of Redis loses every write since the "
        f"last RDB save ({r.changes_since_last_save} changes now).{rdb} Set `appendonly yes` "
        "(CONFIG SET appendonly yes, and in redis.conf; threadkeeper's redis.conf does)"
    )


def _fsync_no(facts: Facts) -> Finding | None:
    if facts.redis is None or not facts.redis.aof or facts.redis.appendfsync != "no":
        return None
    return _degraded(
        "appendfsync is 'no': a crash of the machine loses whatever the OS had not yet written "
        "(typically up to 30 s of acknowledged turns). Set `appendfsync always` (or `everysec` "
        "for a 1 s window) with CONFIG SET and in redis.conf"
    )


def _aof_write(facts: Facts) -> Finding | None:
    if facts.redis is None or facts.redis.last_aof_write == "ok":
        return None
    return _failing(
        "Redis failed to write its AOF (aof_last_write_status: err): it refuses writes until "
        "it can. Check the disk under its dir (space, permissions, I/O errors) and its log"
    )


def _bgsave(facts: Facts) -> Finding | None:
    if facts.redis is None or facts.redis.last_bgsave == "ok":
        return None
    return _failing(
        "the last RDB save failed (rdb_last_bgsave_status: err): with "
        "stop-writes-on-bgsave-error Redis refuses writes. Check the disk and the Redis log"
    )


def _aof_rewrite(facts: Facts) -> Finding | None:
    if facts.redis is None or facts.redis.last_aof_rewrite == "ok":
        return None
    return _degraded(
        "the last AOF rewrite failed (aof_last_bgrewrite_status: err): the AOF keeps growing "
        "and restarts get slower. Check disk space and the Redis log"
    )


def _slow_fsync(facts: Facts) -> Finding | None:
    if facts.redis is None or not facts.redis.aof_delayed_fsync:
        return None
    return _note(
        f"fsync of the AOF was late {facts.redis.aof_delayed_fsync} times (aof_delayed_fsync): "
        "the disk under Redis's dir cannot keep up; move it to faster storage"
    )


def _loading(facts: Facts) -> Finding | None:
    if facts.redis is None or not facts.redis.loading:
        return None
    done = facts.redis.loading_percent
    return _degraded(f"Redis is loading its data ({done:.0f}% done): requests wait until it ends")


def _eviction(facts: Facts) -> Finding | None:
    if facts.redis is None or facts.redis.eviction_policy == "noeviction":
        return None
    return _failing(
        f"maxmemory-policy is {facts.redis.eviction_policy}: at maxmemory Redis silently "
        "deletes threads. Set `maxmemory-policy noeviction` (CONFIG SET and in redis.conf): a "
        "full Redis then refuses writes loudly instead"
    )


def _memory(facts: Facts) -> Finding | None:
    ratio = facts.redis.memory_used_ratio if facts.redis is not None else None
    if facts.redis is None or ratio is None or ratio < MEMORY_WARN_RATIO:
        return None
    limit = "maxmemory" if facts.redis.maxmemory else "the machine's memory"
    return _degraded(
        f"Redis uses {ratio:.0%} of {limit}: when full, appends fail with 507. Archive cold "
        "threads (`threadkeeper archive --cold`), lower THREADKEEPER_HOT_TTL, or raise maxmemory"
    )


def _old_redis(facts: Facts) -> Finding | None:
    if facts.redis is None or facts.redis.version_tuple >= TARGET_VERSION:
        return None
    return _degraded(
        f"Redis {facts.redis.version} is older than 7.0, which threadkeeper targets "
        "(multi-part AOF, script flags): upgrade Redis"
    )


def _no_waitaof(facts: Facts) -> Finding | None:
    r = facts.redis
    if r is None or r.version_tuple >= WAITAOF_VERSION or not r.aof:
        return None
    if r.appendfsync in ("always", "no", None):  # `no` has its own warning
        return None
    return _note(
        f"Redis {r.version} has no WAITAOF (7.2+), so with appendfsync {r.appendfsync} an "
        "acknowledged turn can be lost in a crash of the machine: use `appendfsync always`, "
        "or Redis 7.2+"
    )


def _restart_lost(facts: Facts) -> Finding | None:
    """Failing from a loss until it is settled (losses.py); afterwards, a note while it is
    the last restart."""
    report = facts.restart
    if report is None or report.data_lost_at is None:
        return None
    lost = (
        f"Redis restarted at {rfc3339(report.data_lost_at)} WITHOUT its data (the canary was "
        "gone): every thread not yet in the archive was lost then"
    )
    if report.unsettled_loss:
        return _failing(
            f"{lost}. {RECOVER} (health stays failing until it runs with no thread failed), "
            "or, if nothing needs recovering, say so with `threadkeeper health "
            "--acknowledge-loss`; keep persistence on (appendonly yes)"
        )
    if report.data_survived_last_restart is not False:
        return None
    return _note(
        f"{lost}; dealt with by {report.loss_settled_by} at "
        f"{rfc3339(report.loss_settled_at)}. Keep persistence on (appendonly yes) so it "
        "cannot happen again"
    )


def _cache_only(facts: Facts) -> Finding | None:
    if facts.archive_url is not None:
        return None
    return _degraded(
        "cache-only mode (THREADKEEPER_ARCHIVE_URL is empty): a thread leaves Redis for good "
        "after THREADKEEPER_HOT_TTL idle. Set THREADKEEPER_ARCHIVE_URL (s3://bucket/prefix or "
        "file:///dir) to keep threads"
    )


def _archive_down(facts: Facts) -> Finding | None:
    if facts.archive_url is None or facts.archive_reachable is not False:
        return None
    return _degraded(
        f"the archive ({facts.archive_url}) is unreachable: {facts.archive_error}. Cold threads "
        "cannot be read and nothing is snapshotted until it is back"
    )


def _no_workers(facts: Facts) -> Finding | None:
    if facts.workers_alive != 0:
        return None
    return _degraded(
        f"no RQ worker is alive on queue {facts.queue!r}: nothing gets snapshotted and Redis "
        "memory grows. Start one with `threadkeeper worker` (or run `threadkeeper up`)"
    )


def _sweeper(facts: Facts) -> Finding | None:
    """The sweeper runs every sweep_interval; a change waits about backup_interval at most."""
    if facts.redis is None:
        return None
    if facts.sweeper_last_run is None:
        return _degraded(
            "the sweeper has never run here: dirty threads are not snapshotted. Start "
            "`threadkeeper cron` (or run `threadkeeper up`)"
        )
    grace = max(60.0, 6 * facts.sweep_interval)
    silent = (facts.now - facts.sweeper_last_run) / 1000
    if silent > grace:
        return _degraded(
            f"the sweeper last ran {silent:.0f} s ago (it should run every "
            f"{facts.sweep_interval:g} s): check that `threadkeeper cron` runs"
        )
    lag = facts.sweeper_lag_s or 0.0
    if lag <= facts.backup_interval + grace:
        return None
    return _degraded(
        f"the oldest change not yet in the archive is {lag:.0f} s old (backup interval "
        f"{facts.backup_interval:g} s): the workers cannot keep up or are failing; add "
        "workers and read their log"
    )


def _search(facts: Facts) -> Finding | None:
    """Only a built index that lags is judged: one not built yet shows as `built: false`
    (no indexer may run where search is not used; /v1/search then says what to do)."""
    lag = facts.search_lag_s or 0.0
    if not facts.search_built or lag <= SEARCH_LAG_WARN_S:
        return None
    return _degraded(
        f"the search index is {lag:.0f} s behind the threads: new and deleted text shows in "
        "search late. Check that `threadkeeper indexer` runs (its log: <home>/logs/indexer.log)"
    )


def _purges_owed(facts: Facts) -> Finding | None:
    if not facts.purges_owed:
        return None
    return _degraded(
        f"{facts.purges_owed} deleted thread(s) still have snapshots in the archive (the "
        "archive refused their removal); the sweeper retries every tick. Until it succeeds, "
        "`threadkeeper recover` after a total Redis loss would bring them back: check the "
        "archive's reachability and credentials"
    )


def _children(facts: Facts) -> Finding | None:
    """A child of `up` that died: degraded while it is down, a note once it runs again."""
    died = [c for c in facts.children if c.deaths]
    if not died:
        return None
    said = "; ".join(_child_line(c, facts.now) for c in died)
    if all(c.running for c in died):
        return _note(f"{said}. Read its log if it happens again")
    return _degraded(
        f"{said}. The API and Redis keep serving; `up` restarts it after a pause that "
        "doubles up to THREADKEEPER_RESTART_BACKOFF_MAX. Read its log for why it exits"
    )


def _child_line(child: ChildState, now: int) -> str:
    when = f" {(now - child.last_exit_at) / 1000:.0f} s ago" if child.last_exit_at else ""
    times = "once" if child.deaths == 1 else f"{child.deaths} times"
    wait = max(0, (child.restart_at or now) - now) / 1000
    state = f"running again (pid {child.pid})" if child.running else f"down, back in {wait:.0f} s"
    return (f"the {child.name} died {times} (last: {child.last_exit}{when}), {state}, "
            f"log {child.log}")  # fmt: skip


def _open_bind(facts: Facts) -> Finding | None:
    try:
        check_bind(facts.host, facts.auth_enabled)
    except ConfigError as exc:
        return _failing(exc.detail)
    return None


def _bad_tokens(facts: Facts) -> Finding | None:
    if facts.tokens_error is None:
        return None
    return _degraded(
        f"{facts.tokens_error}. The API keeps the tokens it last read, so tokens added or "
        "revoked since do not take effect (an API that never read any refuses every "
        "request with 503) until the file reads again"
    )


REDIS_RULES: tuple[Rule, ...] = (
    _aof_off, _fsync_no, _aof_write, _bgsave, _aof_rewrite, _slow_fsync, _loading,
    _eviction, _memory, _old_redis, _no_waitaof, _restart_lost,
)  # fmt: skip
OTHER_RULES: tuple[Rule, ...] = (
    _cache_only, _archive_down, _no_workers, _sweeper, _purges_owed, _children, _open_bind,
    _bad_tokens, _search,
)  # fmt: skip


# -- gathering -------------------------------------------------------------------------
