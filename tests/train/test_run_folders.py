"""A run writes only under its output folder: caches and temporary files never land in
the folder it was started from."""

from pathlib import Path

from maskmotion.train.cli import main
from maskmotion.train.tasks import get_task, resolve_cache_dir

TINY = """\
task = "stage1-motion"
steps = 2
batch_size = 4
checkpoint_every = 1
progress = false
tensorboard = false
num_threads = 1
ema_decay = 0.5

[task_options]
train_scenes = 16
eval_scenes = 2
frames = 8
size = 32
preset = "tiny"
"""


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_tiny_run_writes_nothing_into_the_current_directory(tmp_path, monkeypatch):
    configs, cwd, out = tmp_path / "configs", tmp_path / "cwd", tmp_path / "elsewhere" / "run"
    configs.mkdir()
    cwd.mkdir()
    (configs / "tiny.toml").write_text(TINY)
    monkeypatch.chdir(cwd)
    assert main(["--config", str(configs / "tiny.toml"), "--out", str(out), "-q"]) == 0
    assert _files(cwd) == []
    assert _files(configs) == ["tiny.toml"]
    assert (out / "final").is_dir() and (out / "checkpoints").is_dir()
    # The prompt cache sits in the run's folder by default.
    assert list((out / "cache").glob("prompts-*"))


def test_cache_dir_rule(tmp_path):
    out = tmp_path / "run"
    assert resolve_cache_dir(None, out) == out / "cache"
    assert resolve_cache_dir(None, None) is None
    assert resolve_cache_dir("", out) is None
    assert resolve_cache_dir("../cache", out) == out / ".." / "cache"
    assert resolve_cache_dir(str(tmp_path / "shared"), out) == tmp_path / "shared"
    assert resolve_cache_dir("~/c", out) == Path.home() / "c"


def test_task_options_resolve_the_cache_against_out_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = dict(train_scenes=16, eval_scenes=2, frames=8, size=32, preset="tiny")
    task = get_task("stage1-motion", options, out_dir=tmp_path / "run")
    assert Path(task.opts.cache_dir) == tmp_path / "run" / "cache"
    task = get_task("stage1-motion", {**options, "cache_dir": "shared"}, out_dir=tmp_path / "run")
    assert Path(task.opts.cache_dir) == tmp_path / "run" / "shared"
    # Built without a run folder (plain Python use): no disk cache unless one is named.
    assert get_task("stage1-motion", options).opts.cache_dir == ""
    assert not (tmp_path / "runs").exists()
