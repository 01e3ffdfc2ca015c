import dataclasses

import numpy as np
import pytest
import torch

from maskmotion.models import (
    MotionConditions,
    MotionDiT,
    VideoConditions,
    VideoDiT,
    combine_guidance,
    euler_sample,
    interpolate,
    motion_config,
    object_feature_dim,
    object_features,
    time_grid,
    video_config,
)


def _video_inputs(cfg, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cfg.out_channels, cfg.frames, cfg.height, cfg.width, generator=g)
    cond = torch.randn(batch, cfg.cond_channels, cfg.frames, cfg.height, cfg.width, generator=g)
    text = torch.randn(batch, 5, cfg.text_dim, generator=g)
    mask = torch.ones(batch, 5, dtype=torch.bool)
    mask[1, 3:] = False
    ids = torch.zeros(batch, cfg.frames, cfg.height, cfg.width, dtype=torch.uint8)
    ids[:, :, :8, :8] = 1
    ids[0, :, 8:, 8:] = 2
    local = torch.randn(batch, 6, cfg.text_dim, generator=g)
    local_ids = torch.tensor([[1, 1, 1, 2, 2, 0], [1, 1, 0, 0, 0, 0]])
    return x, cond, text, mask, ids, local, local_ids


def _conds(cond, text, mask, *, groups=None, local=None, local_ids=None, visual=None, ids=None):
    return VideoConditions(
        images=cond, text_states=text, text_mask=mask, groups=groups, local_states=local, local_ids=local_ids,
        trajectory_ids=ids, keep_visual=visual,
    )


def _randomise(model):
    # Zero-initialised outputs would make every comparison trivially equal.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model


def test_video_dit_shapes_and_base_residual_at_init():
    cfg = video_config("tiny")
    model = VideoDiT(cfg)
    x, cond, text, mask, ids, local, local_ids = _video_inputs(cfg)
    groups = model.token_groups(ids, [2, 1])
    out = model(x, torch.rand(2), _conds(cond, text, mask, groups=groups, local=local, local_ids=local_ids))
    assert out.shape == x.shape
    # Zero-initialised head: the prediction starts as the residual base (the warp preview).
    base = cfg.cond_names.index(cfg.output_base)
    assert torch.equal(out, cond[:, 3 * base : 3 * base + 3])


def test_video_dit_masked_layers_start_as_identity():
    cfg = video_config("tiny")
    with_layers = _randomise(VideoDiT(cfg))
    without = VideoDiT(video_config("tiny", masked_blocks=0))
    # Copy the shared weights; the masked layers keep their zero-initialised outputs.
    state = with_layers.state_dict()
    without.load_state_dict({k: v for k, v in state.items() if "masked_" not in k})
    for name, module in with_layers.named_modules():
        if name.endswith("masked_self") or name.endswith("masked_cross"):
            module._init_weights()
    x, cond, text, mask, ids, local, local_ids = _video_inputs(cfg)
    t = torch.rand(2)
    groups = with_layers.token_groups(ids, [2, 1])
    a = with_layers(x, t, _conds(cond, text, mask, groups=groups, local=local, local_ids=local_ids))
    b = without(x, t, _conds(cond, text, mask))
    assert torch.allclose(a, b, atol=1e-6)


def test_video_dit_trains_and_dropped_conditions_matter():
    torch.manual_seed(0)
    cfg = video_config("tiny", output_base="")
    model = VideoDiT(cfg)
    x, cond, text, mask, ids, local, local_ids = _video_inputs(cfg)
    groups = model.token_groups(ids, [2, 1])
    target = cond[:, :3]  # learn to copy the first condition
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        conds = _conds(cond, text, mask, groups=groups, local=local, local_ids=local_ids)
        loss = (model(x, torch.full((2,), 0.5), conds) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        kept = model(x, torch.full((2,), 0.5), conds)
        no_visual = conds.dropped(visual=torch.zeros(2, dtype=torch.bool), text=torch.ones(2, dtype=torch.bool))
        dropped = model(x, torch.full((2,), 0.5), no_visual)
    assert not torch.allclose(kept, dropped)


def test_video_dit_rejects_bad_shapes_and_missing_groups():
    cfg = video_config("tiny")
    model = VideoDiT(cfg)
    x, cond, text, mask, ids, local, local_ids = _video_inputs(cfg)
    with pytest.raises(ValueError, match="token groups"):
        model(x, torch.rand(2), _conds(cond, text, mask))
    with pytest.raises(ValueError, match="x must be"):
        model(x[:, :, :2], torch.rand(2), _conds(cond, text, mask, groups=model.token_groups(ids)))
    with pytest.raises(ValueError, match="divisible"):
        video_config("tiny", frames=3)


def _motion_inputs(cfg, b=2, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, cfg.frames, 5, generator=g)
    feats = torch.randn(b, n, object_feature_dim(), generator=g)
    present = torch.tensor([[True, True, False], [True, False, False]])
    text, tmask = torch.randn(b, 4, cfg.text_dim, generator=g), torch.ones(b, 4, dtype=torch.bool)
    local = torch.randn(b, 6, cfg.text_dim, generator=g)
    local_ids = torch.tensor([[1, 1, 2, 2, 2, 0], [1, 1, 1, 0, 0, 0]])
    return x, MotionConditions(
        features=feats, object_mask=present, text_states=text, text_mask=tmask, local_states=local, local_ids=local_ids
    )


def test_motion_dit_shapes_padding_and_local_prompt_isolation():
    cfg = motion_config("tiny")
    model = _randomise(MotionDiT(cfg))
    x, cond = _motion_inputs(cfg)
    t = torch.full((2,), 0.5)
    out = model(x, t, cond)
    assert out.shape == x.shape and torch.isfinite(out).all()
    # A padded object's values never reach a real object.
    x2 = x.clone()
    x2[0, 2] += 5.0
    out2 = model(x2, t, cond)
    assert torch.allclose(out[0, :2], out2[0, :2], atol=1e-5)
    # Object 2's local prompt reaches object 2 only through the masked layer, but
    # self-attention then spreads it; with one block the first object's change stays
    # small next to the second's.
    local2 = cond.local_states.clone()
    local2[0, 2:5] += 3.0
    out3 = model(x, t, dataclasses.replace(cond, local_states=local2))
    assert (out3[0, 1] - out[0, 1]).abs().sum() > 0


def test_object_features():
    frame = np.zeros((32, 32, 3), np.uint8)
    ids = np.zeros((32, 32), np.uint8)
    ids[4:12, 20:28] = 1
    frame[ids == 1] = (255, 0, 0)
    f = object_features(frame, ids, [1, 2])
    assert f.shape == (2, object_feature_dim())
    assert np.allclose(f[0, :2], (23.5 / 32, 7.5 / 32))
    assert np.allclose(f[0, 8:11], (1, 0, 0))
    assert (f[1] == 0).all()


def test_euler_sampler_and_guidance_math():
    target = torch.randn(3, 4)
    noise = torch.randn(3, 4)
    # A perfect x0 predictor lands exactly on the data, for any step count or shift.
    for steps, shift in [(1, 1.0), (7, 1.0), (10, 3.0)]:
        out = euler_sample(lambda x, t: target, noise, steps, shift)
        assert torch.allclose(out, target, atol=1e-6)
    # The path's endpoints.
    t = torch.tensor([0.0, 1.0, 0.25])
    xt = interpolate(target, noise, t)
    assert torch.allclose(xt[0], target[0]) and torch.allclose(xt[1], noise[1])
    grid = time_grid(4, 3.0)
    assert grid[0] == 1 and grid[-1] == 0 and (grid[:-1] > grid[1:]).all()
    u, v, f = torch.tensor(1.0), torch.tensor(3.0), torch.tensor(4.0)
    assert combine_guidance(u, v, f, 1.0, 1.0) == f
    assert combine_guidance(u, v, f, 2.0, 0.0) == 5.0


# ---- the conditioned conv head (head_condition) -------------------------------------------
def test_head_condition_pooling_matches_a_per_object_loop():
    from maskmotion.models.head_condition import POOL_QUERIES, POOL_WIDTH, HeadCondition

    torch.manual_seed(0)
    head = HeadCondition(dim=16, text_dim=12, channels=5, frames=4)
    states = torch.randn(2, 7, 12)
    owners = torch.tensor([[1, 1, 3, 3, 3, 0, 0], [2, 2, 2, 2, 0, 0, 0]])
    pooled = head.pooled(states, owners, objects=3)  # (2, 3, Q*W)
    for b in range(2):
        for obj in range(1, 4):
            mine = states[b, owners[b] == obj]  # (m, Dt)
            if len(mine) == 0:
                assert torch.equal(pooled[b, obj - 1], torch.zeros(POOL_QUERIES * POOL_WIDTH))
                continue
            w = torch.softmax(head.query(mine), dim=0)  # (m, Q)
            v = head.value(mine).view(len(mine), POOL_QUERIES, POOL_WIDTH)
            ref = (w[:, :, None] * v).sum(0).flatten()
            assert torch.allclose(pooled[b, obj - 1], ref, atol=1e-5)


def test_head_condition_film_matches_a_per_pixel_reference():
    """Each object pixel's features are scaled and shifted by its object's (scale, shift)
    for that frame, and it gets that object's colour transform; background pixels get
    only the time shift and no colour transform."""
    from maskmotion.models.head_condition import HeadCondition

    torch.manual_seed(0)
    c, t = 5, 4
    head = HeadCondition(dim=16, text_dim=12, channels=c, frames=t, colour=True)
    for p in head.parameters():  # a trained module: the zero-initialised layers too
        torch.nn.init.normal_(p, std=0.3)
    states = torch.randn(2, 7, 12)
    owners = torch.tensor([[1, 1, 3, 3, 3, 0, 0], [2, 2, 2, 2, 0, 0, 0]])
    ids = torch.randint(0, 4, (2, t, 6, 6))
    temb = torch.randn(2, 16)
    hidden = torch.randn(2 * t, c, 6, 6)
    mod = head(temb, ids, states, owners)
    got, colour = mod.modulate(hidden), mod.colour  # (B*T, C, H, W), (B*T, 6, H, W)
    pooled = head.pooled(states, owners, objects=3)  # (B, L, P)
    time_shift = head.time(temb)  # (B, C)
    for b in range(2):
        for f in range(t):
            for y in range(6):
                for x in range(6):
                    h = hidden[b * t + f, :, y, x]
                    obj = int(ids[b, f, y, x])
                    want, want_colour = h + time_shift[b], torch.zeros(6)
                    if obj and (owners[b] == obj).any():
                        feats = torch.cat([pooled[b, obj - 1], head.frame_features[f]])
                        film = head.mlp(feats)
                        want = h * (1 + film[:c]) + film[c:] + time_shift[b]
                        want_colour = head.colour(feats)
                    assert torch.allclose(got[b * t + f, :, y, x], want, atol=1e-5), (b, f, y, x)
                    assert torch.allclose(colour[b * t + f, :, y, x], want_colour, atol=1e-5), (b, f, y, x)


def test_head_condition_reaches_only_its_objects_pixels():
    """An object's words change the output only on (a conv's reach around) its pixels,
    and not at all when the visual conditions (the trajectory) are dropped."""
    cfg = video_config("tiny", masked_blocks=0, head_condition=True)
    model = _randomise(VideoDiT(cfg)).eval()
    x, cond, text, mask, ids, local, local_ids = _video_inputs(cfg)
    t = torch.rand(2)
    other = local.clone()
    other[0, 3:5] = torch.randn(2, cfg.text_dim)  # object 2's words in sample 0
    visual = torch.tensor([True, True])
    a = model(x, t, _conds(cond, text, mask, local=local, local_ids=local_ids, visual=visual, ids=ids))
    b = model(x, t, _conds(cond, text, mask, local=other, local_ids=local_ids, visual=visual, ids=ids))
    changed = (a - b).abs().amax(dim=1) > 1e-6  # (B, T, H, W)
    assert changed[0].any() and not changed[1].any()
    near = torch.nn.functional.max_pool2d((ids[0] == 2).float()[:, None], 3, 1, 1)[:, 0] > 0  # one pixel of reach
    assert not (changed[0] & ~near).any()
    dropped = torch.tensor([False, True])
    a = model(x, t, _conds(cond, text, mask, local=local, local_ids=local_ids, visual=dropped, ids=ids))
    b = model(x, t, _conds(cond, text, mask, local=other, local_ids=local_ids, visual=dropped, ids=ids))
    assert torch.equal(a[0], b[0])
    with pytest.raises(ValueError, match="pixel ids"):
        model(x, t, _conds(cond, text, mask, local=local, local_ids=local_ids, visual=visual))


def test_colour_transform_recolours_the_base_and_loads_weights_without_it(tmp_path):
    """The colour path applies base * s + b on an object's pixels (so s = -1, b = c paints
    colour c exactly, whatever the rest of the head says); a model with it starts as the
    saved model without it."""
    from maskmotion.models.io import load_model_folder_into, save_model

    cfg = video_config("tiny", masked_blocks=0, head_condition=True)
    plain = _randomise(VideoDiT(cfg)).eval()
    save_model(plain, tmp_path / "plain")
    model = VideoDiT(video_config("tiny", masked_blocks=0, head_condition=True, colour_transform=True)).eval()
    load_model_folder_into(model, tmp_path / "plain")
    x, cond, text, mask, ids, local, local_ids = _video_inputs(cfg)
    t = torch.rand(2)
    expected = plain(x, t, _conds(cond, text, mask, local=local, local_ids=local_ids, ids=ids))
    assert torch.allclose(model(x, t, _conds(cond, text, mask, local=local, local_ids=local_ids, ids=ids)), expected, atol=1e-6)
    with torch.no_grad():  # every object: scale -1, shift (0.5, -0.25, 0.75), every frame
        last = model.head_condition.colour[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([-1.0, -1.0, -1.0, 0.5, -0.25, 0.75]))
    got = model(x, t, _conds(cond, text, mask, local=local, local_ids=local_ids, ids=ids))
    residual = expected - cond[:, 6:9]  # the rest of the head's output, over the warp base
    obj = (ids > 0)[:, None].expand_as(got)
    painted = torch.tensor([0.5, -0.25, 0.75])[None, :, None, None, None] + residual
    assert torch.allclose(got[obj], painted.expand_as(got)[obj], atol=1e-5)
    assert torch.equal(got[~obj], expected[~obj])
    with pytest.raises(ValueError, match="colour_transform needs"):
        video_config("tiny", colour_transform=True)


def test_head_condition_starts_as_the_model_without_it(tmp_path):
    """Weights saved without the extension load into a model with it (which then gives
    the same output); any other config difference is still refused."""
    from maskmotion.models.io import WeightsError, load_model_folder_into, save_model

    cfg = video_config("tiny")
    plain = _randomise(VideoDiT(cfg)).eval()
    save_model(plain, tmp_path / "plain")
    extended = VideoDiT(video_config("tiny", head_condition=True)).eval()
    load_model_folder_into(extended, tmp_path / "plain")
    x, cond, text, mask, ids, local, local_ids = _video_inputs(cfg)
    groups = plain.token_groups(ids, [2, 1])
    t = torch.rand(2)
    expected = plain(x, t, _conds(cond, text, mask, groups=groups, local=local, local_ids=local_ids))
    got = extended(x, t, _conds(cond, text, mask, groups=groups, local=local, local_ids=local_ids, ids=ids))
    assert torch.allclose(got, expected, atol=1e-6)
    save_model(_randomise(extended), tmp_path / "extended")
    with pytest.raises(WeightsError, match="head_condition"):
        load_model_folder_into(VideoDiT(cfg), tmp_path / "extended")  # would drop trained weights
    with pytest.raises(WeightsError, match="dim"):
        load_model_folder_into(VideoDiT(video_config("tiny", head_condition=True, dim=48)), tmp_path / "plain")


def test_object_sentences_match_a_per_object_loop():
    from maskmotion.models.motion_dit import object_sentences

    g = torch.Generator().manual_seed(3)
    local = torch.randn(2, 7, 12, generator=g)
    ids = torch.tensor([[2, 2, 1, 1, 1, 0, 0], [3, 3, 3, 3, 0, 0, 0]])
    got = object_sentences(local, ids, 3)
    assert got.shape == (2, 3, 12)
    for b in range(2):
        for slot in range(1, 4):
            rows = local[b][ids[b] == slot]
            want = torch.zeros(12) if len(rows) == 0 else rows.mean(0) / rows.mean(0).norm()
            assert torch.allclose(got[b, slot - 1], want, atol=1e-6), (b, slot)


def test_motion_dit_sentence_path_starts_as_the_saved_model_and_reads_each_objects_prompt(tmp_path):
    from maskmotion.models.io import load_model_folder_into, save_model

    plain = _randomise(MotionDiT(motion_config("tiny"))).eval()
    save_model(plain, tmp_path / "plain")
    extended = MotionDiT(motion_config("tiny", use_sentence=True)).eval()
    load_model_folder_into(extended, tmp_path / "plain")
    x, cond = _motion_inputs(plain.cfg)
    t = torch.full((2,), 0.5)
    with torch.no_grad():
        assert torch.allclose(extended(x, t, cond), plain(x, t, cond), atol=1e-6)
        _randomise(extended)
        base = extended(x, t, cond)
        # Object 1's sentence reaches object 1; a padding token changes nothing.
        local = cond.local_states.clone()
        local[1, 0:3] = torch.randn(3, cond.local_states.shape[-1])
        changed = extended(x, t, dataclasses.replace(cond, local_states=local))
        assert (changed[1, 0] - base[1, 0]).abs().sum() > 1e-3
        local = cond.local_states.clone()
        local[0, 5] += 10.0  # padding (owner 0)
        assert torch.allclose(extended(x, t, dataclasses.replace(cond, local_states=local)), base, atol=1e-6)
