"""The whole app served by uvicorn in a thread on a free loopback port, as a client meets it."""

from __future__ import annotations

import threading

import uvicorn

from threadkeeper.api import create_app
from threadkeeper.daemon.redis_server import free_port
from threadkeeper.settings import Settings
from waiting import wait_for

HOST = "127.0.0.1"
START_TIMEOUT = 60


class LiveServer:
    """The whole app served by uvicorn in a thread, as a client would meet it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host=HOST, port=self.port,
                                log_level="warning", lifespan="on")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        alive = self.thread.is_alive
        wait_for(lambda: self.server.started or not alive(), "uvicorn", timeout=START_TIMEOUT)
        assert self.server.started, "uvicorn did not start"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
