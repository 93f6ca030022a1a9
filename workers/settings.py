"""rq's settings module, from threadkeeper's environment (THREADKEEPER_*), read once.

For the plain rq CLI: `rq worker -c workers.settings -w rq.worker.SimpleWorker
--serializer rq.serializers.JSONSerializer --with-scheduler`. `threadkeeper worker`
does the same with no flags to get wrong.
"""

from __future__ import annotations

from threadkeeper.settings import Settings
from threadkeeper.store.connection import queue_url

SETTINGS = Settings.from_env()
REDIS_URL = queue_url(SETTINGS)  # THREADKEEPER_QUEUE_REDIS_URL, else the data Redis
QUEUES = [SETTINGS.queue_name]
