"""A run stopped by SIGTERM exits 143 with one line and leaves no output and no temporary
folder behind (a real process, a real signal)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image


def test_sigterm_mid_run_leaves_nothing(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (600, 900, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    out = tmp_path / "out"
    out.mkdir()
    # Many frames of the warp preview at full size: seconds of work, no weights needed.
    args = [
        sys.executable, "-m", "maskmotion", "animate", str(tmp_path / "photo.png"), "--prompt", "the box slides",
        "--box", "box=100,100,400,400", "--segment", "box", "--drag", "box: 250,250 600,250",
        "--frames", "400", "--max-size", "900", "--renderer", "warp", "--quiet", "--out", str(out / "v.mp4"),
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in out.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)
    time.sleep(1.0)  # well into the run
    assert proc.poll() is None, "the run ended before it could be stopped; make it longer"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "maskmotion animate: terminated"
    assert list(out.iterdir()) == []
