"""Two promises of `maskmotion demo`, checked on a real server with real gradio_client
sessions: one job runs at a time and at most `--queue` wait (more are refused at once,
not left hanging), and a session no event has used for `--idle-minutes` is dropped with
its files, whether its browser is still open or has gone."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from maskmotion.demo.examples import load_examples

from demo_server import start_server, stop_server

gradio_client = pytest.importorskip("gradio_client", reason="the demo extra is not installed (pip install -e '.[demo]')")
from gradio_client.utils import QueueError, Status  # noqa: E402 - only once it is known to be there

QUEUE = 1
IDLE_MINUTES = 0.15
IDLE = IDLE_MINUTES * 60  # seconds
#: gradio notices a closed browser at its next heartbeat (15 s unless set): sooner here, so
#: the closed session is one that gradio keeps for an hour and only the engine's sweep drops.
HEARTBEAT = "0.5"
CRESCENT = "crescent and star (bundled example)"
JOB_LOG = re.compile(r"render of (session-\S+) (started|ended) at (\S+)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")
    options = ("--queue", str(QUEUE), "--idle-minutes", str(IDLE_MINUTES))
    server = start_server(tmp_path_factory.mktemp("demo") / "server.log", *options, env={"GRADIO_HEARTBEAT_INTERVAL": HEARTBEAT})
    yield server
    root = server.temp_root()
    assert stop_server(server) == 143
    assert not root.exists()


def _client(server, tmp_path):
    return gradio_client.Client(server.url, verbose=False, download_files=str(tmp_path))


def _wait(condition, timeout: float, what: str, poll: float = 0.02) -> float:
    """Poll until ``condition()`` holds; the monotonic time it first did."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s"
        time.sleep(poll)
    return time.monotonic()


def _status(job) -> Status:
    return job.status().code


def _sessions(root: Path) -> set[str]:
    return {p.name for p in root.glob("session-*")}


def test_one_render_runs_at_a_time_and_the_queue_turns_away_the_rest(server, tmp_path):
    # The scene with the most objects: its render is the slowest, so the first job is still
    # running while the others are sent.
    example = max(load_examples(), key=lambda e: len(e.boxes))
    log_from = len(server.log_text())
    first, second, third = (_client(server, tmp_path / name) for name in ("first", "second", "third"))
    for client in (first, second):
        assert client.predict(example.label, api_name="/load_example")[-2].startswith("Loaded the example")

    job1 = first.submit(example.prompt, 0, "model", api_name="/render")
    _wait(lambda: _status(job1) in (Status.PROCESSING, Status.PROGRESS), 30, "the first render starting")
    job2 = second.submit(example.prompt, 0, "model", api_name="/render")
    _wait(lambda: _status(job2) not in (Status.STARTING, Status.JOINING_QUEUE), 10, "the second render joining")
    waiting = job2.status()
    assert not job1.done(), "the first render ended before the check; it cannot show the queue"
    assert (waiting.code, waiting.rank) == (Status.IN_QUEUE, 0), f"the second render runs beside the first: {waiting}"

    # One running and QUEUE waiting: the next job is refused at once, with a message.
    sent = time.monotonic()
    job3 = third.submit(example.prompt, 0, "model", api_name="/render")
    with pytest.raises(QueueError, match="Queue is full"):
        job3.result(timeout=10)
    assert time.monotonic() - sent < 5
    assert not job1.done(), "the first render ended before the refusal was checked"

    for job in (job1, job2):
        status = job.result(timeout=120)[-4]
        assert status.startswith("Rendered with the model renderer"), status
    # Both renders ran, one after the other: the second started after the first ended.
    ran: dict[str, dict[str, datetime]] = {}
    for session, event, at in JOB_LOG.findall(server.log_text()[log_from:]):
        ran.setdefault(session, {})[event] = datetime.fromisoformat(at)
    assert len(ran) == 2, ran
    (a, b) = sorted(ran.values(), key=lambda r: r["started"])
    assert a["started"] < a["ended"] <= b["started"] < b["ended"], ran

    # Once the queue has room again, the next job is taken (this session has no image yet).
    status = third.predict(example.prompt, 0, "warp", api_name="/render")[-4]
    assert status.startswith("**Problem:** load an image first"), status
    for client in (first, second, third):
        client.close()


def test_idle_sessions_are_dropped_with_their_files(server, tmp_path):
    root = server.temp_root()

    def new_session(client, *calls) -> tuple[str, float]:
        """Run the calls on a fresh client; its session's folder and when its last call began."""
        before = _sessions(root)
        for args, api in calls:
            began = time.monotonic()
            client.predict(*args, api_name=api)
        (made,) = _sessions(root) - before
        return made, began

    rendered = _client(server, tmp_path / "rendered")  # stays open, then idle
    gone = _client(server, tmp_path / "gone")  # closes, as a browser tab does
    busy = _client(server, tmp_path / "busy")  # keeps working
    a, a_last = new_session(rendered, ((CRESCENT,), "/load_example"), ((CRESCENT, 0, "warp"), "/render"))
    assert (root / a / "run-1" / "maskmotion.mp4").is_file()
    served = list((root / "gradio").rglob("*.mp4"))
    assert served, "gradio serves the render's videos from its cache"
    b, b_last = new_session(gone, ((CRESCENT,), "/load_example"))
    gone.close()
    c, _ = new_session(busy, ((CRESCENT,), "/load_example"))

    dropped: dict[str, float] = {}
    deadline = time.monotonic() + IDLE + 20
    while len(dropped) < 2:
        assert time.monotonic() < deadline, f"idle sessions kept: {_sessions(root)} (dropped: {dropped})"
        # Any event keeps a session: the busy one selects an object every half second.
        busy.predict("white crescent", api_name="/on_select")
        now = time.monotonic()
        for name in (a, b):
            if name not in dropped and not (root / name).exists():
                dropped[name] = now
        time.sleep(0.5)
    assert dropped[a] - a_last >= IDLE and dropped[b] - b_last >= IDLE, "dropped before they were idle"
    assert (root / c / "input.png").is_file(), "the session in use lost its files"
    # gradio's copies of the render's videos go after the same idle time.
    _wait(lambda: not any(p.exists() for p in served), 10, "removing gradio's served videos", poll=0.5)

    log = server.log_text()
    assert f"dropped {a}" in log and f"dropped {b}" in log
    # The open page goes on, in a new session.
    before = _sessions(root)
    status = rendered.predict(CRESCENT, api_name="/load_example")[-2]
    assert status.startswith("Loaded the example"), status
    assert len(_sessions(root) - before) == 1 and a not in _sessions(root)
    rendered.close()
    busy.close()
