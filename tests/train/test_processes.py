"""The loop as real processes: SIGKILL then --resume, SIGTERM, and two ranks on gloo."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

from maskmotion.train import read_metrics, train
from maskmotion.train.checkpoint import find_latest, read_state

PYTHON = sys.executable


def subprocess_env() -> dict[str, str]:
    """Environment for child Python processes: one thread, this package importable."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def write_config(config, path: Path) -> Path:
    path.write_text(config.to_json())
    return path


def launch(config_path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-m", "maskmotion.train", "--config", str(config_path), *extra],
        env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(condition, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"trainer exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the trainer")
        time.sleep(0.01)


def finish(proc: subprocess.Popen, timeout: float = 120.0) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def losses(out_dir):
    return [(r["step"], r["loss"]) for r in read_metrics(out_dir) if "loss" in r]


def test_sigkill_then_resume_matches_an_uninterrupted_run(make_config, tmp_path):
    changes = dict(steps=60, checkpoint_every=5, ema_decay=0.9, schedule="cosine", warmup_steps=5)
    reference = make_config("reference", **changes)
    train(reference)

    # The child sleeps per batch so that it is surely mid-run when killed.
    config = make_config("killed", **changes, task_options={"sleep_s": 0.02})
    path = write_config(config, tmp_path / "killed.json")
    proc = launch(path, "-q")
    root = Path(config.out_dir) / "checkpoints"
    wait_for(lambda: (root / "latest").is_file(), proc)
    proc.send_signal(signal.SIGKILL)
    rc, _ = finish(proc)
    assert rc == -signal.SIGKILL
    killed_at = read_state(find_latest(root))["step"]
    assert 0 < killed_at < 60 and not (Path(config.out_dir) / "final").exists()

    rc, err = finish(launch(path, "-q", "--resume"))
    assert rc == 0, err
    assert losses(config.out_dir) == losses(reference.out_dir)
    for name in ("model", "ema"):
        ours = load_file(str(Path(config.out_dir) / "final" / f"{name}.safetensors"))
        theirs = load_file(str(Path(reference.out_dir) / "final" / f"{name}.safetensors"))
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs), name


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(make_config, tmp_path):
    config = make_config(steps=10_000, checkpoint_every=0, task_options={"sleep_s": 0.01})
    proc = launch(write_config(config, tmp_path / "c.json"))
    wait_for(lambda: len(read_metrics(config.out_dir)) >= 3, proc)
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == 0, err
    assert "SIGTERM received" in err and "continue with --resume" in err
    latest = find_latest(Path(config.out_dir) / "checkpoints")
    step = read_state(latest)["step"]
    assert 3 <= step < 10_000
    assert losses(config.out_dir)[-1][0] == step  # the last step is logged before stopping
    assert not (Path(config.out_dir) / "final").exists()


def test_bad_config_exits_with_code_2(tmp_path):
    from maskmotion.train.cli import main

    path = tmp_path / "c.toml"
    path.write_text("stepz = 3\n")
    assert main(["--config", str(path)]) == 2


RANK_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from safetensors.torch import save_file
    import torch.distributed as dist
    from maskmotion.train import TrainConfig, get_task, train

    class Recording:  # keeps the model so each rank can dump the weights it ended with
        def __init__(self, inner):
            self.inner, self.model = inner, None
        def build_model(self):
            self.model = self.inner.build_model()
            return self.model
        def batch(self, *args):
            return self.inner.batch(*args)
        def loss(self, *args):
            return self.inner.loss(*args)

    config = TrainConfig.from_file(sys.argv[1])
    task = Recording(get_task(config.task, config.task_options))
    train(config, task=task, resume="--resume" in sys.argv)
    state = {k: v.contiguous() for k, v in task.model.state_dict().items()}
    save_file(state, str(Path(config.out_dir) / f"rank{os.environ['RANK']}.safetensors"))
    dist.destroy_process_group()
    """
)


@pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)
def test_two_processes_on_gloo_agree_and_learn(make_config, tmp_path):
    # No dropout and no target noise: then two ranks of 8 samples compute the same
    # update as one process with 16, up to float rounding.
    changes = dict(
        steps=40, batch_size=16, checkpoint_every=20, task_options={"dropout": 0.0, "noise": 0.0}
    )
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)

    def torchrun(config, *extra):
        path = write_config(config, tmp_path / f"{Path(config.out_dir).name}-{config.steps}.json")
        cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(script), str(path), *extra]
        done = subprocess.run(
            cmd, env=subprocess_env(), capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-3000:]

    config = make_config("ddp", **changes)
    torchrun(config)
    out = Path(config.out_dir)
    rank0, rank1 = (load_file(str(out / f"rank{r}.safetensors")) for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    final = load_file(str(out / "final" / "model.safetensors"))
    assert all(torch.equal(rank0[k], final[k]) for k in rank0)
    assert sorted(p.name for p in (out / "checkpoints" / "step_000040" / "rng").iterdir()) == [
        "rank_0.pt", "rank_1.pt"]
    assert read_state(out / "checkpoints" / "step_000040")["world_size"] == 2
    curve = [loss for _, loss in losses(out)]
    assert len(curve) == 40 and sum(curve[-5:]) < 0.5 * sum(curve[:5])

    # The same global batches in one process give the same weights, up to rounding.
    single = make_config("single", **changes)
    train(single)
    alone = load_file(str(Path(single.out_dir) / "final" / "model.safetensors"))
    for k in alone:
        torch.testing.assert_close(rank0[k], alone[k], rtol=1e-4, atol=1e-5)

    # Two sittings (20 steps, then --resume to 40) equal one, bit for bit.
    split = make_config("ddp-split", **changes)
    torchrun(split.replace(steps=20))
    torchrun(split, "--resume")
    assert losses(split.out_dir) == losses(out)
    resumed = load_file(str(Path(split.out_dir) / "rank1.safetensors"))
    assert all(torch.equal(rank1[k], resumed[k]) for k in rank1)


@pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)
def test_fsdp_on_two_cpu_processes_matches_one_process_and_resumes(make_config, tmp_path):
    # The sharded strategy the large-backbone configs name, run for real on gloo: two
    # ranks must compute the single-process update and resume from their checkpoint.
    changes = dict(steps=30, batch_size=16, checkpoint_every=15, strategy="fsdp", ema_decay=0.0,
                   task_options={"dropout": 0.0, "noise": 0.0})

    def torchrun(config, *extra):
        path = write_config(config, tmp_path / f"{Path(config.out_dir).name}-{config.steps}.json")
        cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "maskmotion.train", "--config", str(path), *extra]
        done = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]

    sharded = make_config("fsdp", **changes)
    torchrun(sharded)
    curve = [loss for _, loss in losses(sharded.out_dir)]
    assert len(curve) == 30 and sum(curve[-5:]) < 0.5 * sum(curve[:5])
    single = make_config("fsdp-single", **{**changes, "strategy": "ddp"})
    train(single)
    got = load_file(str(Path(sharded.out_dir) / "final" / "model.safetensors"))
    want = load_file(str(Path(single.out_dir) / "final" / "model.safetensors"))
    assert set(got) == set(want)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-4, atol=1e-5)

    split = make_config("fsdp-split", **changes)
    torchrun(split.replace(steps=15))
    torchrun(split, "--resume")
    for (s1, a), (s2, b) in zip(losses(split.out_dir), losses(sharded.out_dir)):
        assert s1 == s2 and abs(a - b) <= 1e-5 * max(1.0, abs(b))
