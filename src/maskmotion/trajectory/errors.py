"""The trajectory layer's error type."""

from ..errors import InputError


class TrajectoryError(InputError):
    """Invalid trajectory data; the message names the problem and the fix."""
