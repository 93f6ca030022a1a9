"""Every error threadkeeper raises, and the HTTP status each one answers with.

    ThreadkeeperError                     500
    ├── ConfigError                       500  (a bad setting; names the variable)
    ├── InvalidInput                      400
    │   ├── InvalidJSON                   400
    │   ├── LimitExceeded                 413
    │   ├── BodyTimeout                   408
    │   └── IdempotencyMismatch           422
    ├── Unauthorized                      401
    ├── AuthUnavailable                   503  (no token list has ever read: none checkable)
    ├── RouteNotFound                     404  (no route for the path)
    ├── MethodNotAllowed                  405
    ├── CrossSiteRequest                  403  (a console form not from the console)
    ├── Forbidden                         403  (a user token asking for another user)
    ├── ThreadNotFound                    404  (reason: never_stored | deleted | retention)
    │   └── TurnNotFound                  404  (no such turn or item, or it was deleted)
    ├── Conflict                          409
    │   ├── ThreadExists                  409
    │   └── VersionConflict               409
    ├── StoreError                        503
    │   ├── StoreUnavailable              503  (certain: nothing was done)
    │   │   └── StoreOutcomeUnknown       503  (the request may have been carried out)
    │   └── StoreFull                     507
    ├── ArchiveError                      502
    │   ├── ArchiveUnavailable            503
    │   ├── ArchiveObjectExists           409
    │   ├── ArchiveObjectMissing          404
    │   ├── SnapshotCorrupt               502
    │   │   └── SnapshotTooLarge          502  (over what this daemon decompresses)
    │   └── ArchiveNotConfigured          409
    ├── SearchUnavailable                 503  (the search index is not built or unreadable)
    └── DaemonError                       503  (about `threadkeeper up` itself)
        ├── NotRunning                    503
        └── AlreadyRunning                409

Each class carries its status and a stable `type` slug; the API registers one
handler for the root and turns any of them into problem+json (RFC 9457).
Domain code raises these, never an HTTP exception.
"""

from __future__ import annotations

from typing import Any


class ThreadkeeperError(Exception):
    """Root of the tree: a status, a title, a detail that says what to do, extras."""

    status = 500
    title = "Internal error"
    slug = "internal"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://threadkeeper.dev/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class ConfigError(ThreadkeeperError):
    title = "Bad configuration"
    slug = "config"


class InvalidInput(ThreadkeeperError):
    status = 400
    title = "Invalid input"
    slug = "invalid-input"


class InvalidJSON(InvalidInput):
    title = "Malformed JSON"
    slug = "malformed-json"


class LimitExceeded(InvalidInput):
    status = 413
    title = "Limit exceeded"
    slug = "limit-exceeded"


class BodyTimeout(InvalidInput):
    status = 408
    title = "Request body timeout"
    slug = "body-timeout"


class IdempotencyMismatch(InvalidInput):
    status = 422
    title = "Idempotency key reused with a different request"
    slug = "idempotency-mismatch"


class Unauthorized(ThreadkeeperError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class AuthUnavailable(ThreadkeeperError):
    status = 503
    title = "Authentication unavailable"
    slug = "auth-unavailable"


class CrossSiteRequest(ThreadkeeperError):
    status = 403
    title = "Cross-site request refused"
    slug = "cross-site"


class Forbidden(ThreadkeeperError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class RouteNotFound(ThreadkeeperError):
    status = 404
    title = "No such route"
    slug = "route-not-found"


class MethodNotAllowed(ThreadkeeperError):
    status = 405
    title = "Method not allowed"
    slug = "method-not-allowed"


class ThreadNotFound(ThreadkeeperError):
    status = 404
    title = "Thread not found"
    slug = "thread-not-found"


class TurnNotFound(ThreadNotFound):
    title = "Turn not found"
    slug = "turn-not-found"


class Conflict(ThreadkeeperError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class ThreadExists(Conflict):
    title = "Thread already exists"
    slug = "thread-exists"


class VersionConflict(Conflict):
    title = "Version conflict"
    slug = "version-conflict"


class StoreError(ThreadkeeperError):
    status = 503
    title = "Hot store error"
    slug = "store-error"


class SearchUnavailable(ThreadkeeperError):
    status = 503
    title = "Search unavailable"
    slug = "search-unavailable"


class StoreUnavailable(StoreError):
    title = "Hot store unavailable"
    slug = "store-unavailable"


class StoreOutcomeUnknown(StoreUnavailable):
    title = "Hot store outcome unknown"
    slug = "store-outcome-unknown"


class StoreFull(StoreError):
    status = 507
    title = "Hot store full"
    slug = "store-full"


class ArchiveError(ThreadkeeperError):
    status = 502
    title = "Archive error"
    slug = "archive-error"


class ArchiveUnavailable(ArchiveError):
    status = 503
    title = "Archive unavailable"
    slug = "archive-unavailable"


class ArchiveObjectExists(ArchiveError):
    status = 409
    title = "Archive object exists with other content"
    slug = "archive-object-exists"


class ArchiveObjectMissing(ArchiveError):
    status = 404
    title = "Archive object missing"
    slug = "archive-object-missing"


class SnapshotCorrupt(ArchiveError):
    title = "Snapshot corrupt"
    slug = "snapshot-corrupt"


class SnapshotTooLarge(SnapshotCorrupt):
    title = "Snapshot too large"
    slug = "snapshot-too-large"


class ArchiveNotConfigured(ArchiveError):
    status = 409
    title = "No archive configured"
    slug = "archive-not-configured"

    @classmethod
    def cannot(cls, doing: str) -> ArchiveNotConfigured:
        """The refusal of a daemon in cache-only mode to do what needs the archive."""
        return cls(
            f"cannot {doing}: THREADKEEPER_ARCHIVE_URL is empty (cache-only mode). Set it "
            "to the archive (s3://bucket/prefix or file:///dir)"
        )


class DaemonError(ThreadkeeperError):
    status = 503
    title = "Daemon error"
    slug = "daemon-error"


class NotRunning(DaemonError):
    title = "Not running"
    slug = "not-running"


class AlreadyRunning(DaemonError):
    status = 409
    title = "Already running"
    slug = "already-running"
