"""Dual-clock sampling of the compact video model (the sprites stand-in of a public
image-to-video backbone): the hold, the base sampler, and the masked local-prompt blend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskmotion.bench.variants import resolve_variant
from maskmotion.data.sprites import SpritesConfig, generate_scene
from maskmotion.errors import InputError
from maskmotion.models import VideoDiT, interpolate, time_grid, video_config
from maskmotion.pipelines import VideoPipeline
from maskmotion.pipelines.dualclock import DualClockSettings
from maskmotion.text import tiny_text_encoder

STEPS = 5


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    model = VideoDiT(video_config("tiny", cond_names=["first_frame"], cond_channels=3, output_base="",
                                  masked_self=False, masked_cross=False))  # fmt: skip
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return VideoPipeline(model, tiny_text_encoder(dim=384))


@pytest.fixture(scope="module")
def scene():
    s = generate_scene(20001, SpritesConfig(height=16, width=16, num_frames=4))
    traj = s.trajectory
    preview = np.random.default_rng(1).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    return s.first_frame, traj, s.global_prompt, preview


def _run(pipe, scene, settings, seed=0, hook=None):
    image, traj, prompt, preview = scene
    handle = pipe.model.register_forward_pre_hook(hook) if hook else None
    try:
        return pipe(image, traj, prompt, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(seed),
                    output_type="pt", dual_clock=settings, warp=preview)  # fmt: skip
    finally:
        if handle:
            handle.remove()


def test_each_region_is_the_noised_preview_before_its_start(pipe, scene):
    _, traj, _, preview = scene
    seen = []
    _run(pipe, scene, DualClockSettings(1, 3), hook=lambda m, args: seen.append(args[0].clone()))
    assert len(seen) == STEPS
    noise = torch.randn(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    clean = torch.from_numpy(preview).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    objects = torch.from_numpy(traj.ids > 0)[None, None].expand_as(noise)
    assert objects.any() and not objects.all()
    levels = time_grid(STEPS)
    for k, x in enumerate(seen):
        target = interpolate(clean, noise, levels[k : k + 1])
        held = torch.ones_like(objects) if k < 1 else objects if k < 3 else torch.zeros_like(objects)
        torch.testing.assert_close(x[held], target[held], rtol=0, atol=1e-6)
        if k >= 1:
            assert not torch.allclose(x[~held], target[~held], atol=1e-3)


def test_nothing_held_is_the_plain_sampler(pipe, scene):
    plain = _run(pipe, scene, None, seed=4)
    empty = (scene[0], scene[1].replace(ids=np.zeros_like(scene[1].ids)), scene[2], scene[3])
    torch.testing.assert_close(_run(pipe, empty, DualClockSettings(0, 0), seed=4), plain, rtol=0, atol=0)
    torch.testing.assert_close(_run(pipe, scene, DualClockSettings(0, 0), seed=4), plain, rtol=0, atol=0)
    assert not torch.equal(_run(pipe, scene, DualClockSettings(2, 4), seed=4), plain)


def test_local_prompt_blend_changes_the_video_only_while_sampling(pipe, scene):
    base = _run(pipe, scene, DualClockSettings(0, 0), seed=2)
    blended = _run(pipe, scene, DualClockSettings(0, 0, 1.0), seed=2)
    assert not torch.equal(blended, base)
    assert all(b.masked_cross.masked_blend == 0.0 for b in pipe.model.blocks if b.masked_cross is not None)
    torch.testing.assert_close(_run(pipe, scene, DualClockSettings(0, 0), seed=2), base, rtol=0, atol=0)


def test_bad_settings_and_variant_names(pipe, scene):
    with pytest.raises(InputError, match="before --t-weak"):
        _run(pipe, scene, DualClockSettings(3, 2))
    with pytest.raises(InputError, match="below the number of steps"):
        _run(pipe, scene, DualClockSettings(1, STEPS))
    v = resolve_variant("ti2v+dc2-5+lp1")
    assert v.name == "ti2v+dc2-5+lp1" and v.dual_clock == DualClockSettings(2, 5, 1.0) and v.folder.name == "ti2v"
    assert resolve_variant("warp").dual_clock is None
    v = resolve_variant("ti2v+s10+dc1-3")
    assert (v.name, v.steps, v.dual_clock) == ("ti2v+s10+dc1-3", 10, DualClockSettings(1, 3))
    assert resolve_variant("ttm+s4").steps == 4 and resolve_variant("ttm+s4").dual_clock is None
    with pytest.raises(InputError, match="NAME\\+dcW-S"):
        resolve_variant("ti2v+dc2")
    with pytest.raises(InputError, match="need a model"):
        resolve_variant("warp+dc1-2")
