"""Errors that mean "the input is wrong": the command line reports them in one line
and exits with code 2. Everything else is an internal error (exit code 1)."""


class InputError(ValueError):
    """Bad user input; the message names the problem and the fix."""


#: How many characters of outside text (a model's answer, a file's contents) a message
#: or log line quotes.
CLIP_CHARS = 200


def clip_text(text: str, limit: int = CLIP_CHARS) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" and the full length when cut,
    so that quoting outside text in a message keeps the message short."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"
