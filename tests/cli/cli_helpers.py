"""Helpers for command-line tests."""

import os
import subprocess
import sys


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """``python -m maskmotion ARGS`` as a user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "maskmotion", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )
