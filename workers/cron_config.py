"""The cron jobs, in rq's cron config form: `threadkeeper cron --config workers/cron_config.py`.

Run it with `threadkeeper cron`, not the plain `rq cron`: rq 3.0's own CronJob
enqueues with pickle and a random id, which the JSON workers refuse and which two
cron processes would both enqueue; `threadkeeper cron` loads this same file into
rq's CronScheduler but enqueues JSON jobs under one id per tick.
"""

from __future__ import annotations

from rq import cron

from threadkeeper.jobs import tasks as jobs
from threadkeeper.jobs.cron import sweep_registration
from threadkeeper.settings import Settings

cron.register(jobs.sweep, **sweep_registration(Settings.from_env()))
