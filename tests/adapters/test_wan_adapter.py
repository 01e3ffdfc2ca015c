"""TTM on a tiny random `WanTransformer3DModel`: the adapter's contract (issue 7)."""

from __future__ import annotations

import copy

import pytest
import torch
from adapter_testing import make_groups, random_labels, randomize_outputs
from safetensors.torch import load_file, save_file

from maskmotion.adapters import WanTTM, add_ttm_to_wan
from maskmotion.adapters.common import WEIGHTS_NAME

GRID = (3, 4, 4)  # (t, h, w) tokens of a (B, C, 3, 8, 8) latent with patch (1, 2, 2)
TOKENS = 48


def _inputs(batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "latents": torch.randn(batch, 4, 3, 8, 8, generator=generator),
        "conditions": torch.randn(batch, 8, 3, 8, 8, generator=generator),
        "timestep": torch.tensor([500, 300])[:batch],
        "text": torch.randn(batch, 7, 16, generator=generator),
        "local_states": torch.randn(batch, 6, 16, generator=generator),
        "local_ids": torch.tensor([[1, 1, 1, 2, 2, 0], [1, 2, 2, 2, 0, 0]])[:batch],
    }


def _run(model: WanTTM, inputs: dict[str, torch.Tensor], groups) -> torch.Tensor:
    hidden = torch.cat([inputs["latents"], inputs["conditions"]], dim=1)  # (B, 12, F, H, W)
    with model.mask_context(groups, inputs["local_states"], inputs["local_ids"]):
        return model(hidden, inputs["timestep"], inputs["text"]).sample


def test_shapes_step0_equality_and_masks_reach_every_layer(tiny_wan) -> None:
    original = tiny_wan()
    model = add_ttm_to_wan(copy.deepcopy(original), extra_in_channels=8, masked_blocks=2)
    assert model.config.blocks == ("blocks.0", "blocks.1")
    assert model.transformer.patch_embedding.in_channels == 12 and model.transformer.config.in_channels == 12
    inputs, groups = _inputs(), make_groups(random_labels(2, TOKENS), GRID)
    with torch.no_grad():
        expected = original(inputs["latents"], inputs["timestep"], inputs["text"]).sample
        adapted = _run(model, inputs, groups)
    assert adapted.shape == (2, 4, 3, 8, 8)
    # Zero-initialised input weights and output projections: the original model at step 0.
    assert (adapted - expected).abs().max() <= 1e-6
    assert [layers.calls for layers in model.layers] == [{"self": 1, "cross": 1}] * 2
    # Trained layers read the masks: other groups or other local prompts change the output.
    randomize_outputs(model)
    with torch.no_grad():
        first = _run(model, inputs, groups)
        regrouped = _run(model, inputs, make_groups(random_labels(2, TOKENS, seed=1), GRID))
        reprompted = _run(model, {**inputs, "local_states": inputs["local_states"] + 1.0}, groups)
    assert (first - regrouped).abs().max() > 1e-3
    assert (first - reprompted).abs().max() > 1e-3
    with pytest.raises(ValueError, match="no masks set"):
        model(torch.cat([inputs["latents"], inputs["conditions"]], 1), inputs["timestep"], inputs["text"])


def test_default_is_a_quarter_of_the_blocks(tiny_wan) -> None:
    assert add_ttm_to_wan(tiny_wan(num_layers=8), 8).config.blocks == ("blocks.0", "blocks.1")
    assert add_ttm_to_wan(tiny_wan(num_layers=2), 8).config.blocks == ("blocks.0",)  # at least one


def test_isolation_inside_the_adapted_block(tiny_wan) -> None:
    """Changing object 2's tokens or prompt leaves object 1's tokens' updates bit-identical."""
    model = add_ttm_to_wan(tiny_wan(), extra_in_channels=8)
    randomize_outputs(model)
    layers = model.layers[0]
    inputs = _inputs()
    labels = random_labels(2, TOKENS, seed=2)
    groups = make_groups(labels, GRID)  # pixel regions: a token reads only its own object's prompt
    layers._rotary = model.transformer.rope(inputs["latents"])  # as the block would hand it
    hidden = torch.randn(2, TOKENS, 16)
    moved = hidden.clone()
    moved[labels == 2] += torch.randn_like(moved[labels == 2])
    other_prompt = inputs["local_states"].clone()
    other_prompt[inputs["local_ids"] == 2] += 3.0
    one, two = labels == 1, labels == 2
    with torch.no_grad():
        with model.mask_context(groups, inputs["local_states"], inputs["local_ids"]):
            self_before, self_after = layers.self_delta(hidden), layers.self_delta(moved)
            cross_before = layers.cross_delta(hidden)
        with model.mask_context(groups, other_prompt, inputs["local_ids"]):
            cross_after = layers.cross_delta(hidden)
    assert torch.equal(self_before[one], self_after[one])
    assert (self_before[two] - self_after[two]).abs().max() > 1e-3
    assert torch.equal(cross_before[one], cross_after[one])
    assert (cross_before[two] - cross_after[two]).abs().max() > 1e-3
    assert torch.count_nonzero(cross_before[labels == 0]) == 0  # background reads no prompt


def test_training_steps_lower_the_loss(tiny_wan) -> None:
    model = add_ttm_to_wan(tiny_wan(), extra_in_channels=8).train()
    inputs, groups = _inputs(), make_groups(random_labels(2, TOKENS), GRID)
    target = torch.randn(2, 4, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = torch.nn.functional.mse_loss(_run(model, inputs, groups), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.9
    for layers in model.layers:  # the zero output projections learned something
        assert layers.self_attn.to_out[0].weight.abs().max() > 0
        assert layers.cross_attn.to_out[0].weight.abs().max() > 0
    assert model.transformer.patch_embedding.weight[:, 4:].abs().max() > 0  # the new input channels too


def test_gradient_checkpointing_gives_the_same_gradients(tiny_wan) -> None:
    inputs, groups = _inputs(), make_groups(random_labels(2, TOKENS), GRID)
    grads = []
    for checkpointing in (False, True):
        model = add_ttm_to_wan(tiny_wan(), extra_in_channels=8).train()
        randomize_outputs(model)
        if checkpointing:
            model.enable_gradient_checkpointing()  # backward runs after mask_context exits
        _run(model, inputs, groups).square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.layers.parameters() if p.grad is not None]))
    assert grads[0].shape == grads[1].shape
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_save_and_load_round_trip(tiny_wan, tmp_path) -> None:
    model = add_ttm_to_wan(tiny_wan(), extra_in_channels=8, masked_blocks=2)
    randomize_outputs(model)
    model.save_pretrained(tmp_path / "ttm")
    loaded = WanTTM.from_pretrained(tmp_path / "ttm")
    assert loaded.config == model.config
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    assert all(torch.equal(state[key], loaded_state[key]) for key in state)
    inputs, groups = _inputs(), make_groups(random_labels(2, TOKENS), GRID)
    with torch.no_grad():
        assert torch.equal(_run(model, inputs, groups), _run(loaded.eval(), inputs, groups))
    # Strict: a missing adapter tensor is named in the error.
    weights = tmp_path / "ttm" / WEIGHTS_NAME
    tensors = load_file(str(weights))
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, str(weights))
    with pytest.raises(ValueError, match="missing keys"):
        WanTTM.from_pretrained(tmp_path / "ttm")


def test_ablation_variants_and_other_text_width(tiny_wan) -> None:
    inputs, groups = _inputs(), make_groups(random_labels(2, TOKENS), GRID)
    self_only = add_ttm_to_wan(tiny_wan(), extra_in_channels=8, masked_cross=False)
    hidden = torch.cat([inputs["latents"], inputs["conditions"]], 1)
    with torch.no_grad():
        out = self_only(hidden, inputs["timestep"], inputs["text"], groups=groups)  # no local prompts needed
    assert out.sample.shape == (2, 4, 3, 8, 8) and self_only.layers[0].calls == {"self": 1, "cross": 0}
    wide = add_ttm_to_wan(tiny_wan(), extra_in_channels=8, text_dim=24)
    assert wide.local_text_proj is not None
    with torch.no_grad():
        out = wide(hidden, inputs["timestep"], inputs["text"], groups=groups,
                   local_states=torch.randn(2, 6, 24), local_ids=inputs["local_ids"])
    assert out.sample.shape == (2, 4, 3, 8, 8)


def test_errors(tiny_wan) -> None:
    transformer = tiny_wan()
    with pytest.raises(ValueError, match="masked_blocks"):
        add_ttm_to_wan(transformer, 8, masked_blocks=5)
    model = add_ttm_to_wan(transformer, 8)
    with pytest.raises(ValueError, match="already has TTM"):
        add_ttm_to_wan(transformer, 8)
    inputs, groups = _inputs(), make_groups(random_labels(2, TOKENS), GRID)
    with pytest.raises(ValueError, match=r"\(B, 12, F, H, W\)"):
        model(inputs["latents"], inputs["timestep"], inputs["text"], groups=groups)
    with pytest.raises(ValueError, match="local_states"):
        hidden = torch.cat([inputs["latents"], inputs["conditions"]], 1)
        model(hidden, inputs["timestep"], inputs["text"], groups=groups)
    with pytest.raises(ValueError, match="WanTransformer3DModel"):
        add_ttm_to_wan(torch.nn.Linear(2, 2), 8)
