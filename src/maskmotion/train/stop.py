"""Graceful stop: SIGTERM or SIGINT asks the loop to checkpoint and return.

The handler only sets a flag; the loop looks at it between steps (and agrees on it
across processes), so a stop never lands in the middle of an optimizer update. A second
signal raises KeyboardInterrupt at once, for when the save itself is unwanted.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """Context manager installing the handlers; restores the previous ones on exit."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopRequest":
        # Signal handlers can only be set from the main thread; elsewhere (a notebook
        # worker, a test thread) training runs without graceful stop.
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested:
            raise KeyboardInterrupt(f"second {name}: stopping without a checkpoint")
        self.requested = True
        self.signal_name = name
        logger.warning("%s received: saving a checkpoint after this step, then stopping", name)
