"""`threadkeeper worker`, except that a snapshot put hangs once its object is written.

For the kill tests: it writes the object's key to $TK_TEST_MARKER, then sleeps, so
the test can `kill -9` the worker exactly between the verified PUT and the
compare-and-set, the worst moment to die.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from threadkeeper.archive.local import LocalArchive
from threadkeeper.cli import main

_put = LocalArchive.put_if_absent


def put_then_hang(self: LocalArchive, key: str, data: bytes) -> None:
    _put(self, key, data)
    if key.startswith("threads/"):
        Path(os.environ["TK_TEST_MARKER"]).write_text(key)
        time.sleep(3600)


LocalArchive.put_if_absent = put_then_hang  # type: ignore[method-assign]

if __name__ == "__main__":
    main(["worker"])
