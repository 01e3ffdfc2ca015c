"""Dual-clock sampling on tiny random configs of the public image-to-video pipelines'
real classes (Wan 2.1 I2V, Wan 2.2 TI2V, CogVideoX-I2V), loaded from saved folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from i2v_testing import BACKBONE, FRAMES, HEIGHT, KINDS, WIDTH, save_folder
from maskmotion.errors import InputError
from maskmotion.pipelines.dualclock import DualClockSettings, latent_object_mask
from maskmotion.pipelines.i2v import I2VBackbone
from maskmotion.trajectory import MaskTrajectory, TrajectoryObject

STEPS = 4


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("i2v")
    return {kind: save_folder(kind, root / kind) for kind in KINDS}


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    ids = np.zeros((FRAMES, HEIGHT, WIDTH), np.uint8)
    for f in range(FRAMES):  # an object moving right; only it is held longer
        ids[f, 4:14, 2 + f : 12 + f] = 1
    preview = rng.integers(0, 255, (FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8)
    preview[0] = image
    objects = [TrajectoryObject(1, "ball", "a red ball rolls right")]
    return image, preview, MaskTrajectory(ids, objects)


def _inputs_of_every_step(backbone: I2VBackbone) -> tuple[list[torch.Tensor], torch.utils.hooks.RemovableHandle]:
    """Record the latent half of the transformer's input at every call."""
    seen: list[torch.Tensor] = []
    channels = backbone.pipe.vae.config.get("z_dim") or backbone.pipe.vae.config.latent_channels

    def hook(module, args, kwargs):
        x = kwargs["hidden_states"]
        seen.append((x[:, :channels] if backbone.kind.layout == "cthw" else x[:, :, :channels]).clone())

    return seen, backbone.pipe.transformer.register_forward_pre_hook(hook, with_kwargs=True)


def test_latent_object_mask_follows_each_vae_folding():
    from maskmotion.attention import TokenGrid

    ids = np.zeros((9, 32, 32), np.uint8)
    ids[0, 0, 0] = 1  # the causal first frame is its own latent frame
    ids[6, 17, 9] = 2  # frame 6 folds into latent frame 1 + (6 - 1) // 4 = 2
    mask = latent_object_mask(ids, TokenGrid(temporal_compression=4, causal_first_frame=True, spatial_compression=8))
    assert mask.shape == (3, 4, 4)
    assert sorted(zip(*np.nonzero(mask))) == [(0, 0, 0), (2, 2, 1)]
    # A patch size (the transformer's) must not shrink the latent grid.
    grid = TokenGrid(temporal_compression=4, causal_first_frame=True, spatial_compression=8, patch_size=(1, 2, 2))
    assert latent_object_mask(ids, grid).shape == (3, 4, 4)


@pytest.mark.parametrize("kind", KINDS)
def test_held_regions_are_the_noised_preview_until_their_start(kind, folders, scene):
    image, preview, trajectory = scene
    backbone = I2VBackbone.from_pretrained(BACKBONE[kind], folders[kind])
    settings = DualClockSettings(t_weak=1, t_strong=3)
    seen, handle = _inputs_of_every_step(backbone)
    try:
        video = backbone.sample(image, preview, trajectory, "a ball", settings, STEPS, 1.0, torch.Generator().manual_seed(3))
    finally:
        handle.remove()
    assert video.shape == (FRAMES, HEIGHT, WIDTH, 3) and video.dtype == np.uint8
    assert len(seen) == STEPS  # guidance 1: one transformer call per step

    # Expected, computed apart from the sampler: the pipeline's own noise for this seed,
    # the preview's latents, and the level of each step.
    kd = backbone.kind
    first = seen[0]
    noise = backbone.last_clock.noise  # the pipeline's own starting noise
    if kind != "cogvideox":  # Wan draws nothing before it (CogVideoX samples the image latent first)
        torch.testing.assert_close(noise, torch.randn(first.shape, generator=torch.Generator().manual_seed(3)))
    video_in = torch.from_numpy(preview).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    clean = kd.encode_preview(backbone.pipe.vae, video_in)
    sched = backbone.pipe.scheduler
    objects = kd.to_layout(torch.from_numpy(latent_object_mask(trajectory.ids, backbone.latent_grid))[None, None])
    objects = objects.expand_as(first)
    for k, x in enumerate(seen):
        if hasattr(sched, "scale_noise"):
            s = float(sched.sigmas[k])
            target = (1 - s) * clean + s * noise
        else:
            target = sched.add_noise(clean, noise, sched.timesteps[k : k + 1])
        if kind == "wan22":
            # TI2V-5B writes the image latent over the first frame of the input it passes on.
            x, target, objs = x[:, :, 1:], target[:, :, 1:], objects[:, :, 1:]
        else:
            objs = objects
        held = torch.ones_like(objs) if k < settings.t_weak else objs if k < settings.t_strong else torch.zeros_like(objs)
        assert held.any() or k >= settings.t_strong
        torch.testing.assert_close(x[held], target[held], rtol=0, atol=1e-6)
        if k >= settings.t_weak:
            assert not torch.allclose(x[~held], target[~held], atol=1e-3)  # released: the sampler's own


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_held_is_the_base_pipeline(kind, folders, scene):
    image, preview, trajectory = scene
    backbone = I2VBackbone.from_pretrained(BACKBONE[kind], folders[kind])
    empty = trajectory.replace(ids=np.zeros_like(trajectory.ids))
    ours = backbone.sample(image, preview, empty, "a ball", DualClockSettings(0, 0), STEPS, 2.0,
                           torch.Generator().manual_seed(5))  # fmt: skip
    from PIL import Image

    base = backbone.pipe(
        image=Image.fromarray(image), prompt="a ball", height=HEIGHT, width=WIDTH, num_frames=FRAMES,
        num_inference_steps=STEPS, guidance_scale=2.0, generator=torch.Generator().manual_seed(5), output_type="np",
    ).frames[0]  # fmt: skip
    np.testing.assert_array_equal(ours, (np.clip(base, 0, 1) * 255).round().astype(np.uint8))
    held = backbone.sample(image, preview, trajectory, "a ball", DualClockSettings(1, 3), STEPS, 2.0,
                           torch.Generator().manual_seed(5))  # fmt: skip
    assert not np.array_equal(held, ours)  # holding changes the video


def test_local_prompts_steer_only_the_conditional_pass_of_wan(folders, scene):
    image, preview, trajectory = scene
    backbone = I2VBackbone.from_pretrained("wan-i2v", folders["wan21"])
    args = (image, preview, trajectory, "a ball")

    def run(weight: float) -> np.ndarray:
        return backbone.sample(*args, DualClockSettings(1, 2, weight), STEPS, 2.0, torch.Generator().manual_seed(1),
                               local_blocks=2)  # fmt: skip

    plain, blended = run(0.0), run(1.0)
    assert np.abs(plain.astype(int) - blended.astype(int)).max() > 0
    # Restored afterwards: the blocks' own processors, and the same video again.
    assert all(type(b.attn2.processor).__name__ != "LocalPromptBlendProcessor" for b in backbone.pipe.transformer.blocks)
    np.testing.assert_array_equal(run(0.0), plain)


def test_local_prompt_blend_processor_is_the_module_itself_where_no_object(folders):
    from diffusers.models.transformers.transformer_wan import WanAttnProcessor

    from maskmotion.attention import BatchTokenGroups, LocalPromptBlendProcessor, MaskContext, TokenGrid, build_token_groups

    backbone = I2VBackbone.from_pretrained("wan-i2v", folders["wan21"])
    attn = backbone.pipe.transformer.blocks[0].attn2
    torch.manual_seed(0)
    hidden = torch.randn(1, 3 * 2 * 2, attn.inner_dim)  # 3 latent frames of 2x2 tokens
    context_states = torch.randn(1, 5 + 512, attn.inner_dim)  # image tokens then text, as Wan 2.1 passes them
    ids = np.zeros((9, 32, 32), np.uint8)
    ids[:, :16, :16] = 1  # the top-left token of every frame
    grid = TokenGrid(4, True, 8, (1, 2, 2))
    groups = BatchTokenGroups.from_samples([build_token_groups(torch.from_numpy(ids), grid, 1, "pixel")])
    context = MaskContext()
    blend = LocalPromptBlendProcessor(WanAttnProcessor(), context, weight=1.0)
    own = WanAttnProcessor()(attn, hidden, context_states)
    with context.use(groups, torch.randn(1, 3, attn.inner_dim), torch.ones(1, 3, dtype=torch.long)):
        out = blend(attn, hidden, context_states)
        blend.active = False
        off = blend(attn, hidden, context_states)
    covered = torch.zeros(12, dtype=torch.bool)
    covered[[0, 4, 8]] = True
    torch.testing.assert_close(out[0, ~covered], own[0, ~covered])
    assert not torch.allclose(out[0, covered], own[0, covered])
    torch.testing.assert_close(off, own)


def test_bad_combinations_exit_with_one_line(folders, scene, tmp_path):
    image, preview, trajectory = scene
    backbone = I2VBackbone.from_pretrained("cogvideox-i2v", folders["cogvideox"])
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(InputError, match="t-strong"):
        backbone.sample(image, preview, trajectory, "x", DualClockSettings(3, 2), STEPS, 1.0, gen)
    with pytest.raises(InputError, match="no separate text cross-attention"):
        backbone.sample(image, preview, trajectory, "x", DualClockSettings(1, 2, 0.5), STEPS, 1.0, gen)
    with pytest.raises(InputError, match="1 \\+ 4k frames"):
        backbone.check_frames(8)
    with pytest.raises(InputError, match="holds a CogVideoXImageToVideoPipeline"):
        I2VBackbone.from_pretrained("wan-i2v", folders["cogvideox"])
    with pytest.raises(InputError, match="no model_index.json"):
        I2VBackbone.from_pretrained("wan-i2v", tmp_path)


def test_dual_clock_on_a_ttm_trained_wan_folder(weights, tmp_path):
    """The same kind on TTM-trained weights: held regions are the noised preview before
    their start, and with nothing held the trained sampler is unchanged."""
    from maskmotion.pipelines.backbone import BackboneTTM

    ttm = BackboneTTM.from_pretrained(weights["wan"])
    c = ttm.config
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (c.height, c.width, 3), dtype=np.uint8)
    ids = np.zeros((c.frames, c.height, c.width), np.uint8)
    ids[:, 8:24, 8:24] = 1
    traj = MaskTrajectory(ids, [TrajectoryObject(1, "ball", "a ball")])
    preview = rng.integers(0, 255, (c.frames, c.height, c.width, 3), dtype=np.uint8)
    seen = []
    handle = ttm.video.register_forward_pre_hook(lambda m, args: seen.append(args[0][:, :4].clone()))
    try:
        ttm.sample_video(image, traj, "x", num_inference_steps=3, generator=torch.Generator().manual_seed(0),
                         text_guidance_scale=1.0, dual_clock=DualClockSettings(1, 2), preview=preview)  # fmt: skip
    finally:
        handle.remove()
    noise = torch.randn(seen[0].shape, generator=torch.Generator().manual_seed(0))
    clean = ttm.encode_video(preview[None])
    ct, cs, causal = ttm.kind.compression(ttm.vae.config)
    from maskmotion.attention import TokenGrid

    objects = torch.from_numpy(latent_object_mask(ids, TokenGrid(ct, causal, cs)))[None, None].expand_as(noise)
    ttm.scheduler.set_timesteps(3)
    for k, held in enumerate([torch.ones_like(objects), objects]):
        s = float(ttm.scheduler.sigmas[k])
        target = (1 - s) * clean + s * noise
        torch.testing.assert_close(seen[k][held], target[held], rtol=0, atol=1e-5)
    plain = ttm.sample_video(image, traj, "x", num_inference_steps=3, generator=torch.Generator().manual_seed(0))
    empty = ttm.sample_video(image, traj, "x", num_inference_steps=3, generator=torch.Generator().manual_seed(0),
                             dual_clock=DualClockSettings(0, 0), preview=preview)  # fmt: skip
    np.testing.assert_array_equal(empty, plain)

