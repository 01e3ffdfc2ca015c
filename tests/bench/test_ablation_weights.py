"""Where `maskmotion bench` finds the ablation variants: the repository's
weights/ablation/ (not the installed package), $MASKMOTION_ABLATION_WEIGHTS, --weights."""

import pytest

from maskmotion.bench import resolve_variant
from maskmotion.bench.variants import ABLATION_DIR, ABLATION_VARIANTS, ENV_ABLATION, ablation_dir
from maskmotion.errors import InputError
from maskmotion.weights import WEIGHTS_DIR


def test_ablation_weights_live_in_the_checkout_not_the_package(monkeypatch):
    monkeypatch.delenv(ENV_ABLATION, raising=False)
    assert not (WEIGHTS_DIR / "ablation").exists()  # the wheel ships the default model only
    assert ABLATION_DIR.parts[-2:] == ("weights", "ablation")
    for name in ABLATION_VARIANTS:
        assert resolve_variant(name).folder == ABLATION_DIR / name


def test_env_var_and_weights_flag_name_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_ABLATION, str(tmp_path / "elsewhere"))
    assert ablation_dir() == tmp_path / "elsewhere"
    assert ablation_dir(tmp_path / "given") == tmp_path / "given"
    with pytest.raises(InputError, match=r"not installed with the package.*--weights DIR or \$MASKMOTION_ABLATION"):
        resolve_variant("ttm-paper")
    monkeypatch.setenv(ENV_ABLATION, str(ABLATION_DIR))
    assert resolve_variant("flow").folder == ABLATION_DIR / "flow"
