import argparse

import pytest

from maskmotion.errors import InputError
from maskmotion.train.cli import add_train_arguments, apply_overrides, config_from_args, parse_override


def test_parse_override_reads_toml_values_and_bare_words():
    assert parse_override("lr=1e-4") == (["lr"], 1e-4)
    assert parse_override("task_options.variant=ti2v") == (["task_options", "variant"], "ti2v")
    assert parse_override('task_options.variant="ti2v"') == (["task_options", "variant"], "ti2v")
    assert parse_override("betas=[0.9, 0.95]") == (["betas"], [0.9, 0.95])
    assert parse_override("progress=false") == (["progress"], False)
    for bad in ("lr", "=3", "a..b=1"):
        with pytest.raises(InputError, match="KEY=VALUE"):
            parse_override(bad)


def test_overrides_reach_into_tables_without_touching_the_original():
    data = {"steps": 10, "task_options": {"preset": "small", "model": {"dim": 96}}}
    out = apply_overrides(data, ["task_options.model.dim=64", "task_options.variant=flow", "steps=20"])
    assert out == {"steps": 20, "task_options": {"preset": "small", "variant": "flow", "model": {"dim": 64}}}
    assert data["task_options"]["model"]["dim"] == 96
    with pytest.raises(InputError, match="not a table"):
        apply_overrides(data, ["steps.x=1"])


def test_config_from_args_checks_overridden_fields(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('task = "toy"\nsteps = 5\n[task_options]\nwidth = 4\n')
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    config = config_from_args(parser.parse_args(["--config", str(cfg), "--set", "task_options.width=8", "--set", "lr=0.01"]))
    assert config.task_options == {"width": 8} and config.lr == 0.01
    with pytest.raises(InputError, match="unknown key 'nope'"):
        config_from_args(parser.parse_args(["--config", str(cfg), "--set", "nope=1"]))
    with pytest.raises(InputError, match="steps must be an integer"):
        config_from_args(parser.parse_args(["--config", str(cfg), "--set", "steps=many"]))
