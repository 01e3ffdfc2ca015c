"""Real clips -> prepare -> shards -> a few training steps of a tiny Wan config, and the
shard stream resuming mid-epoch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "backbones"))
from backbone_testing import tiny_ttm  # noqa: E402

from maskmotion.errors import InputError  # noqa: E402
from maskmotion.pipelines.backbone import BackboneTTM  # noqa: E402
from maskmotion.train import TrainConfig, get_task, train  # noqa: E402


@pytest.fixture(scope="module")
def wan_weights(tmp_path_factory) -> Path:
    return tiny_ttm("wan").save_pretrained(tmp_path_factory.mktemp("wan") / "weights")


def config(out: Path, weights: Path, prepared: Path, steps: int, stage: int = 2, **extra) -> TrainConfig:
    options = dict(backbone="wan", weights=str(weights), data=f"shards:{prepared}/shards/*.tar", shuffle_buffer=3,
                   cache_dir="", **extra)  # fmt: skip
    return TrainConfig(task=f"backbone-stage{stage}", task_options=options, out_dir=str(out), steps=steps, batch_size=2,
                       lr=1e-3, ema_decay=0.0, log_every=1, checkpoint_every=2, progress=False, tensorboard=False,
                       num_threads=1, seed=5)  # fmt: skip


@pytest.mark.parametrize("stage", [1, 2])
def test_train_a_tiny_wan_from_prepared_shards(stage, wan_weights, prepared, tmp_path):
    summary = train(config(tmp_path / "run", wan_weights, prepared, steps=3, stage=stage))
    assert summary["step"] == 3 and summary["loss"] is not None and summary["loss"] == summary["loss"]
    BackboneTTM.from_pretrained(tmp_path / "run" / "final" / "weights", backbone="wan")  # a complete folder
    state = json.loads((tmp_path / "run" / "checkpoints" / "step_000002" / "state.json").read_text())
    assert state["data"] == {"epoch": 0, "offset": 4, "samples_seen": 4}


def test_resume_mid_epoch_continues_the_same_stream(wan_weights, prepared, tmp_path):
    whole = train(config(tmp_path / "whole", wan_weights, prepared, steps=4))
    train(config(tmp_path / "split", wan_weights, prepared, steps=2))
    resumed = train(config(tmp_path / "split", wan_weights, prepared, steps=4), resume=True)
    assert resumed["step"] == 4
    a = BackboneTTM.from_pretrained(tmp_path / "whole" / "final" / "weights", backbone="wan", stages=("video",))
    b = BackboneTTM.from_pretrained(tmp_path / "split" / "final" / "weights", backbone="wan", stages=("video",))
    assert all(torch.equal(x, y) for x, y in zip(a.video.state_dict().values(), b.video.state_dict().values()))
    # The batches are the stream's: seeded, and each step reads the next ones.
    task = get_task("backbone-stage2", config(tmp_path / "x", wan_weights, prepared, 1).task_options)
    other = get_task("backbone-stage2", {**config(tmp_path / "x", wan_weights, prepared, 1).task_options})
    n = len(task.shards)
    positions = [task.indices(step, 0, 1, 2) for step in range(n // 2)]
    assert [i for p in positions for i in p] == task.shards.order(0)[: 2 * (n // 2)].tolist()
    assert torch.equal(task.batch(1, 0, 1, 2)["target"], other.batch(1, 0, 1, 2)["target"])
    assert whole["loss"] is not None


def test_shards_of_another_size_are_refused(wan_weights, prepared, tmp_path):
    from backbone_testing import SIZES

    assert SIZES["animatediff"]["frames"] != 5
    animatediff = tiny_ttm("animatediff").save_pretrained(tmp_path / "ad")
    options = dict(backbone="animatediff", weights=str(animatediff), data=f"shards:{prepared}/shards/*.tar", cache_dir="")
    with pytest.raises(InputError, match="prepare them with --frames 4 --height 16 --width 16"):
        get_task("backbone-stage1", options)
    with pytest.raises(InputError, match="stage1-motion learns from the sprites world"):
        get_task("stage1-motion", dict(data=f"shards:{prepared}/shards/*.tar", frames=5, size=32))


@pytest.mark.parametrize("task, extra", [("stage2", {"variant": "ttm"}), ("stage1-pixel", {})])
def test_the_small_ttm_tasks_train_from_shards(task, extra, clip_folder, tmp_path_factory):
    from maskmotion.prepare import PrepareOptions, prepare

    root = tmp_path_factory.mktemp("small")
    # The tiny preset's patches span 2 frames and 8x8 pixels.
    prepare(clip_folder, root / "data", PrepareOptions(frames=4, fps=8, height=32, width=32, max_windows=2), progress=False)
    options = dict(data=f"shards:{root}/data/shards/*.tar", frames=4, size=32, preset="tiny", cache_dir="", **extra)
    cfg = TrainConfig(task=task, task_options=options, out_dir=str(root / "run"), steps=2, batch_size=2, ema_decay=0.0,
                      progress=False, tensorboard=False, num_threads=1, checkpoint_every=0)  # fmt: skip
    summary = train(cfg)
    assert summary["step"] == 2 and 0 < summary["loss"] < 10
    assert (root / "run" / "final" / "model" / "config.json").is_file()


def test_latents_stored_in_the_shards_are_read_instead_of_encoding(wan_weights, clip_folder, tmp_path):
    from clip_testing import TINY

    from maskmotion.prepare import PrepareOptions, prepare

    options = PrepareOptions(**TINY, max_windows=2, latents=str(wan_weights))
    prepare(clip_folder, tmp_path / "data", options, progress=False)
    data = f"shards:{tmp_path}/data/shards/*.tar"
    stored = get_task("backbone-stage2", dict(backbone="wan", weights=str(wan_weights), data=data, cache_dir=""))
    assert stored.shards.member(0, "stage1.safetensors") is not None
    batch = stored.batch(0, 0, 1, 2)
    assert stored.encodes == 0 and stored._encoders is None  # the VAE never loaded for the samples
    # Another dtype is another key: those tensors are encoded, and agree to bf16 precision.
    fresh = get_task("backbone-stage2", dict(backbone="wan", weights=str(wan_weights), data=data, cache_dir="",
                                             cache_dtype="float32"))  # fmt: skip
    again = fresh.batch(0, 0, 1, 2)
    assert fresh.encodes == 2
    for name in ("x0", "cond", "target"):
        assert torch.allclose(batch[name], again[name], rtol=2e-2, atol=2e-2), name
    assert torch.equal(batch["ids"], again["ids"])
    summary = train(config(tmp_path / "run", wan_weights, tmp_path / "data", steps=2))
    assert summary["step"] == 2
