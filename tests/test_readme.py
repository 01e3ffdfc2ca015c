"""The README's quick start and examples must stay true."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _code_blocks(lang: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_test_command():
    bash = _code_blocks("bash")
    assert len(bash) >= 2, "README quick start needs two commands"
    test_command = bash[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_quick_start_main_command_names_a_real_subcommand():
    main_command = _code_blocks("bash")[0].strip()
    invocation = shlex.split(main_command.split("&&")[-1])
    assert invocation[0] == "maskmotion"
    from maskmotion.cli import build_parser

    build_parser().parse_args(invocation[1:])  # raises SystemExit on a stale command


def test_python_examples_run(tmp_path):
    for block in _code_blocks("python"):
        subprocess.run([sys.executable, "-c", block], cwd=tmp_path, check=True, timeout=120)
