import pytest

from maskmotion.train import TrainConfig


@pytest.fixture
def make_config(tmp_path):
    """A quick toy config; tests override what they exercise."""

    def make(name: str = "run", **changes) -> TrainConfig:
        base = dict(
            task="toy",
            out_dir=str(tmp_path / name),
            steps=40,
            batch_size=8,
            lr=3e-3,
            log_every=1,
            checkpoint_every=10,
            progress=False,
            tensorboard=False,
            num_threads=1,
        )
        base.update(changes)
        return TrainConfig(**base)

    return make
