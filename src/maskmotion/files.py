"""Atomic file writes (a reader never sees a half-written output or checkpoint), and
JSON read from users within bounds."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    The temporary name keeps the suffix, so writers that pick a format by suffix
    (video containers, image formats) still work. On any exception the temporary
    file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {path}: folder {parent} does not exist; create it first"
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600 files (and some writers recreate the file); outputs get
        # the usual permissions.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only on success."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp_path = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    os.chmod(tmp_path, 0o777 & ~_umask())
    try:
        yield tmp_path
        if path.exists():
            # Swap in two renames so the old folder is never half-deleted.
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=parent))
            os.replace(path, old / "x")
            os.replace(tmp_path, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp_path, path)
    except BaseException:
        shutil.rmtree(tmp_path, ignore_errors=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, hex, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---- JSON from users ---------------------------------------------------------------------
#: Largest JSON file read from a user (plans, run records, trajectory metadata, configs).
MAX_JSON_BYTES = 64 << 20


def parse_json(text: str | bytes, where: str, error: type[Exception] = ValueError, fix: str = "") -> Any:
    """``json.loads`` that fails only with ``error`` and one line: malformed text, text
    that is not UTF-8, nesting too deep for the parser, numbers too long to convert."""
    tail = f"; {fix}" if fix else ""
    try:
        return json.loads(text)
    except RecursionError:
        raise error(f"{where}: the JSON is nested too deeply to read{tail}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        what = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise error(f"{where}: not valid JSON ({what}){tail}") from None


def read_json_file(
    path: str | os.PathLike, error: type[Exception] = ValueError, fix: str = "", max_bytes: int = MAX_JSON_BYTES
) -> Any:
    """The JSON in ``path`` (at most ``max_bytes``), with `parse_json`'s errors."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise error(f"{path} is {size:,} bytes, more than the {max_bytes:,} a JSON file here may hold{'; ' + fix if fix else ''}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_json(data, str(path), error, fix)
