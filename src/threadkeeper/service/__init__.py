"""What a chat tool can do with its threads, whichever tier holds them.

Reads and appends find a thread hot or archived (rehydrating it first), and when
a thread is gone they say exactly what, when and why.

    threads.py    ThreadService: create, append, read, list, delete, fork
    outcomes.py   TierOutcomes (`service.tiers`): what each tier outcome means
                  (rehydrate, archive, export, import)
    not_found.py  NotFoundExplainer (`service.explainer`): every thread 404, said precisely
    views.py      a page as served (ThreadRead), an append's and an import's outcome
"""

from threadkeeper.service.threads import (
    ThreadService,
    fingerprint,
    version_conflict,
)
from threadkeeper.service.views import AppendResult, ImportOutcome, ThreadRead

__all__ = [
    "AppendResult",
    "ImportOutcome",
    "ThreadService",
    "ThreadRead",
    "fingerprint",
    "version_conflict",
]
