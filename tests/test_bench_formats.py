"""``lessdask bench formats`` runs and compares like with like (correctness only; the benchmark times)."""

from __future__ import annotations

import json

from lessdask.bench.formats import FORMATS, bench_formats


def test_dcd_dump_and_gz_of_the_same_frames_classify_to_equal_label_counts(tmp_path):
    out = bench_formats(n_atoms=2000, n_frames=2, repeat=1, workdir=tmp_path / "work",
                        json_path=tmp_path / "formats.json")
    assert set(FORMATS) <= set(out) and out["labels_equal"]
    counts = [out[f]["label_counts"] for f in FORMATS]
    assert counts[0] == counts[1] == counts[2]
    assert sum(counts[0].values()) == out["atoms"] * 2
    for f in FORMATS:
        assert out[f]["atom_frames_per_second"] > 0 and out[f]["atom_frames_per_worker_cpu_second"] > 0
    assert set(out["ratios"]) == {"dump_vs_dcd", "gz_vs_dcd"}
    assert json.loads((tmp_path / "formats.json").read_text())["labels_equal"]
