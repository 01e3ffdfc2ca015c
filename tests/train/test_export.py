import json

import pytest
import torch

from maskmotion.errors import InputError
from maskmotion.models import MotionDiT
from maskmotion.models.io import load_model
from maskmotion.train import TrainConfig, get_task, train
from maskmotion.train.export import export_run


def test_export_a_run_checkpoint_to_a_model_folder(tmp_path):
    options = dict(train_scenes=64, eval_scenes=2, frames=8, size=32, preset="tiny", cache_dir=str(tmp_path / "cache"))
    config = TrainConfig(
        task="stage1-motion", task_options=options, out_dir=str(tmp_path / "run"), steps=3, batch_size=4,
        checkpoint_every=2, progress=False, tensorboard=False, ema_decay=0.5,
    )
    train(config)
    folder = export_run(tmp_path / "run", tmp_path / "motion", dtype="float16")
    model = load_model(folder)
    assert isinstance(model, MotionDiT) and model.cfg.frames == 8
    from safetensors.torch import load_file

    ema = load_file(str(tmp_path / "run" / "checkpoints" / "step_000003" / "ema.safetensors"))
    for name, value in model.state_dict().items():
        if name in ema:
            assert torch.allclose(value, ema[name].to(value.dtype), atol=1e-3, rtol=1e-3), name
    with pytest.raises(InputError, match="no checkpoint"):
        export_run(tmp_path / "nothing", tmp_path / "x")


def test_a_model_trained_on_another_text_encoder_names_it_in_its_export(tmp_path):
    options = dict(preset="tiny", frames=8, size=32, train_scenes=8, eval_scenes=1, cache_dir=str(tmp_path / "cache"))
    for name, text_model in (("bundled", ""), ("other", "runs/text-models/some-encoder")):
        task = get_task("stage1-motion", {**options, "text_model": text_model})
        task.export(task.build_model(), tmp_path / name)
        meta = json.loads((tmp_path / name / "model" / "config.json").read_text())
        assert meta.get("text_model") == (text_model or None)
