import json
from pathlib import Path

import pytest

from maskmotion.errors import InputError
from maskmotion.train import TrainConfig, get_task, register_task, task_names
from maskmotion.train.loop import lr_factor


def sample_config() -> TrainConfig:
    return TrainConfig(
        steps=123,
        lr=2e-4,
        betas=(0.9, 0.95),
        schedule="cosine",
        task_options={"hidden": 16, "dropout": 0.0},
        strategy_options={"find_unused_parameters": True},
    )


def test_json_round_trip(tmp_path):
    config = sample_config()
    path = tmp_path / "c.json"
    config.save(path)
    assert TrainConfig.from_file(path) == config
    assert json.loads(path.read_text())["betas"] == [0.9, 0.95]


def test_toml_round_trip(tmp_path):
    tomli_w = pytest.importorskip("tomli_w", reason="tomli-w writes the TOML side")
    config = sample_config()
    path = tmp_path / "c.toml"
    path.write_bytes(tomli_w.dumps(config.to_dict()).encode())
    assert TrainConfig.from_file(path) == config


def test_toml_by_hand_coerces_ints_to_floats(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('steps = 5\nlr = 1\nbetas = [0.9, 0.99]\n[task_options]\nhidden = 4\n')
    config = TrainConfig.from_file(path)
    assert config.lr == 1.0 and isinstance(config.lr, float)
    assert config.betas == (0.9, 0.99)
    assert config.task_options == {"hidden": 4}


@pytest.mark.parametrize(
    "text, match",
    [
        ("stepz = 5\n", "unknown key 'stepz'"),
        ('steps = "5"\n', "steps must be an integer"),
        ('schedule = "linear"\n', "schedule must be one of"),
        ("steps = 0\n", "steps must be at least 1"),
        ("ema_decay = 1.0\n", "ema_decay must be in"),
        ("lr = true\n", "lr must be a number"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, match):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        TrainConfig.from_file(path)


def test_bad_file_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        TrainConfig.from_file(tmp_path / "missing.toml")
    (tmp_path / "c.yaml").write_text("steps: 3")
    with pytest.raises(InputError, match=r"\.toml or \.json"):
        TrainConfig.from_file(tmp_path / "c.yaml")
    (tmp_path / "c.toml").write_text("steps = = 3")
    with pytest.raises(InputError, match="not valid toml"):
        TrainConfig.from_file(tmp_path / "c.toml")


def test_resume_conflicts_ignore_bookkeeping():
    saved = TrainConfig()
    free = saved.replace(
        steps=9999, out_dir="elsewhere", log_every=1, checkpoint_every=3, keep_last=0,
        checkpoint_minutes=5.0, num_threads=2, progress=False, tensorboard=False, eval_every=7,
    )
    assert free.resume_conflicts(saved) == []
    changed = saved.replace(lr=1.0, task_options={"hidden": 3})
    assert changed.resume_conflicts(saved) == ["task_options", "lr"]


def test_task_registry():
    assert "toy" in task_names()
    with pytest.raises(InputError, match="unknown task 'nope'"):
        get_task("nope")
    with pytest.raises(InputError, match="unknown option 'hiden'"):
        get_task("toy", {"hiden": 3})
    # "module:factory" works without registering.
    assert get_task("maskmotion.train.tasks:toy_task", {"hidden": 4}).options.hidden == 4

    @register_task("test-lazy-toy")
    def factory(options):
        return get_task("toy", options)

    assert get_task("test-lazy-toy", {}).options.hidden == 32


def test_lr_schedule_warmup_then_cosine():
    config = TrainConfig(steps=110, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    factors = [lr_factor(config, s) for s in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0)
    assert factors[60] == pytest.approx(0.55)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert factors[-1] > 0.1
    assert lr_factor(config.replace(schedule="constant"), 100) == 1.0


def test_lr_scale_splits_the_optimizer_groups():
    from torch import nn

    from maskmotion.train.loop import _param_groups

    model = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 2), nn.LayerNorm(2)))
    groups = _param_groups(model, 0.01, 1e-4, {"1.": 10.0, "1.1.": 3.0})
    got = sorted((round(g["lr"], 9), g["weight_decay"], sum(p.numel() for p in g["params"])) for g in groups)
    assert got == sorted([
        (1e-4, 0.01, 12), (1e-4, 0.0, 4),  # 0: Linear(3, 4)
        (1e-3, 0.01, 8), (1e-3, 0.0, 2),  # 1.0: Linear(4, 2), the "1." prefix
        (3e-4, 0.0, 4),  # 1.1: LayerNorm, the longer "1.1." prefix wins
    ])
    assert groups[0]["lr"] == 1e-4 and groups[0]["weight_decay"] == 0.01  # the base group leads
    with pytest.raises(InputError, match="no parameter name starts with"):
        _param_groups(model, 0.01, 1e-4, {"head.": 10.0})
    with pytest.raises(InputError, match="lr_scale"):
        TrainConfig(lr_scale={"1.": -1.0})


def test_every_config_in_the_repo_parses_and_names_its_task():
    """The configs the docs point to load as written (a typo in a key or a value type is
    an InputError here, not an hour into a run); the sprites ones build their task."""
    root = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(root.glob("*.toml"))
    assert len(files) >= 6
    for path in files:
        config = TrainConfig.from_file(path)
        if config.task.startswith("stage"):
            task = get_task(config.task, config.task_options)
            assert task.build_model() is not None, path.name
