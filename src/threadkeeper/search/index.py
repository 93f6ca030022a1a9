"""The on-disk full-text index: one SQLite file in the home, FTS5 over every turn's text.

One writer (the indexer, under a file lock: search/indexer.py), any number of readers
(each API process): WAL mode lets them read while it writes. Each batch of changes and
the feed positions it reached are committed in one transaction, so a writer killed at
any moment leaves the index and its positions agreeing: the events after them are
read again and applied again (every change is idempotent).

A turn's row holds its text in the FTS5 table (`turn_text`, rowid = `turns.id`) beside
`scope`, a token naming its tenant: every query requires the tenant's token and the
tenant's id, so a query can never rank, count or show another tenant's turns.
Deleting a row deletes its text: `secure_delete` zeroes the freed pages, and
`optimize` (after a rebuild or a sweep that deleted) merges away the index's old
segments, so deleted text is not in the file either.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS threads(
  tenant TEXT NOT NULL, thread_id TEXT NOT NULL, created_at INTEGER NOT NULL,
  version INTEGER NOT NULL, max_seq INTEGER NOT NULL, title TEXT, tool TEXT,
  user_id TEXT, updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, thread_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS turns(
  id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, thread_id TEXT NOT NULL,
  seq INTEGER NOT NULL, role TEXT NOT NULL, UNIQUE (tenant, thread_id, seq));
CREATE VIRTUAL TABLE IF NOT EXISTS turn_text USING fts5(
  scope, body, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');
CREATE TABLE IF NOT EXISTS positions(bucket INTEGER PRIMARY KEY, last_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state(name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
RANK = "bm25(0.0, 1.0)"  # the scope column never counts toward a score
SNIPPET_WORDS = 16
MARK_OPEN, MARK_CLOSE, ELLIPSIS = "\x02", "\x03", "…"
BUSY_TIMEOUT_MS = 10_000


def scope_token(tenant: str) -> str:
    """The tenant as one FTS5 token (ids hold `-` and `_`, which the tokenizer splits)."""
    return "t" + hashlib.sha1(tenant.encode(), usedforsecurity=False).hexdigest()[:24]


def clean_text(text: str) -> str:
    """The marker characters the snippets use cannot come from a turn."""
    return text.translate({0x01: " ", 0x02: " ", 0x03: " "})


@dataclass(frozen=True, slots=True)
class IndexedThread:
    tenant: str
    thread_id: str
    created_at: int
    version: int
    max_seq: int
    title: str | None = None
    tool: str | None = None
    user_id: str | None = None
    updated_at: int = 0


@dataclass(frozen=True, slots=True)
class TurnText:
    seq: int
    role: str
    text: str | None  # None: a deleted turn (its row goes)


@dataclass(frozen=True, slots=True)
class ThreadChange:
    """What to do to one thread's rows: drop it (`thread` None), or set its row and turns."""

    tenant: str
    thread_id: str
    thread: IndexedThread | None
    turns: Sequence[TurnText] = ()
    replace_all: bool = False  # drop the turns not listed (a full read of the thread)


@dataclass(frozen=True, slots=True)
class Hit:
    thread_id: str
    seq: int
    role: str
    title: str | None
    tool: str | None
    updated_at: int
    snippet: str  # with MARK_OPEN / MARK_CLOSE around each match
    score: float


@dataclass(frozen=True, slots=True)
class Filters:
    tool: str | None = None
    updated_after: int | None = None
    updated_before: int | None = None
    user_id: str | None = None


def connect(path: Path, *, writer: bool) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)  # fmt: skip
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if writer:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash loses no commit
        conn.execute("PRAGMA secure_delete = ON")
        conn.executescript(SCHEMA)
        _configure_rank(conn)
    else:
        conn.execute("PRAGMA query_only = 1")
        # A snippet is cut by byte offsets: never let a bad cut fail a whole search.
        conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    return conn


def _configure_rank(conn: sqlite3.Connection) -> None:
    """Once: changing FTS5's config under other processes' open readers is best avoided."""
    row = conn.execute("SELECT v FROM turn_text_config WHERE k = 'rank'").fetchone()
    if row is None or row[0] != RANK:
        conn.execute("INSERT INTO turn_text(turn_text, rank) VALUES ('rank', ?)", (RANK,))


class SearchIndex:
    """The writer's side: apply changes with the feed positions they reach, rebuild."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect(path, writer=True)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- state ------------------------------------------------------------------

    def positions(self) -> dict[int, str]:
        return dict(self.conn.execute("SELECT bucket, last_id FROM positions").fetchall())

    def state(self, name: str) -> str | None:
        row = self.conn.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_state(self, name: str, value: str | None) -> None:
        with self._transaction() as conn:
            _set_state(conn, name, value)

    def indexed(self, tenant: str, thread_id: str) -> IndexedThread | None:
        row = self.conn.execute(
            "SELECT * FROM threads WHERE tenant = ? AND thread_id = ?", (tenant, thread_id)
        ).fetchone()
        return None if row is None else IndexedThread(*row)

    def all_threads(self) -> list[tuple[str, str, int, int]]:
        """(tenant, id, created_at, version) of every indexed thread."""
        rows = self.conn.execute("SELECT tenant, thread_id, created_at, version FROM threads")
        return [tuple(row) for row in rows]

    def counts(self) -> tuple[int, int]:
        """(threads, turns) indexed."""
        threads = self.conn.execute("SELECT count(*) FROM threads").fetchone()[0]
        turns = self.conn.execute("SELECT count(*) FROM turns").fetchone()[0]
        return int(threads), int(turns)

    # -- writes -----------------------------------------------------------------

    def apply(
        self, changes: Iterable[ThreadChange], positions: dict[int, str] | None = None
    ) -> None:
        """Every change and the feed positions reached, in one transaction."""
        with self._transaction() as conn:
            for change in changes:
                _apply(conn, change)
            for bucket, last_id in (positions or {}).items():
                conn.execute("INSERT OR REPLACE INTO positions VALUES (?, ?)", (bucket, last_id))

    def clear(self, positions: dict[int, str]) -> None:
        """Drop every row (a rebuild starts), the feed positions set to where it starts."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM turn_text")
            conn.execute("DELETE FROM turns")
            conn.execute("DELETE FROM threads")
            conn.execute("DELETE FROM positions")
            for bucket, last_id in positions.items():
                conn.execute("INSERT INTO positions VALUES (?, ?)", (bucket, last_id))
            _set_state(conn, "built", None)

    def optimize(self) -> None:
        """Merge the FTS5 segments (dropping deleted entries), then give freed pages back."""
        self.conn.execute("INSERT INTO turn_text(turn_text) VALUES ('optimize')")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _set_state(conn: sqlite3.Connection, name: str, value: str | None) -> None:
    if value is None:
        conn.execute("DELETE FROM state WHERE name = ?", (name,))
    else:
        conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (name, value))


def _apply(conn: sqlite3.Connection, change: ThreadChange) -> None:
    key = (change.tenant, change.thread_id)
    if change.thread is None or change.replace_all:
        ids = [row[0] for row in conn.execute(
            "SELECT id FROM turns WHERE tenant = ? AND thread_id = ?", key)]  # fmt: skip
        _drop_turns(conn, ids)
    if change.thread is None:
        conn.execute("DELETE FROM threads WHERE tenant = ? AND thread_id = ?", key)
        return
    t = change.thread
    conn.execute(
        "INSERT OR REPLACE INTO threads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (t.tenant, t.thread_id, t.created_at, t.version, t.max_seq, t.title, t.tool,
         t.user_id, t.updated_at),
    )  # fmt: skip
    scope = scope_token(change.tenant)
    for turn in change.turns:
        _put_turn(conn, change.tenant, change.thread_id, scope, turn)


def _drop_turns(conn: sqlite3.Connection, ids: list[int]) -> None:
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM turn_text WHERE rowid IN ({marks})", chunk)
        conn.execute(f"DELETE FROM turns WHERE id IN ({marks})", chunk)


def _put_turn(
    conn: sqlite3.Connection, tenant: str, thread_id: str, scope: str, turn: TurnText
) -> None:
    row = conn.execute(
        "SELECT id FROM turns WHERE tenant = ? AND thread_id = ? AND seq = ?",
        (tenant, thread_id, turn.seq),
    ).fetchone()
    if row is not None:
        _drop_turns(conn, [row[0]])
    if turn.text is None or not turn.text.strip():
        return
    cursor = conn.execute(
        "INSERT INTO turns(tenant, thread_id, seq, role) VALUES (?, ?, ?, ?)",
        (tenant, thread_id, turn.seq, turn.role),
    )
    conn.execute(
        "INSERT INTO turn_text(rowid, scope, body) VALUES (?, ?, ?)",
        (cursor.lastrowid, scope, clean_text(turn.text)),
    )


class IndexReader:
    """The API's side: read-only connections, one per thread (queries run in a thread pool)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, writer=False)
            self._local.conn = conn
        return conn

    def exists(self) -> bool:
        return self.path.exists()

    def search(
        self, tenant: str, match: str, filters: Filters, limit: int, offset: int
    ) -> list[Hit]:
        """One hit per matching turn, best first (BM25), the tenant's only."""
        where, params = _filter_sql(filters)
        sql = f"""
            SELECT t.thread_id, t.seq, t.role, th.title, th.tool, th.updated_at,
                   snippet(turn_text, 1, ?, ?, ?, ?), rank
            FROM turn_text
            JOIN turns t ON t.id = turn_text.rowid
            JOIN threads th ON th.tenant = t.tenant AND th.thread_id = t.thread_id
            WHERE turn_text MATCH ? AND t.tenant = ? {where}
            ORDER BY rank, t.id LIMIT ? OFFSET ?"""
        scoped = f"scope : {scope_token(tenant)} AND body : ({match})"
        args = [MARK_OPEN, MARK_CLOSE, ELLIPSIS, SNIPPET_WORDS, scoped, tenant, *params,
                limit, offset]  # fmt: skip
        rows = self._conn().execute(sql, args).fetchall()
        return [Hit(r[0], r[1], r[2], r[3], r[4], r[5], r[6], round(-r[7], 4)) for r in rows]

    def positions(self) -> dict[int, str]:
        return dict(self._conn().execute("SELECT bucket, last_id FROM positions").fetchall())

    def built(self) -> bool:
        row = self._conn().execute("SELECT value FROM state WHERE name = 'built'").fetchone()
        return row is not None


def _filter_sql(filters: Filters) -> tuple[str, list[object]]:
    asked: list[tuple[str, object]] = [
        ("th.tool = ?", filters.tool),
        ("th.updated_at > ?", filters.updated_after),
        ("th.updated_at < ?", filters.updated_before),
        ("th.user_id = ?", filters.user_id),
    ]
    kept = [(clause, value) for clause, value in asked if value is not None]
    return "".join(f" AND {clause}" for clause, _ in kept), [value for _, value in kept]
