"""The TTM tasks on tiny models: batches are pure functions of the step, losses fall,
variants are parameter-matched, evaluation runs."""

import pytest
import numpy as np
import torch

from maskmotion.train.ttm_tasks import (
    VIDEO_VARIANTS,
    MaskVideoTask,
    MotionTask,
    MotionTaskOptions,
    VideoTask,
    VideoTaskOptions,
)

SMALL = dict(train_scenes=64, eval_scenes=2, eval_steps=2, frames=8, size=32, preset="tiny", cache_dir="")


@pytest.fixture(scope="module")
def motion_task():
    return MotionTask(MotionTaskOptions(**SMALL))


def _equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k


def test_batches_are_pure_functions_of_the_step(motion_task):
    first = motion_task.batch(3, 0, 1, 4)
    fresh = MotionTask(MotionTaskOptions(**SMALL))  # empty prompt cache
    fresh._text = motion_task.text
    _equal(first, fresh.batch(3, 0, 1, 4))
    # Two ranks split the global batch without overlap.
    r0, r1 = motion_task.indices(5, 0, 2, 4), motion_task.indices(5, 1, 2, 4)
    assert len(r0) == len(r1) == 2 and not set(r0) & set(r1)
    # Each epoch is a permutation of the whole pool.
    seen = [i for s in range(16) for i in motion_task.indices(s, 0, 1, 4)]
    assert sorted(seen) == list(range(64))


class _Predicts(torch.nn.Module):
    """Stands in for the model: returns the true velocity plus a fixed error."""

    def __init__(self, error):
        super().__init__()
        self.error = error
        self.bias = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x_t, t, cond):
        return self.true_velocity + self.error + self.bias


def test_step_weight_charges_errors_that_alternate_between_frames(motion_task):
    """Same error size in every frame: a constant offset and one that flips sign each
    frame cost the same per frame, but only the flipping one jitters the track, and with
    ``step_weight`` only that one costs more."""
    batch = motion_task.batch(0, 0, 1, 2)
    shape = batch["motion"].shape  # (B, L, T, 5)
    signs = torch.tensor([(-1.0) ** f for f in range(shape[2])])[None, None, :, None]
    constant, flipping = torch.full(shape, 0.1), 0.1 * signs.expand(shape)

    normalise = motion_task.build_model().normalise
    x0 = normalise(batch["motion"])
    # The loss draws its noise first from the generator; give the stand-in the velocity
    # that noise gives, so only ``error`` is wrong.
    true_velocity = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)) - x0

    def loss(task, error):
        model = _Predicts(error)
        model.true_velocity, model.normalise = true_velocity, normalise
        return task.loss(model, batch, torch.Generator().manual_seed(0))[0].item()

    plain = motion_task
    stepped = MotionTask(MotionTaskOptions(**SMALL, step_weight=1.0))
    stepped._text = motion_task.text
    assert loss(plain, constant) == pytest.approx(loss(plain, flipping), rel=1e-4)
    assert loss(stepped, constant) == pytest.approx(loss(plain, constant), rel=1e-4)
    assert loss(stepped, flipping) > 4 * loss(stepped, constant)


def test_motion_task_learns(motion_task):
    torch.manual_seed(0)
    model = motion_task.build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = motion_task.batch(0, 0, 1, 8)
    losses = []
    for i in range(40):
        loss, _ = motion_task.loss(model, batch, torch.Generator().manual_seed(i % 4))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-4:]) < 0.7 * sum(losses[:4])
    metrics = motion_task.evaluate(model.eval())
    assert set(metrics) == {"objects", "iou", "iou_still", "adherence"}
    assert 0 <= metrics["iou"] <= 1 and 0 <= metrics["adherence"] <= 1


def test_video_variants_are_parameter_matched_and_train(motion_task):
    counts = {}
    # The paper-form ablations and the flow trajectory: same layers, same inputs' width.
    for variant in ("ttm-paper", "ttm-pixel", "no-masked", "cross-only", "self-only", "flow"):
        task = VideoTask(VideoTaskOptions(**SMALL, variant=variant))
        task._text = motion_task.text
        model = task.build_model()
        counts[variant] = model.num_parameters()
        batch = task.batch(0, 0, 1, 2)
        loss, _ = task.loss(model, batch, torch.Generator().manual_seed(0))
        loss.backward()
        assert torch.isfinite(loss)
    assert len(set(counts.values())) == 1, counts
    assert set(VIDEO_VARIANTS) >= {"ttm", "ttm-paper", "ti2v", "no-masked", "cross-only", "self-only", "flow"}


def test_ttm_video_task_loss_falls_and_evaluates(motion_task):
    torch.manual_seed(0)
    task = VideoTask(VideoTaskOptions(**SMALL, variant="ttm-paper"))
    task._text = motion_task.text
    model = task.build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    batch = task.batch(0, 0, 1, 2)
    losses = []
    for i in range(25):
        loss, _ = task.loss(model, batch, torch.Generator().manual_seed(i % 3))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) < 0.7 * sum(losses[:3])
    metrics = task.evaluate(model.eval())
    assert {"psnr_obj", "psnr_obj_copy", "psnr_obj_warp", "psnr_full"} <= set(metrics)
    # Copying the first frame gets the static background (nearly) right and the pixels
    # an object has left wrong (it shows the object there).
    assert metrics["psnr_static_copy"] > metrics["psnr_revealed_copy"] + 10


def test_conditioned_head_task_trains_its_words_path_and_evaluates(motion_task):
    """With head_condition the loss reaches the head's text path (its zero-initialised
    output layer gets gradient), and evaluation (the pipeline) hands the model its ids."""
    torch.manual_seed(0)
    task = VideoTask(VideoTaskOptions(**SMALL, model={"head_condition": True}))
    task._text = motion_task.text
    model = task.build_model()
    assert model.cfg.needs_ids
    with torch.no_grad():  # a trained head: at init its zero last layer blocks all gradient
        model.conv_head[-1].weight.normal_(0, 0.1)
    loss, _ = task.loss(model, task.batch(0, 0, 1, 2), torch.Generator().manual_seed(0))
    loss.backward()
    assert model.head_condition.mlp[-1].weight.grad.abs().sum() > 0
    assert model.head_condition.time[-1].weight.grad.abs().sum() > 0
    metrics = task.evaluate(model.eval())
    assert metrics["psnr_obj"] > 0


def test_residual_weight_puts_the_loss_where_the_warp_is_wrong(motion_task):
    task = VideoTask(VideoTaskOptions(**SMALL, residual_weight=20.0))
    task._text = motion_task.text
    plain = VideoTask(VideoTaskOptions(**SMALL))
    model = task.build_model()  # zero-initialised head: the prediction is the warp itself
    batch = task.batch(0, 0, 1, 2)
    weighted, _ = task.loss(model, batch, torch.Generator().manual_seed(0))
    unweighted, _ = plain.loss(model, batch, torch.Generator().manual_seed(0))
    # The error lies exactly where the warp differs from the target, which the extra
    # weight favours: the normalised loss grows.
    assert weighted > 1.2 * unweighted
    with pytest.raises(ValueError, match="output base"):
        VideoTask(VideoTaskOptions(**SMALL, variant="ttm-paper", residual_weight=1.0))


def test_pixel_stage1_task(motion_task):
    task = MaskVideoTask(VideoTaskOptions(**SMALL))
    task._text = motion_task.text
    model = task.build_model()
    assert model.cfg.cond_names == ["first_frame", "first_mask"] and model.cfg.masked_blocks == 0
    loss, _ = task.loss(model, task.batch(0, 0, 1, 2), torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    assert set(task.evaluate(model.eval())) == {"objects", "iou", "iou_still", "adherence"}


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown stage-2 variant"):
        VideoTask(VideoTaskOptions(**SMALL, variant="nope"))


def test_text_noise_is_shaped_like_the_token_states_and_seeded():
    task = MotionTask(MotionTaskOptions(**SMALL, text_noise=0.5))
    noise = task._text_noise(torch.Size([20_000, task.text.dim]), torch.Generator().manual_seed(0))
    tokens = torch.cat([s for i in range(len(task.seeds)) for s in task.bank.get(i)]).double()
    cov_noise, cov_tokens = torch.cov(noise.double().T), torch.cov(tokens.T)
    # Total variance a quarter of the states' (0.5²), and most of it along their main directions.
    assert 0.2 < cov_noise.trace() / cov_tokens.trace() < 0.3
    top = torch.linalg.eigh(cov_tokens).eigenvectors[:, -8:]  # (D, 8)
    along = (top.T @ cov_noise @ top).trace() / cov_noise.trace()
    assert along > (top.T @ cov_tokens @ top).trace() / cov_tokens.trace() - 0.1 and along > 8 / task.text.dim * 5
    model, batch = task.build_model(), task.batch(0, 0, 1, 4)
    with torch.no_grad():  # zero-initialised outputs would ignore every condition
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    a, b = (task.loss(model, batch, torch.Generator().manual_seed(1))[0] for _ in range(2))
    assert torch.equal(a, b)  # a pure function of the generator, like every other draw
    plain = MotionTask(MotionTaskOptions(**SMALL)).loss(model, batch, torch.Generator().manual_seed(1))[0]
    assert not torch.equal(a, plain)


def test_evaluation_only_wordings_are_refused_for_training():
    from maskmotion.errors import InputError

    for wording in ("heldout", "heldout-verbs"):
        with pytest.raises(InputError, match=f"wording '{wording}' is for evaluation only"):
            MotionTask(MotionTaskOptions(**SMALL, wording=wording))


def test_prompt_bank_disk_cache_gives_identical_states(tmp_path, motion_task):
    from maskmotion.train.ttm_tasks import PromptBank

    prompts = lambda i: [f"object {i} moves", f"scene {i}"]  # noqa: E731
    first = PromptBank(motion_task.text, prompts, size=10, chunk=4, cache_dir=tmp_path)
    a = first.get(5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk_000001.safetensors"]
    again = PromptBank(motion_task.text, lambda i: 1 / 0, size=10, chunk=4, cache_dir=tmp_path)
    b = again.get(5)  # read from disk: the prompt function is never called
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(IndexError):
        again.get(10)


def test_end_to_end_evaluation_runs_on_tiny_models(motion_task):
    from maskmotion.data.sprites import SpritesConfig
    from maskmotion.eval.sprites import evaluate_end_to_end, summarise_objects
    from maskmotion.models import MotionDiT, VideoDiT, motion_config, video_config

    torch.manual_seed(0)
    rows = evaluate_end_to_end(
        MotionDiT(motion_config("tiny", frames=4)), VideoDiT(video_config("tiny")), motion_task.text,
        [10_000, 10_001], SpritesConfig(height=16, width=16, num_frames=4), motion_steps=2, video_steps=2,
    )
    summary = summarise_objects(rows)
    assert summary["all"]["objects"] == len(rows) > 0
    assert set(summary["by_motion"]) == {r.kind for r in rows}
    assert sum(m["objects"] for m in summary["by_motion"].values()) == len(rows)
    assert all(0 <= r.iou <= 1 for r in rows)
    # Without a video model the warp preview renders the same scenes.
    sprites = SpritesConfig(height=16, width=16, num_frames=4)
    warp_rows = evaluate_end_to_end(MotionDiT(motion_config("tiny", frames=4)), None, motion_task.text,
                                    [10_000, 10_001], sprites, motion_steps=2)
    assert [(r.seed, r.kind) for r in warp_rows] == [(r.seed, r.kind) for r in rows]
    assert all(0 <= r.iou <= 1 for r in warp_rows)
    # The read-back ceiling tracks the true videos: near-perfect masks, same objects.
    from maskmotion.eval.sprites import evaluate_read_back_ceiling

    truth = evaluate_read_back_ceiling([10_000, 10_001], SpritesConfig(num_frames=8))
    assert [(r.seed, r.kind) for r in truth] == [(r.seed, r.kind) for r in rows]
    assert np.mean([r.iou for r in truth]) > 0.85


def test_init_from_starts_a_run_from_saved_weights(tmp_path):
    """A fresh run with ``init_from`` starts from the folder's weights (step 0 loss equals
    the saved model's); a folder of another config is refused naming the field."""
    from maskmotion.errors import InputError
    from maskmotion.models.io import load_model, save_model
    from maskmotion.train import TrainConfig, train

    opts = dict(SMALL, text_model="", cache_dir="")
    task = VideoTask(VideoTaskOptions(**opts))
    torch.manual_seed(5)
    source = task.build_model()
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.01 * torch.randn_like(p))  # unlike any seeded init
    save_model(source, tmp_path / "init")

    def config(name, **changes):
        return TrainConfig(task="stage2", task_options=dict(opts), out_dir=str(tmp_path / name), steps=1,
                           batch_size=2, lr=1e-9, warmup_steps=0, ema_decay=0.0, progress=False,
                           tensorboard=False, checkpoint_every=0, num_threads=1, **changes)

    train(config("run", init_from=str(tmp_path / "init")))
    trained = load_model(tmp_path / "run" / "final" / "model")
    for (name, a), b in zip(source.state_dict().items(), trained.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name  # lr 1e-9: one step moves nothing visible
    train(config("scratch"))
    scratch = load_model(tmp_path / "scratch" / "final" / "model")
    assert not torch.allclose(source.blocks[0].attn.to_q.weight, scratch.blocks[0].attn.to_q.weight)

    other = VideoTask(VideoTaskOptions(**{**opts, "variant": "ttm-paper"})).build_model()
    save_model(other, tmp_path / "paper")
    with pytest.raises(InputError, match="cond_names"):
        train(config("wrong", init_from=str(tmp_path / "paper")))
    with pytest.raises(InputError, match="not a folder"):
        train(config("missing", init_from=str(tmp_path / "nowhere")))
