"""Errors that mean "the input is wrong": the command line reports them in one line
and exits with code 2. Everything else is an internal error (exit code 1)."""


class InputError(ValueError):
    """Bad user input; the message names the problem and the fix."""
