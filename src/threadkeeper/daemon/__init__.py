"""The daemon: `up` supervising Redis, API processes, worker and cron; its home."""
