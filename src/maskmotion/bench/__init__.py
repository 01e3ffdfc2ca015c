"""The benchmark: every variant on the same cases and seeds, scored, tabled and shown
(`maskmotion bench`; docs/benchmark.md)."""

from .report import markdown_table, summarise
from .runner import BenchConfig, run_bench, run_shard, score_sample
from .sav_suite import read_prompt_list, sav_suite
from .suite import BenchCase, load_manifest, load_suite, sprites_cases, write_sprites_manifest
from .variants import ABLATION_VARIANTS, Variant, resolve_variant

__all__ = [
    "ABLATION_VARIANTS",
    "BenchCase",
    "BenchConfig",
    "Variant",
    "load_manifest",
    "load_suite",
    "markdown_table",
    "resolve_variant",
    "run_bench",
    "read_prompt_list",
    "run_shard",
    "sav_suite",
    "score_sample",
    "sprites_cases",
    "summarise",
    "write_sprites_manifest",
]
