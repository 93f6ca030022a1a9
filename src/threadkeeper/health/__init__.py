"""The restart-survival report: gather facts from Redis, the archive and RQ, then judge them.

Gathering does I/O and never raises: whatever it cannot learn becomes a fact
("Redis unreachable: ..."). Judging is pure: `judge(facts)` turns facts into a
status and warnings that each say what to do, so every rule is unit-testable.

    ok        nothing acknowledged is at risk beyond what the configuration promises
    degraded  works, but durability or freshness is weaker than it should be
    failing   writes are refused or data is being lost (eviction, AOF write errors),
              or was lost and nobody has dealt with it yet (recover, or acknowledge)
"""

from threadkeeper.health.gather import gather, redis_facts, report
from threadkeeper.health.report import Facts, Finding, HealthReport, RedisFacts, Status
from threadkeeper.health.rules import judge

__all__ = [
    "Facts",
    "Finding",
    "HealthReport",
    "RedisFacts",
    "Status",
    "gather",
    "judge",
    "redis_facts",
    "report",
]
