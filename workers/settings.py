"""rq's settings module, from threadkeeper's environment (THREADKEEPER_*), read once.

For the plain rq CLI: `rq worker -c workers.settings -w rq.worker.SimpleWorker
--serializer rq.serializers.JSONSerializer --with-scheduler`. `threadkeeper worker`
does the same with no flags to get wrong.
"""

from __future__ import annotations

from threadkeeper.settings import Settings

SETTINGS = Settings.from_env()
REDIS_URL = SETTINGS.redis_url
QUEUES = [SETTINGS.queue_name]
