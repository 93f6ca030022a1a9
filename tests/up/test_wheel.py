"""A plain (non-editable) install of the wheel gives a working `threadkeeper up`.

The wheel is built from this checkout and installed with `--no-deps` into a fresh
virtualenv; its dependencies come from the project's own .venv through a .pth
path entry (tests talk to loopback only: nothing is downloaded). The import must
resolve to the fresh virtualenv's copy, never to src/, and `up` runs from a
directory outside the repository, so only what the wheel ships can be used.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

from daemon_support import Daemon

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 600


def _run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _fresh_venv(tmp_path: Path) -> Path:
    wheels = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", wheels, ROOT, cwd=tmp_path)  # fmt: skip
    (wheel,) = wheels.glob("threadkeeper-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                     cwd=tmp_path).strip())  # fmt: skip
    (site / "deps-from-dot-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
         "--no-index", wheel, cwd=tmp_path)  # fmt: skip
    return venv


def test_the_installed_wheel_runs_up_and_a_round_trip(
    tmp_path: Path, make_daemon: Callable[..., Daemon]
) -> None:
    venv = _fresh_venv(tmp_path)
    where = _run(venv / "bin" / "python", "-c",
                 "import threadkeeper, pathlib; p = pathlib.Path(threadkeeper.__file__).parent; "
                 "print(p, threadkeeper.__version__, (p / 'daemon' / 'redis.conf').is_file())",
                 cwd=tmp_path).split()  # fmt: skip
    assert Path(where[0]).is_relative_to(venv) and where[2] == "True", where
    assert where[1] == _run(sys.executable, "-c", "import threadkeeper as t; print(t.__version__)",
                            cwd=tmp_path).strip()  # fmt: skip

    daemon = make_daemon(tmp_path / "home", str(venv / "bin" / "threadkeeper")).start()
    http = daemon.client()
    turns = [{"role": "user", "content": "from the wheel"}]
    assert http.post("/v1/threads", json={"id": "w", "turns": turns}).status_code == 201
    assert [t["content"] for t in http.get("/v1/threads/w").json()["turns"]] == ["from the wheel"]
    assert daemon.stop() == 0
    daemon.assert_tree_gone()
