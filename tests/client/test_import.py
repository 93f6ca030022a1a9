"""`import threadkeeper.client` loads the client only, not the server's stack."""

from __future__ import annotations

import json
import subprocess
import sys

# (httpx itself pulls in click and zstandard when they are installed: not ours to drop.)
SERVER_STACK = {
    "starlette",
    "redis",
    "boto3",
    "botocore",
    "rq",
    "uvicorn",
    "msgpack",
    "prometheus_client",
}
PROBE = "import json, sys; import threadkeeper.client; print(json.dumps(sorted(sys.modules)))"


def test_the_client_imports_without_the_server_stack() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, check=True, text=True)
    loaded: list[str] = json.loads(out.stdout)
    assert "httpx" in loaded
    assert sorted({m.split(".")[0] for m in loaded} & SERVER_STACK) == []
    ours = [m for m in loaded if m.startswith("threadkeeper.")]
    assert ours and all(m.startswith("threadkeeper.client") for m in ours)
