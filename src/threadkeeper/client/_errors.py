"""The client's errors, one tree, built from the server's problem+json answers.

ThreadkeeperError              any failure the client reports
├── InvalidRequest             400, 422: the request is wrong; fix it, do not retry
│   └── LimitExceeded          413: `setting` names the variable, `limit` its value
├── Unauthorized               401
├── ThreadNotFound             404: `reason`, `deleted_at`, `data_lost_at`, `data_lost_on`
├── Conflict                   409
│   ├── ThreadExists           409: create with an id in use
│   └── VersionConflict        409: `current_version`
├── StoreFull                  507: Redis at maxmemory refuses writes
├── Unavailable                503, 502, 504, connection errors and timeouts, after the
│                              retries; `outcome_unknown` says a write may have landed
└── ServerError                any other 5xx
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from threadkeeper.client._types import parse_time


class ThreadkeeperError(Exception):
    """Root of the client's errors: the HTTP status (0 when no answer came) and the problem."""

    def __init__(self, detail: str, status: int = 0, problem: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.problem: dict[str, Any] = problem or {}
        self.type: str = str(self.problem.get("type", ""))


class InvalidRequest(ThreadkeeperError):
    @property
    def field(self) -> str | None:
        value = self.problem.get("field")
        return value if isinstance(value, str) else None


class LimitExceeded(InvalidRequest):
    @property
    def setting(self) -> str | None:
        value = self.problem.get("setting")
        return value if isinstance(value, str) else None

    @property
    def limit(self) -> int | None:
        value = self.problem.get("limit")
        return value if isinstance(value, int) else None


class Unauthorized(ThreadkeeperError):
    pass


class ThreadNotFound(ThreadkeeperError):
    """`reason`: never_stored, deleted, retention or lost; `deleted_at` when removed on purpose.

    `lost` is what the client reports when the server says the id is unknown and that Redis
    lost its data since (`data_lost_at`; on a cluster `data_lost_on`, the master serving
    the thread's slot): the thread may have been one of those lost.
    """

    @property
    def thread_id(self) -> str | None:
        value = self.problem.get("thread_id")
        return value if isinstance(value, str) else None

    @property
    def reason(self) -> str:
        reason = str(self.problem.get("reason", "never_stored"))
        if reason == "never_stored" and self.data_lost_at is not None:
            return "lost"
        return reason

    @property
    def deleted_at(self) -> datetime | None:
        return parse_time(self.problem.get("deleted_at"))

    @property
    def data_lost_at(self) -> datetime | None:
        return parse_time(self.problem.get("data_lost_at"))

    @property
    def data_lost_on(self) -> str | None:
        """The cluster master (host:port) that lost its data; None on a standalone Redis."""
        value = self.problem.get("data_lost_on")
        return value if isinstance(value, str) else None


class Conflict(ThreadkeeperError):
    pass


class ThreadExists(Conflict):
    pass


class VersionConflict(Conflict):
    @property
    def current_version(self) -> int | None:
        value = self.problem.get("current_version")
        return value if isinstance(value, int) else None


class StoreFull(ThreadkeeperError):
    pass


class Unavailable(ThreadkeeperError):
    """The server or the network failed, retries included.

    `outcome_unknown` is true when a write was sent and no answer says whether it landed:
    resending it with the same Idempotency-Key is safe and stores it at most once.
    """

    def __init__(
        self,
        detail: str,
        status: int = 0,
        problem: dict[str, Any] | None = None,
        *,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(detail, status, problem)
        self.outcome_unknown = outcome_unknown


class ServerError(ThreadkeeperError):
    pass


_BY_SLUG: dict[str, type[ThreadkeeperError]] = {
    "thread-not-found": ThreadNotFound,
    "thread-exists": ThreadExists,
    "version-conflict": VersionConflict,
    "limit-exceeded": LimitExceeded,
    "store-full": StoreFull,
    "unauthorized": Unauthorized,
}
_BY_STATUS: dict[int, type[ThreadkeeperError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    404: ThreadNotFound,
    409: Conflict,
    413: LimitExceeded,
    422: InvalidRequest,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
    507: StoreFull,
}


def error_from_problem(status: int, problem: dict[str, Any], *, write: bool) -> ThreadkeeperError:
    """The typed error for an answer: by the problem's `type` slug, else by its status."""
    slug = str(problem.get("type", "")).rpartition("/")[2]
    cls = _BY_SLUG.get(slug) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else InvalidRequest
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    if cls is Unavailable:
        return Unavailable(detail, status, problem, outcome_unknown=write)
    return cls(detail, status, problem)
