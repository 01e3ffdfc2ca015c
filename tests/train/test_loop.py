"""The loop in-process on the toy task: learning, exact resume, checkpoints, logs."""

import logging
import math
import os
import signal
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from maskmotion.errors import InputError
from maskmotion.train import ToyTask, read_metrics, train
from maskmotion.train import checkpoint as ckpt
from maskmotion.train.tasks import ToyOptions


def losses(out_dir) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_metrics(out_dir) if "loss" in r]


def weights(out_dir, name="model") -> dict[str, torch.Tensor]:
    return load_file(str(Path(out_dir) / "final" / f"{name}.safetensors"))


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


class SignalAt(ToyTask):
    """The toy task that sends this process a signal while building one batch."""

    def __init__(self, step: int, sig: int = signal.SIGTERM, **options) -> None:
        super().__init__(ToyOptions(**options))
        self.at, self.sig = step, sig

    def batch(self, step, rank, world_size, batch_size):
        if step == self.at:
            signal.raise_signal(self.sig)
        return super().batch(step, rank, world_size, batch_size)


def test_a_few_steps_lower_the_loss(make_config):
    config = make_config(steps=60, eval_every=30, ema_decay=0.9)
    summary = train(config)
    curve = [loss for _, loss in losses(config.out_dir)]
    assert len(curve) == 60
    assert sum(curve[-10:]) / 10 < 0.5 * sum(curve[:10]) / 10
    evals = [r["eval/mse"] for r in read_metrics(config.out_dir) if "eval/mse" in r]
    assert len(evals) == 2 and evals[1] < evals[0]
    assert summary["step"] == 60 and not summary["stopped"]
    final = Path(summary["final"])
    names = {p.name for p in final.iterdir()}
    assert names == {"model.safetensors", "ema.safetensors", "config.json"}
    # The EMA lags the weights but has the same keys.
    model, ema = weights(config.out_dir), weights(config.out_dir, "ema")
    assert model.keys() == ema.keys() and not torch.equal(model["0.weight"], ema["0.weight"])


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_stop_and_resume_is_bit_exact(make_config, schedule):
    changes = dict(
        steps=30, checkpoint_every=7, schedule=schedule, warmup_steps=5, weight_decay=0.1,
        ema_decay=0.9,
    )
    reference = make_config("reference", **changes)
    train(reference)

    config = make_config("resumed", **changes)
    summary = train(config, task=SignalAt(17))
    assert summary["stopped"] and summary["step"] == 18  # the signal lands during step 18
    assert ckpt.find_latest(Path(config.out_dir) / "checkpoints").name == "step_000018"
    assert not (Path(config.out_dir) / "final").exists()
    with pytest.raises(InputError, match="pass --resume"):
        train(config)
    train(config, resume=True)

    assert losses(config.out_dir) == losses(reference.out_dir)
    assert_same_weights(weights(config.out_dir), weights(reference.out_dir))
    assert_same_weights(weights(config.out_dir, "ema"), weights(reference.out_dir, "ema"))


def test_extending_steps_continues_exactly(make_config):
    reference = make_config("reference", steps=30)
    train(reference)
    config = make_config("extended", steps=20)
    train(config)
    train(config.replace(steps=30), resume=True)
    assert losses(config.out_dir) == losses(reference.out_dir)
    assert_same_weights(weights(config.out_dir), weights(reference.out_dir))


def test_resume_refuses_changed_training_fields(make_config):
    config = make_config(steps=10)
    train(config)
    with pytest.raises(InputError, match=r"lr: checkpoint 0.003, now 0.1.*seed"):
        train(config.replace(lr=0.1, seed=5), resume=True)
    # Resuming with nothing left to do still exports.
    assert train(config, resume=True)["step"] == 10


def test_grad_accumulation_matches_one_big_batch(make_config):
    options = {"dropout": 0.0, "noise": 0.0}
    whole = make_config("whole", steps=10, task_options=options)
    split = make_config("split", steps=10, task_options=options, grad_accum_steps=4)
    train(whole)
    train(split)
    a, b = weights(whole.out_dir), weights(split.out_dir)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="use a multiple of 3"):
        train(make_config("odd", grad_accum_steps=3))


def test_interrupted_checkpoint_leaves_latest_on_the_previous(make_config, monkeypatch):
    config = make_config(steps=30, checkpoint_every=10, keep_last=2)
    real_save = ckpt.save_weights
    calls = []

    def failing_save(state, path):
        calls.append(path)
        if "step_000020" in str(path) and path.name == "ema.safetensors":
            real_save(state, path)
            raise OSError("disk full (simulated)")
        real_save(state, path)

    monkeypatch.setattr(ckpt, "save_weights", failing_save)
    with pytest.raises(OSError, match="disk full"):
        train(config)
    root = Path(config.out_dir) / "checkpoints"
    assert (root / "latest").read_text().strip() == "step_000010"
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step_000010"]
    assert (root / ".tmp_step_000020").is_dir()  # the partial write, never a step_* folder

    monkeypatch.setattr(ckpt, "save_weights", real_save)
    summary = train(config, resume=True)
    assert summary["step"] == 30
    assert not (root / ".tmp_step_000020").exists()
    kept = [p.name for p in ckpt.list_checkpoints(root)]
    assert kept == ["step_000020", "step_000030"]  # keep_last=2
    assert [s for s, _ in losses(config.out_dir)] == list(range(1, 31))


def test_checkpoint_contents_load_with_weights_only(make_config):
    config = make_config(steps=10)
    train(config)
    path = Path(config.out_dir) / "checkpoints" / "step_000010"
    assert ckpt.read_state(path)["step"] == 10
    assert ckpt.read_config(path) == config
    for name in ("optimizer.pt", "scheduler.pt", "rng/rank_0.pt"):
        torch.load(path / name, weights_only=True)
    model = ToyTask(ToyOptions(hidden=16)).build_model()
    with pytest.raises(RuntimeError, match="(?s)does not fit the model.*size mismatch"):
        ckpt.load_weights_into(model, path / "model.safetensors")
    model.add_module("extra", torch.nn.Linear(1, 1))
    model[0], model[3] = torch.nn.Linear(8, 32), torch.nn.LayerNorm(32)
    model[4] = torch.nn.Linear(32, 4)
    with pytest.raises(RuntimeError, match=r"missing \['extra.weight', 'extra.bias'\]"):
        ckpt.load_weights_into(model, path / "model.safetensors")


def test_tensorboard_missing_warns_once_and_trains(make_config, monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with caplog.at_level(logging.WARNING):
        train(make_config(steps=5, tensorboard=True))
    assert sum("tensorboard is not installed" in r.message for r in caplog.records) == 1


def test_tensorboard_events_written(make_config):
    pytest.importorskip("tensorboard")
    config = make_config(steps=5, tensorboard=True)
    train(config)
    assert list((Path(config.out_dir) / "tb").glob("events.out.tfevents.*"))


def test_export_gets_ema_weights(make_config):
    seen = {}

    class Exporting(ToyTask):
        def export(self, model, out_dir):
            seen["weight"] = model[0].weight.detach().clone()
            (out_dir / "extra.txt").write_text("ok")

    config = make_config(steps=5, ema_decay=0.5)
    train(config, task=Exporting(ToyOptions()))
    final = Path(config.out_dir) / "final"
    assert (final / "extra.txt").read_text() == "ok"
    assert torch.equal(seen["weight"], weights(config.out_dir, "ema")["0.weight"])


def test_nan_loss_stops_with_a_clear_error(make_config):
    class Exploding(ToyTask):
        def loss(self, model, batch, generator):
            loss, logs = super().loss(model, batch, generator)
            return loss * float("nan"), logs

    with pytest.raises(FloatingPointError, match="loss is nan at step 1"):
        train(make_config(steps=5), task=Exploding(ToyOptions()))


def test_time_based_checkpoints(make_config):
    # 0.006 s between saves and a 20 ms batch: every step is due by the clock alone.
    config = make_config(steps=4, checkpoint_every=0, checkpoint_minutes=1e-4, keep_last=0,
                         task_options={"sleep_s": 0.02})
    train(config)
    names = [p.name for p in ckpt.list_checkpoints(Path(config.out_dir) / "checkpoints")]
    assert names == ["step_000001", "step_000002", "step_000003", "step_000004"]


def test_bf16_autocast_on_cpu_trains(make_config):
    config = make_config(steps=30, mixed_precision="bf16")
    train(config)
    curve = [loss for _, loss in losses(config.out_dir)]
    assert all(map(math.isfinite, curve)) and sum(curve[-5:]) < sum(curve[:5])
    # fp32 weights, whatever the compute precision.
    assert weights(config.out_dir)["0.weight"].dtype == torch.float32


def test_fp16_on_cpu_is_refused(make_config):
    if torch.cuda.is_available():
        pytest.skip("fp16 is allowed with a GPU")
    with pytest.raises(InputError, match="fp16.*needs a GPU"):
        train(make_config(mixed_precision="fp16"))


def test_data_workers_give_the_same_run(make_config):
    """Batches built ahead by a worker process are the batches the loop would build:
    same losses and weights, also across a stop (the signal lands in the main process
    only, so the worker builds step 12 untouched) and a resume with a worker."""
    changes = dict(steps=24, checkpoint_every=5, ema_decay=0.9, grad_accum_steps=2)
    reference = make_config("reference", **changes)
    train(reference)
    config = make_config("workers", data_workers=1, **changes)
    summary = train(config, task=StopAtStep(12))
    assert summary["stopped"]
    train(config, resume=True)
    assert losses(config.out_dir) == losses(reference.out_dir)
    assert_same_weights(weights(config.out_dir), weights(reference.out_dir))
    assert_same_weights(weights(config.out_dir, "ema"), weights(reference.out_dir, "ema"))


def test_a_kill_that_reaches_the_workers_still_stops_cleanly(tmp_path):
    """`pkill -f` or Ctrl-C signals the loader's workers as well as the loop: the run
    must still finish its step, write a checkpoint and exit 0 (a worker that dies of the
    signal made the loop raise instead, with no checkpoint)."""
    import subprocess
    import sys

    config = tmp_path / "toy.toml"
    out = tmp_path / "run"
    config.write_text(
        f'task = "toy"\nout_dir = "{out}"\nsteps = 2000\nbatch_size = 8\ndata_workers = 1\n'
        "checkpoint_every = 0\nprogress = false\ntensorboard = false\nlog_every = 1\n"
        "[task_options]\nsleep_s = 0.02\n"
    )
    proc = subprocess.Popen([sys.executable, "-m", "maskmotion.cli", "train", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + 60
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 5):  # a few steps done
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the run logged no steps within 60 s"
        time.sleep(0.1)
    for pid in [proc.pid, *_child_pids(proc.pid)]:
        os.kill(pid, signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "stopped by SIGTERM" in output
    assert ckpt.find_latest(out / "checkpoints") is not None


class StopAtStep(ToyTask):
    """Sends SIGTERM from the loss of one step (losses run in the main process)."""

    def __init__(self, step: int, micro_batches: int = 2, **options) -> None:
        super().__init__(ToyOptions(**options))
        self.at, self.calls = step * micro_batches, 0

    def loss(self, model, batch, generator):
        self.calls += 1
        if self.calls == self.at:
            signal.raise_signal(signal.SIGTERM)
        return super().loss(model, batch, generator)


def _child_pids(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` (a training run's loader workers), from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:  # the field after the state is the parent's pid
            pids.append(int(stat.parent.name))
    return pids


def test_train_only_freezes_the_rest(make_config):
    """train_only: the named layers learn, every other weight stays bit-identical to its
    start (and its EMA with it), the loss still falls, and a resumed run agrees."""
    config = make_config(steps=40, train_only=["4."], ema_decay=0.9)
    train(config)
    start = ToyTask(ToyOptions())
    torch.manual_seed(config.seed)
    init = start.build_model().state_dict()
    for name in ("model", "ema"):
        final = weights(config.out_dir, name)
        assert torch.equal(final["0.weight"], init["0.weight"]) and torch.equal(final["3.weight"], init["3.weight"])
        assert not torch.equal(final["4.weight"], init["4.weight"])
    curve = [loss for _, loss in losses(config.out_dir)]
    assert sum(curve[-10:]) < sum(curve[:10])
    # Stopped at 20 and resumed: the same weights as the uninterrupted run.
    half = make_config("half", steps=20, train_only=["4."], ema_decay=0.9)
    train(half)
    train(half.replace(steps=40), resume=True)
    assert_same_weights(weights(config.out_dir), weights(half.out_dir))


def test_train_only_refuses_a_prefix_that_matches_nothing(make_config):
    with pytest.raises(InputError, match="train_only: no parameter name starts with"):
        train(make_config(steps=2, train_only=["head."]))
    with pytest.raises(InputError, match="train_only"):
        make_config(steps=2, train_only=[""])
