"""docs/animate.md must stay true: its Python example runs, and every option it lists exists."""

import re
from pathlib import Path

from maskmotion.cli import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "animate.md"


def test_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})


def test_documented_options_exist():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    known = {opt for name in ("animate", "plan", "render") for a in sub[name]._actions for opt in a.option_strings}
    documented = set(re.findall(r"`(--[a-z0-9-]+)", DOC.read_text()))
    assert documented and documented <= known, documented - known
