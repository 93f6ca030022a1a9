"""Configuration: one frozen dataclass, read from the environment once per entry point."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from threadkeeper.errors import ConfigError
from threadkeeper.home import DEFAULT_HOME, Home
from threadkeeper.keys import ID_PATTERN

PREFIX = "THREADKEEPER_"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # every process logs this way
NEVER = None

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SIZE = re.compile(r"^\s*(\d+)\s*(b|kib|kb|k|mib|mb|m|gib|gb|g)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024,
    "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1024**3, "gib": 1024**3,
}  # fmt: skip


def parse_duration(name: str, raw: str) -> float | None:
    """`90s`, `15m`, `3h`, `7d`, `250ms`, a bare number of seconds, or `never` (None)."""
    if raw.strip().lower() == "never":
        return NEVER
    match = _DURATION.match(raw)
    if not match:
        raise ConfigError(f"{name}={raw!r} is not a duration: write e.g. 90s, 15m, 3h, 7d or never")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(name: str, raw: str) -> int:
    """`1048576`, `512KiB`, `1MiB`, `8m`: a byte count."""
    match = _SIZE.match(raw)
    if not match:
        raise ConfigError(f"{name}={raw!r} is not a size: write e.g. 16KiB, 1MiB or 8388608")
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]


_HOST_PATTERN = re.compile(r"^(\*|(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|\[?[0-9a-f:.]+\]?)$")


def parse_hosts(name: str, raw: str | None) -> tuple[str, ...]:
    """`app.example.com, *.internal.example, 10.0.0.5`: Host names served (no ports)."""
    hosts = tuple(h.strip().lower() for h in (raw or "").split(",") if h.strip())
    for host in hosts:
        if not _HOST_PATTERN.match(host):
            raise ConfigError(
                f"{name}: {host!r} is not a host name: write names, IP addresses or "
                "*.example.com patterns, comma-separated, without ports"
            )
    return tuple(h.strip("[]") for h in hosts)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _TRUE | _FALSE:
        raise ConfigError(f"{name}={raw!r} is not on or off: write 1/true/on or 0/false/off")
    return value in _TRUE


def _parse_int(name: str, raw: str, least: int = 1) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < least:
        raise ConfigError(f"{name}={raw!r} must be at least {least}")
    return value


# `auto` runs one API process per usable core, up to this many: more were never
# measured (BENCHMARKS.md, HTTP stacks: 2 cores), and each process holds its own
# Redis connection pool. An explicit THREADKEEPER_API_PROCESSES may go higher.
MAX_AUTO_API_PROCESSES = 4


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def auto_api_processes() -> int:
    return max(1, min(usable_cores(), MAX_AUTO_API_PROCESSES))


def parse_api_processes(name: str, raw: str | None) -> int:
    """`auto` (the default): one per usable core, at most MAX_AUTO_API_PROCESSES; or N >= 1."""
    if raw is None or raw.strip().lower() == "auto":
        return auto_api_processes()
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"{name}={raw!r} is not a number of processes: write auto (one per core, at "
            f"most {MAX_AUTO_API_PROCESSES}) or a whole number of API processes, 1 or more"
        )
    return value


# A decoder recurses once per level of a body, within Python's recursion limit (1,000
# frames, some already used by the server's stack): past this, it could not keep up.
MAX_JSON_DEPTH_CEILING = 256


def _json_depth(name: str, raw: str | None) -> int:
    if raw is None:
        return Limits().max_json_depth
    value = _parse_int(name, raw)
    if value > MAX_JSON_DEPTH_CEILING:
        raise ConfigError(f"{name}={raw!r} must be at most {MAX_JSON_DEPTH_CEILING}")
    return value


@dataclass(frozen=True, slots=True)
class Limits:
    max_turn_bytes: int = 1024 * 1024
    max_turns: int = 100_000
    max_body_bytes: int = 8 * 1024 * 1024
    max_metadata_bytes: int = 16 * 1024
    max_page: int = 1000
    max_snapshot_bytes: int = 512 * 1024 * 1024
    max_snapshot_raw_bytes: int = 512 * 1024 * 1024  # a snapshot's body, decompressed
    max_snapshot_ratio: int = 64  # decompressed / compressed, above a 16 MiB floor
    max_list_scan: int = 1000
    max_items_per_request: int = 100
    max_json_depth: int = 64  # arrays and objects a request body may nest
    max_search_query: int = 256  # characters of a search query
    max_search_terms: int = 16  # words, phrases and prefixes in one query
    max_search_results: int = 100  # hits on one page of search results


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a process needs to know, read once; a bad value names its variable."""

    redis_url: str | None = None
    queue_redis_url: str | None = None  # None: the hot store's, when that is standalone
    replica_acks: int = 0  # replicas that must hold an append before it is acknowledged
    replica_ack_timeout: float = 1.0
    archive_url: str | None = None
    home: Path = DEFAULT_HOME
    host: str = "127.0.0.1"
    port: int = 8750
    tokens_file: Path | None = None
    allowed_hosts: tuple[str, ...] = ()  # Host names served beyond loopback (api/hosts.py)
    metrics_token: str | None = None  # with tokens on, also opens /metrics and /v1/health
    hot_ttl: float | None = 24 * 3600
    snapshot_idle: float = 60
    backup_interval: float = 300
    retention: float | None = NEVER
    sweep_interval: float = 10
    sweep_batch: int = 200
    queue_name: str = "threadkeeper"
    limits: Limits = Limits()
    job_timeout: float = 300
    body_timeout: float = 30  # a request body must arrive whole within this (seconds)
    worker_maintenance_interval: float = 60
    access_log: bool = False
    stop_timeout: float = 30
    restart_backoff: float = 1  # `up`'s first pause before restarting a child that died
    restart_backoff_max: float = 30  # ... doubling at each death in a row, up to this
    api_processes: int = field(default_factory=auto_api_processes)  # how many `up` runs
    mcp_answer_tokens: int = 8000  # the most one MCP tool answer or resource read may hold
    mcp_search_results: int = 20  # the most threads one MCP `search` answers with
    # Top-level metadata keys whose (key, value) pairs get a listing index of their own.
    indexed_metadata: tuple[str, ...] = ()
    metrics_users: tuple[tuple[str, str], ...] = ()  # (tenant, user) counted in /metrics
    search_index: Path | None = None  # None: the home's search/index.sqlite3
    search_sweep_interval: float | None = 600  # the indexer's full compare with Redis
    search_feed: bool = True  # every write records a change-feed event (search/)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return _read(os.environ if env is None else env)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def archive_configured(self) -> bool:
        return bool(self.archive_url)

    @property
    def tokens_path(self) -> Path:
        """THREADKEEPER_TOKENS_FILE, else the home's tokens.json (what `tokens add` writes)."""
        return self.tokens_file if self.tokens_file is not None else Home(self.home).tokens_file

    @property
    def auth_configured(self) -> bool:
        """Auth is on when a tokens file is named, or the home's one exists."""
        return self.tokens_file is not None or self.tokens_path.exists()

    @property
    def search_index_path(self) -> Path:
        """THREADKEEPER_SEARCH_INDEX, else the home's search/index.sqlite3."""
        return self.search_index or Home(self.home).search_index

    @property
    def default_archive_url(self) -> str:
        return Home(self.home.resolve()).archive_dir.as_uri()


def _read(env: Mapping[str, str]) -> Settings:
    def get(key: str) -> str | None:
        value = env.get(PREFIX + key)
        return value if value not in (None, "") else None

    def duration(key: str, default: float | None) -> float | None:
        raw = get(key)
        return default if raw is None else parse_duration(PREFIX + key, raw)

    def required_duration(key: str, default: float) -> float:
        value = duration(key, default)
        if value is None:
            raise ConfigError(f"{PREFIX}{key} cannot be 'never'")
        return value

    def size(key: str, default: int) -> int:
        raw = get(key)
        return default if raw is None else parse_size(PREFIX + key, raw)

    def integer(key: str, default: int) -> int:
        raw = get(key)
        return default if raw is None else _parse_int(PREFIX + key, raw)

    def flag(key: str, default: bool) -> bool:
        raw = get(key)
        return default if raw is None else _parse_bool(PREFIX + key, raw)

    def count(key: str, default: int) -> int:
        raw = get(key)
        return default if raw is None else _parse_int(PREFIX + key, raw, least=0)

    base, d = Limits(), Settings(api_processes=1)  # the defaults, as the dataclasses declare them
    limits = Limits(
        max_turn_bytes=size("MAX_TURN_BYTES", base.max_turn_bytes),
        max_turns=integer("MAX_TURNS", base.max_turns),
        max_body_bytes=size("MAX_BODY_BYTES", base.max_body_bytes),
        max_metadata_bytes=size("MAX_METADATA_BYTES", base.max_metadata_bytes),
        max_page=integer("MAX_PAGE", base.max_page),
        max_snapshot_bytes=size("MAX_SNAPSHOT_BYTES", base.max_snapshot_bytes),
        max_snapshot_raw_bytes=size("MAX_SNAPSHOT_RAW_BYTES", base.max_snapshot_raw_bytes),
        max_snapshot_ratio=integer("MAX_SNAPSHOT_RATIO", base.max_snapshot_ratio),
        max_list_scan=integer("MAX_LIST_SCAN", base.max_list_scan),
        max_items_per_request=integer("MAX_ITEMS_PER_REQUEST", base.max_items_per_request),
        max_json_depth=_json_depth(PREFIX + "MAX_JSON_DEPTH", get("MAX_JSON_DEPTH")),
        max_search_query=integer("MAX_SEARCH_QUERY", base.max_search_query),
        max_search_terms=integer("MAX_SEARCH_TERMS", base.max_search_terms),
        max_search_results=integer("MAX_SEARCH_RESULTS", base.max_search_results),
    )
    search_index = get("SEARCH_INDEX")
    tokens = get("TOKENS_FILE")
    archive = env.get(PREFIX + "ARCHIVE_URL")  # "" is meaningful: cache-only mode
    return Settings(
        redis_url=get("REDIS_URL"),
        queue_redis_url=get("QUEUE_REDIS_URL"),
        replica_acks=count("REPLICA_ACKS", d.replica_acks),
        replica_ack_timeout=required_duration("REPLICA_ACK_TIMEOUT", d.replica_ack_timeout),
        archive_url=archive,
        home=Path(get("HOME") or d.home),
        host=get("HOST") or d.host,
        port=integer("PORT", d.port),
        tokens_file=Path(tokens) if tokens else None,
        allowed_hosts=parse_hosts(PREFIX + "ALLOWED_HOSTS", get("ALLOWED_HOSTS")),
        metrics_token=get("METRICS_TOKEN"),
        hot_ttl=duration("HOT_TTL", d.hot_ttl),
        snapshot_idle=required_duration("SNAPSHOT_IDLE", d.snapshot_idle),
        backup_interval=required_duration("BACKUP_INTERVAL", d.backup_interval),
        retention=duration("RETENTION", d.retention),
        sweep_interval=required_duration("SWEEP_INTERVAL", d.sweep_interval),
        sweep_batch=integer("SWEEP_BATCH", d.sweep_batch),
        queue_name=get("QUEUE") or d.queue_name,
        limits=limits,
        job_timeout=required_duration("JOB_TIMEOUT", d.job_timeout),
        body_timeout=required_duration("BODY_TIMEOUT", d.body_timeout),
        worker_maintenance_interval=required_duration(
            "WORKER_MAINTENANCE_INTERVAL", d.worker_maintenance_interval
        ),
        access_log=flag("ACCESS_LOG", d.access_log),
        stop_timeout=required_duration("STOP_TIMEOUT", d.stop_timeout),
        restart_backoff=required_duration("RESTART_BACKOFF", d.restart_backoff),
        restart_backoff_max=required_duration("RESTART_BACKOFF_MAX", d.restart_backoff_max),
        api_processes=parse_api_processes(PREFIX + "API_PROCESSES", get("API_PROCESSES")),
        mcp_answer_tokens=integer("MCP_ANSWER_TOKENS", d.mcp_answer_tokens),
        mcp_search_results=integer("MCP_SEARCH_RESULTS", d.mcp_search_results),
        indexed_metadata=parse_indexed_metadata(get("INDEXED_METADATA")),
        metrics_users=parse_metrics_users(get("METRICS_USERS")),
        search_index=Path(search_index) if search_index else None,
        search_sweep_interval=duration("SEARCH_SWEEP_INTERVAL", d.search_sweep_interval),
        search_feed=flag("SEARCH_FEED", d.search_feed),
    )


MAX_INDEXED_METADATA = 16  # each key indexed costs every write of a thread holding it
MAX_METRICS_USERS = 100  # label sets /metrics may carry for per-user thread counts
MAX_INDEXED_KEY = 128  # characters in a metadata key named there
_USER_PAIR = re.compile(f"{ID_PATTERN.pattern}:{ID_PATTERN.pattern}")  # tenant:user


def parse_indexed_metadata(raw: str | None) -> tuple[str, ...]:
    """THREADKEEPER_INDEXED_METADATA: `project,env`: the metadata keys listings index."""
    name = PREFIX + "INDEXED_METADATA"
    keys = tuple(dict.fromkeys(k.strip() for k in (raw or "").split(",") if k.strip()))
    if len(keys) > MAX_INDEXED_METADATA or any(len(k) > MAX_INDEXED_KEY for k in keys):
        raise ConfigError(
            f"{name}={raw!r}: name at most {MAX_INDEXED_METADATA} metadata keys of at most "
            f"{MAX_INDEXED_KEY} characters, comma-separated (e.g. project,env)"
        )
    return keys


def parse_metrics_users(raw: str | None) -> tuple[tuple[str, str], ...]:
    """THREADKEEPER_METRICS_USERS: `acme:alice,acme:bob`: users whose threads /metrics counts."""
    name = PREFIX + "METRICS_USERS"
    pairs = [p.strip() for p in (raw or "").split(",") if p.strip()]
    if len(pairs) > MAX_METRICS_USERS or not all(_USER_PAIR.fullmatch(p) for p in pairs):
        raise ConfigError(
            f"{name}={raw!r}: list at most {MAX_METRICS_USERS} TENANT:USER pairs, "
            "comma-separated (e.g. acme:alice,acme:bob)"
        )
    return tuple(dict.fromkeys((t, u) for t, _, u in (p.partition(":") for p in pairs)))


class _RecordingEnv(Mapping[str, str]):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.seen.add(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def env_names() -> frozenset[str]:
    """Every THREADKEEPER_* variable `Settings.from_env` reads, found by watching it read."""
    env = _RecordingEnv()
    _read(env)
    return frozenset(name for name in env.seen if name.startswith(PREFIX))
