"""docs/training.md must stay true: its Python example runs, its field table is complete."""

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

from maskmotion.train import TrainConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_python_example_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "train(config)" in b]
    src = str(DOC.parents[1] / "src")
    path = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    subprocess.run([sys.executable, "-c", block], cwd=tmp_path, check=True, timeout=120, env=env)
    assert (tmp_path / "runs" / "toy" / "final" / "model.safetensors").is_file()


def test_toml_example_parses(tmp_path):
    (block,) = re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.S)
    path = tmp_path / "run.toml"
    path.write_text(block)
    assert TrainConfig.from_file(path).task_options == {"hidden": 64}


def test_every_field_is_documented():
    table = DOC.read_text().split("## The config")[1].split("## Tasks")[0]
    missing = [f.name for f in dataclasses.fields(TrainConfig) if f"`{f.name}`" not in table]
    assert not missing
