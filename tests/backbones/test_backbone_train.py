"""`backbone-stage1` / `backbone-stage2` in the one training loop: a weights folder made
from a pretrained-style base folder, loss going down, the export loading back, and the
latent / text cache reused by a second run."""

from __future__ import annotations

import pytest
import torch
from backbone_testing import SIZES, save_base_folder

from maskmotion.errors import InputError
from maskmotion.pipelines.backbone import BackboneTTM
from maskmotion.train import TrainConfig, get_task, train


def config(tmp_path, name: str, stage: int, backbone: str, steps: int, **options) -> TrainConfig:
    task_options = dict(backbone=backbone, weights=str(tmp_path / f"weights-{backbone}"),
                        base=str(tmp_path / f"base-{backbone}"), cache_dir=str(tmp_path / "cache"),
                        train_scenes=2, masked_blocks=1, **SIZES[backbone], **options)  # fmt: skip
    return TrainConfig(task=f"backbone-stage{stage}", task_options=task_options, out_dir=str(tmp_path / name),
                       steps=steps, batch_size=2, lr=2e-3, ema_decay=0.0, log_every=1, checkpoint_every=0,
                       progress=False, tensorboard=False, num_threads=1)  # fmt: skip


def fixed_loss(task, model, batches: int = 4) -> float:
    """The task's loss on the same batches, noise and dropout draws, whatever the weights."""
    model.eval()
    with torch.no_grad():
        return sum(float(task.loss(model, task.batch(0, 0, 1, 2), torch.Generator().manual_seed(i))[0])
                   for i in range(batches)) / batches  # fmt: skip


@pytest.mark.parametrize("backbone, stage", [("wan", 2), ("animatediff", 1)])
def test_training_lowers_the_loss_and_exports_a_weights_folder(backbone, stage, tmp_path):
    save_base_folder(backbone, tmp_path / f"base-{backbone}")
    cfg = config(tmp_path, "run", stage, backbone, steps=12, gradient_checkpointing=stage == 2)
    task = get_task(cfg.task, cfg.task_options)  # makes weights-* from base-*
    before = fixed_loss(task, task.build_model())
    summary = train(cfg, task=task)
    exported = tmp_path / "run" / "final" / "weights"
    ttm = BackboneTTM.from_pretrained(exported, backbone=backbone)  # strict: a complete folder
    trained = ttm.motion if stage == 1 else ttm.video
    after = fixed_loss(task, trained.float().train())
    assert after < 0.9 * before, (before, after, summary["loss"])
    # The other stage is the starting folder's, untouched.
    other = "video" if stage == 1 else "motion"
    start = BackboneTTM.from_pretrained(tmp_path / f"weights-{backbone}", stages=(other,))
    assert all(torch.equal(a, b) for a, b in zip(getattr(start, other).state_dict().values(),
                                                 getattr(ttm, other).state_dict().values()))  # fmt: skip


def test_second_run_reads_the_cache(tmp_path):
    save_base_folder("wan", tmp_path / "base-wan")
    first = get_task("backbone-stage2", config(tmp_path, "a", 2, "wan", 2).task_options)
    train(config(tmp_path, "a", 2, "wan", 2), task=first)
    assert first.encodes == 2 and first.group_builds == 2  # the pool's two scenes
    second = get_task("backbone-stage2", config(tmp_path, "b", 2, "wan", 2).task_options)
    train(config(tmp_path, "b", 2, "wan", 2), task=second)
    assert second.encodes == 0 and second._encoders is None  # nothing encoded, VAE never loaded
    assert second.group_builds == 0  # token groups read back too
    # Cached latents, text states and groups give the loss that fresh ones give.
    fresh = get_task("backbone-stage2", {**config(tmp_path, "d", 2, "wan", 1).task_options, "cache_dir": "",
                                         "cache_dtype": "bfloat16"})  # fmt: skip
    model = second.build_model().eval()
    with torch.no_grad():
        losses = [float(t.loss(model, t.batch(0, 0, 1, 2), torch.Generator().manual_seed(1))[0]) for t in (second, fresh)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-2)  # bf16 storage vs float32
    assert torch.equal(first.batch(0, 0, 1, 2)["target"], second.batch(0, 0, 1, 2)["target"])
    # Another clip length is another key: a new cache folder.
    third = get_task("backbone-stage1", config(tmp_path, "c", 1, "wan", 1).task_options)
    assert third.cache != second.cache


def test_task_errors(tmp_path):
    with pytest.raises(InputError, match="set task_options.base"):
        get_task("backbone-stage1", dict(backbone="wan", weights=str(tmp_path / "none")))
    with pytest.raises(InputError, match="unknown backbone"):
        get_task("backbone-stage1", dict(backbone="sd3", weights=str(tmp_path / "none")))
    with pytest.raises(InputError, match="unknown option"):
        get_task("backbone-stage1", dict(backbone="wan", weights="w", size=32))


@pytest.mark.parametrize("name", ["wan-stage1", "wan-stage2", "animatediff-stage1", "animatediff-stage2"])
def test_real_size_configs_parse(name):
    """The shipped configs at real sizes are valid (their base weights are not here)."""
    from pathlib import Path

    from maskmotion.pipelines.backbone import BackboneConfig
    from maskmotion.train.backbone_tasks import BackboneTaskOptions
    from maskmotion.train.tasks import options_from_dict

    cfg = TrainConfig.from_file(Path(__file__).parents[2] / "configs" / f"{name}.toml")
    assert cfg.task == f"backbone-{name.split('-')[1]}" and cfg.mixed_precision == "bf16"
    opts = options_from_dict(BackboneTaskOptions, cfg.task_options, cfg.task)
    assert opts.gradient_checkpointing
    real = BackboneConfig.for_kind(opts.backbone)
    assert (opts.frames, opts.height, opts.width) == (real.frames, real.height, real.width)
    assert cfg.batch_size % cfg.grad_accum_steps == 0


@pytest.mark.parametrize("backbone", ["wan", "animatediff"])
def test_gradient_checkpointing_gives_the_same_gradients(backbone, weights):
    from maskmotion.train.backbone_tasks import BackboneTask, BackboneTaskOptions

    task = BackboneTask(BackboneTaskOptions(backbone=backbone, weights=str(weights[backbone]), cache_dir="",
                                            train_scenes=2), stage=2)  # fmt: skip
    batch = task.batch(0, 0, 1, 2)
    grads = []
    for checkpointing in (False, True):
        task.opts.gradient_checkpointing = checkpointing
        model = task.build_model()
        task.loss(model, batch, torch.Generator().manual_seed(0))[0].backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        # Checkpointed blocks ran again in backward, with the masks restored.
        assert model.layers[0].calls["self"] == (2 if checkpointing else 1)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
