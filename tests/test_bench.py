"""bench.compare end to end on a tiny model: the three implementations train and the last line
is the JSON record tracked over time. Its speed figures are not asserted (shared machines)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

from conftest import ROOT

TINY = [
    "data.synthetic.n_train=60",
    "data.synthetic.n_eval=20",
    "data.synthetic.val_size=8",
    "model.max_length=64",
    "loop.batch_size=4",
]


def test_compare_trains_all_three_and_ends_with_a_json_record(tmp_path, tiny_bert):
    env = {**os.environ, "MEDTUNE_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "bench.compare", "--train-size", "16", "--epochs", "1"]
    result = subprocess.run(
        [*command, f"model.name_or_path={tiny_bert}", *TINY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("speedup_vs_trainer", "speedup_vs_plain", "padding_efficiency", "peak_rss_ratio_vs_plain"):
        assert math.isfinite(record[key]) and record[key] > 0, key
    for kind in ("medtune", "plain", "hf_trainer"):
        assert record[f"{kind}_examples_per_s"] > 0
        assert 0.0 <= record[f"{kind}_micro_f1"] <= 1.0
        assert record[f"{kind}_peak_rss_mb"] > 100  # a Python process with torch loaded
    assert "medtune" in result.stdout and "hf_trainer" in result.stdout  # the readable table
