"""Starting and stopping a real `maskmotion demo` process for the page's tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "crescent_and_star.png"
#: A pixel limit below the rocket photo's 273k pixels and above the 64x64 scenes, so the
#: page's limit can be seen refusing an upload.
MAX_PIXELS = 100_000
START_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoServer:
    def __init__(self, url: str, process: subprocess.Popen, log: Path) -> None:
        self.url, self.process, self.log = url, process, log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def temp_root(self) -> Path:
        found = re.search(r"temporary files in (\S+)", self.log_text())
        assert found, self.log_text()[-2000:]
        return Path(found.group(1))


def start_server(log: Path, *extra: str, env: dict[str, str] | None = None) -> DemoServer:
    """`maskmotion demo` on a free port, answering HTTP (fails the test otherwise); ``env``
    adds to its environment."""
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    cmd = [sys.executable, "-m", "maskmotion", "demo", "--port", str(port), "--device", "cpu", "--max-pixels", str(MAX_PIXELS), *extra]
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"maskmotion demo exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return DemoServer(url, process, log)
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"maskmotion demo did not answer in {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


def stop_server(server: DemoServer) -> int:
    """SIGTERM, as a service manager stops it; the exit code."""
    server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        return server.process.wait()
