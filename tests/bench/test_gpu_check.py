"""benchmarks/gpu_check.py --dry-run: the GPU check's code paths on CPU at tiny sizes, in
a real process, so the script is ready when a GPU is."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_dry_run_prints_its_table(tmp_path):
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DRY RUN" in proc.stdout and "| part | case | result | time | peak memory |" in proc.stdout
    for part in ("| tests |", "| attn |", "| wan |", "| animatediff |"):
        assert part in proc.stdout, proc.stdout
    assert "max abs err" in proc.stdout and "error:" not in proc.stdout
    assert proc.stdout.count("train step") == 4
    assert out.is_file()
