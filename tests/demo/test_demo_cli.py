"""`maskmotion demo` refuses bad options in one line, with exit code 2, before loading
anything."""

from __future__ import annotations

import pytest

from maskmotion.cli import main


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "70000"], "--port must be from 1 to 65535"),
        (["--max-upload-mb", "0"], "--max-upload-mb must be positive"),
        (["--max-pixels", "10"], "--max-pixels must be at least 256"),
        (["--idle-minutes", "0"], "--idle-minutes must be a positive number of minutes"),
        (["--idle-minutes", "inf"], "--idle-minutes must be a positive number of minutes"),
        (["--backbone", "wan"], "--backbone wan needs --weights PATH"),
        (["--weights", "somewhere"], "--weights is for --backbone wan or animatediff"),
    ],
)
def test_bad_demo_options_exit_2_with_one_line(args, message, capsys):
    assert main(["demo", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("maskmotion demo: error: ") and message in err and "\n" not in err
