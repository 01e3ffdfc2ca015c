"""TTM on a tiny random AnimateDiff `UNetMotionModel`: the adapter's contract (issue 7)."""

from __future__ import annotations

import copy

import pytest
import torch
from adapter_testing import make_groups, random_labels, randomize_outputs

from maskmotion.adapters import AnimateDiffTTM, add_ttm_to_animatediff, encoder_transformer_blocks, ttm_ddim_scheduler

FRAMES = 3  # latent (B, 4, 3, 8, 8): level 0 is 8x8 tokens per frame, level 1 is 4x4


def _inputs(batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "latents": torch.randn(batch, 4, FRAMES, 8, 8, generator=generator),
        "conditions": torch.randn(batch, 8, FRAMES, 8, 8, generator=generator),
        "timestep": torch.tensor([500, 300])[:batch],
        "text": torch.randn(batch, 5, 16, generator=generator),
        "local_states": torch.randn(batch, 6, 16, generator=generator),
        "local_ids": torch.tensor([[1, 1, 1, 2, 2, 0], [1, 2, 2, 2, 0, 0]])[:batch],
    }


def _groups(seed: int = 0, batch: int = 2) -> dict[int, object]:
    return {
        0: make_groups(random_labels(batch, FRAMES * 64, seed=seed), (FRAMES, 8, 8)),
        1: make_groups(random_labels(batch, FRAMES * 16, seed=seed + 100), (FRAMES, 4, 4)),
    }


def _run(model: AnimateDiffTTM, inputs: dict[str, torch.Tensor], groups) -> torch.Tensor:
    sample = torch.cat([inputs["latents"], inputs["conditions"]], dim=1)  # (B, 12, F, H, W)
    with model.mask_context(groups, inputs["local_states"], inputs["local_ids"]):
        return model(sample, inputs["timestep"], inputs["text"]).sample


def test_shapes_step0_equality_and_masks_reach_every_layer(tiny_unet) -> None:
    original = tiny_unet()
    model = add_ttm_to_animatediff(copy.deepcopy(original))  # conv_in 4 -> 12
    assert model.unet.conv_in.in_channels == 12 and model.unet.config.in_channels == 12
    # Every encoder spatial transformer block (SD 1.5 would have six), no motion modules.
    assert model.config.blocks == tuple(encoder_transformer_blocks(original)) == (
        "down_blocks.0.attentions.0.transformer_blocks.0",
        "down_blocks.1.attentions.0.transformer_blocks.0",
    )
    inputs = _inputs()
    with torch.no_grad():
        per_frame_text = inputs["text"].repeat_interleave(FRAMES, dim=0)  # diffusers' UNetMotionModel form
        expected = original(inputs["latents"], inputs["timestep"], per_frame_text).sample
        adapted = _run(model, inputs, _groups())
    assert adapted.shape == (2, 4, FRAMES, 8, 8)
    assert (adapted - expected).abs().max() <= 1e-6
    assert [layers.calls for layers in model.layers] == [{"self": 1, "cross": 1}] * 2
    randomize_outputs(model)
    with torch.no_grad():
        first = _run(model, inputs, _groups())
        regrouped = _run(model, inputs, _groups(seed=1))
        reprompted = _run(model, {**inputs, "local_states": inputs["local_states"] + 1.0}, _groups())
    assert (first - regrouped).abs().max() > 1e-3
    assert (first - reprompted).abs().max() > 1e-3


def test_token_groups_from_pixel_trajectories(tiny_unet) -> None:
    model = add_ttm_to_animatediff(tiny_unet())
    ids = torch.zeros(FRAMES, 64, 64, dtype=torch.uint8)
    ids[:, 8:40, 8:24] = 1
    ids[:, 30:60, 40:60] = 2
    groups = model.token_groups([ids, ids])
    assert groups[0].grid_shape == (FRAMES, 8, 8) and groups[1].grid_shape == (FRAMES, 4, 4)
    with torch.no_grad():
        out = _run(model, _inputs(), groups)
    assert out.shape == (2, 4, FRAMES, 8, 8)


def test_isolation_and_frames_folded_into_tokens(tiny_unet) -> None:
    """Masked layers see the whole clip: object 1 reads object 1 in other frames, never object 2."""
    model = add_ttm_to_animatediff(tiny_unet())
    randomize_outputs(model)
    layers, inputs, groups = model.layers[0], _inputs(), _groups(seed=3)
    labels = groups[0].labels  # (B, F*64), order (t, h, w)
    hidden = torch.randn(2 * FRAMES, 64, 16)  # (B*F, HW, C) as the spatial block holds it

    def folded(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(2, FRAMES * 64, 16)

    one, two = labels == 1, labels == 2
    moved = folded(hidden.clone())
    moved[two] += torch.randn_like(moved[two])
    first_frame_one = one.clone()
    first_frame_one[:, 64:] = False  # object 1's tokens in frame 0 only
    nudged = folded(hidden.clone())
    nudged[first_frame_one] += torch.randn_like(nudged[first_frame_one])  # not a constant: LayerNorm removes those
    other_prompt = inputs["local_states"].clone()
    other_prompt[inputs["local_ids"] == 2] += 3.0
    with torch.no_grad():
        with model.mask_context(groups, inputs["local_states"], inputs["local_ids"]):
            base = folded(layers.self_delta(hidden))
            after_two = folded(layers.self_delta(moved.reshape(hidden.shape)))
            after_nudge = folded(layers.self_delta(nudged.reshape(hidden.shape)))
            cross_base = folded(layers.cross_delta(hidden))
        with model.mask_context(groups, other_prompt, inputs["local_ids"]):
            cross_after = folded(layers.cross_delta(hidden))
    assert torch.equal(base[one], after_two[one])
    assert (base[two] - after_two[two]).abs().max() > 1e-3
    later_one = one.clone()
    later_one[:, :64] = False
    assert (base[later_one] - after_nudge[later_one]).abs().max() > 1e-4  # across frames
    assert torch.equal(base[two], after_nudge[two])
    assert torch.equal(cross_base[one], cross_after[one])
    assert (cross_base[two] - cross_after[two]).abs().max() > 1e-3
    assert torch.count_nonzero(cross_base[labels == 0]) == 0


def test_training_steps_lower_the_v_loss(tiny_unet) -> None:
    model = add_ttm_to_animatediff(tiny_unet()).train()
    scheduler = ttm_ddim_scheduler()
    inputs, groups = _inputs(), _groups()
    generator = torch.Generator().manual_seed(7)
    clean, noise = inputs["latents"], torch.randn(inputs["latents"].shape, generator=generator)
    timestep = torch.tensor([999, 400])  # 999: pure noise under zero terminal SNR
    noisy = scheduler.add_noise(clean, noise, timestep)
    target = scheduler.get_velocity(clean, noise, timestep)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        prediction = _run(model, {**inputs, "latents": noisy, "timestep": timestep}, groups)
        loss = torch.nn.functional.mse_loss(prediction, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.9
    assert all(layers.self_attn.to_out[0].weight.abs().max() > 0 for layers in model.layers)
    assert model.unet.conv_in.weight[:, 4:].abs().max() > 0


def test_zero_snr_v_prediction_ddim() -> None:
    scheduler = ttm_ddim_scheduler()
    assert scheduler.config.prediction_type == "v_prediction"
    assert scheduler.config.rescale_betas_zero_snr and scheduler.config.timestep_spacing == "trailing"
    assert scheduler.alphas_cumprod[-1] == 0  # zero terminal SNR
    scheduler.set_timesteps(10)
    assert int(scheduler.timesteps[0]) == 999  # sampling starts from pure noise


def test_save_and_load_round_trip(tiny_unet, tmp_path) -> None:
    model = add_ttm_to_animatediff(tiny_unet(), masked_blocks=1)
    assert model.config.blocks == ("down_blocks.0.attentions.0.transformer_blocks.0",)
    randomize_outputs(model)
    model.save_pretrained(tmp_path / "ttm")
    loaded = AnimateDiffTTM.from_pretrained(tmp_path / "ttm").eval()
    assert loaded.config == model.config
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    assert all(torch.equal(state[key], loaded_state[key]) for key in state)
    groups = {0: _groups()[0]}
    with torch.no_grad():
        assert torch.equal(_run(model, _inputs(), groups), _run(loaded, _inputs(), groups))


def test_errors(tiny_unet) -> None:
    model = add_ttm_to_animatediff(tiny_unet())
    inputs = _inputs()
    sample = torch.cat([inputs["latents"], inputs["conditions"]], 1)
    with pytest.raises(ValueError, match="lack levels"):
        model(sample, inputs["timestep"], inputs["text"], groups={0: _groups()[0]},
              local_states=inputs["local_states"], local_ids=inputs["local_ids"])
    wrong_frames = {0: make_groups(random_labels(2, 2 * 64), (2, 8, 8)), 1: _groups()[1]}
    with pytest.raises(ValueError, match="spatial block sees"):
        model(sample, inputs["timestep"], inputs["text"], groups=wrong_frames,
              local_states=inputs["local_states"], local_ids=inputs["local_ids"])
    with pytest.raises(ValueError, match="no masks set"):
        model(sample, inputs["timestep"], inputs["text"])
    with pytest.raises(ValueError, match="cross_attention_dim"):
        add_ttm_to_animatediff(tiny_unet(), text_dim=24)
