"""Worker entry point: `python -m workers.worker` is `threadkeeper worker`."""

from __future__ import annotations

from threadkeeper.cli import main

if __name__ == "__main__":
    main(["worker"])
