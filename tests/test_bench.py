"""bench/: the FLOP accounting behind MFU, the generated page, and the quick smoke run.

No timing assertions anywhere: the benchmarks measure speed, these tests only check that the
accounting is right and that a quick run produces complete, honest result files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_bert import REPO, make_texts

from bench import flops
from bench.render import SCHEMA, render


def tiny_classifier(layers: int = 4, hidden: int = 32, inter: int = 64, pooling: str = "cls"):
    from transformers import BertConfig, BertModel

    from bertfreeze.model import TextClassifier

    cfg = BertConfig(
        vocab_size=100,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=inter,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    return TextClassifier(BertModel(cfg), pooling)


def bert_layer_params(h: int, i: int) -> int:
    """By hand: Q, K, V, O (h*h + h each), FFN in (h*i + i) and out (i*h + h), two LayerNorms."""
    return 4 * (h * h + h) + (h * i + i) + (i * h + h) + 2 * (2 * h)


def test_path_params_split_at_the_start_layer() -> None:
    clf = tiny_classifier()
    per_layer = bert_layer_params(32, 64)
    head = 32 + 1  # Linear(32 -> 1)
    assert flops.path_params(clf, 0) == flops.PathParams(0, 4 * per_layer, head)
    assert flops.path_params(clf, 2) == flops.PathParams(2 * per_layer, 2 * per_layer, head)
    assert flops.path_params(clf, 4) == flops.PathParams(4 * per_layer, 0, head)
    with pytest.raises(ValueError):
        flops.path_params(clf, 5)


def test_pooler_counts_per_row_only_when_used() -> None:
    clf = tiny_classifier(pooling="pooler")
    assert flops.path_params(clf, 4).per_row == (32 * 32 + 32) + (32 + 1)


def test_training_flops_six_for_trained_two_for_frozen_forward() -> None:
    p = flops.PathParams(frozen_tokenwise=100, trainable_tokenwise=10, per_row=3)
    assert flops.training_flops(p, real_tokens=50, rows=4, frozen_forward=False) == (
        6 * 10 * 50 + 6 * 3 * 4
    )
    assert flops.training_flops(p, 50, 4, frozen_forward=True) == (
        6 * 10 * 50 + 6 * 3 * 4 + 2 * 100 * 50
    )
    assert flops.forward_flops(100, 50) == 2 * 100 * 50


def test_matmul_peak_and_mfu() -> None:
    peak = flops.matmul_peak(bf16=False, threads=1, shapes=((64, 32, 48),), seconds=0.01)
    assert peak.flops_per_s > 0 and peak.dtype == "float32" and peak.threads == 1
    assert peak.shape == (64, 32, 48) and list(peak.per_shape) == ["64x32x48"]
    assert flops.mfu(2 * peak.flops_per_s, 2.0, peak) == pytest.approx(1.0)
    assert flops.mfu(1.0, 0.0, peak) is None


def _side(name: str, seconds: float, star: bool, mfu: float | None) -> dict:
    return {
        "name": name,
        "seconds": seconds,
        "accuracy": "0.8",
        "extrapolated": star,
        "model_flops": 1e12,
        "mfu": mfu,
    }


def test_render_stars_each_side_skips_and_marks_old_results_stale(tmp_path: Path) -> None:
    current = {
        "schema": SCHEMA,
        "key": "c",
        "mode": "full",
        "date": "2026-11-27T12:00:00",
        "git": {"commit": "abc1234def", "dirty": False},
        "cpu": {"model": "Some CPU", "capability": "AVX2", "native_bf16": False},
        "threads": 2,
        "precision": {"requested": "auto", "precision": "32-true"},
        "details": {
            "peak": {
                "used": {
                    "flops_per_s": 1e11,
                    "shape": [1024, 384, 1536],
                    "dtype": "float32",
                    "threads": 2,
                }
            }
        },
        "lines": [
            {
                "key": "c",
                "label": "one fine-tuning epoch",
                "ours": _side("ours", 10.0, True, 0.42),
                "naive": _side("fixed", 40.0, True, 0.1),
                "ratio": 4.0,
                "target": 2.0,
                "met": True,
                "method": "sampled",
                "notes": [],
            },
            {
                "key": "c3",
                "label": "precision",
                "skipped": "skipped: no native bf16",
                "target": None,
            },
        ],
    }
    old = {
        "key": "a",
        "date": "2026-11-27T05:14",
        "lines": [
            {
                "key": "a",
                "label": "frozen sweep",
                "ratio": 30.17,
                "extrapolated": True,
                "ours": {"name": "cached", "seconds": 44.7, "accuracy": "0.81"},
                "naive": {"name": "re-encode", "seconds": 1350.0, "accuracy": "same"},
            }
        ],
    }
    text = render([current, old], tmp_path)
    row = next(r for r in text.splitlines() if r.startswith("| c | one fine-tuning"))
    assert row.count("\\*") == 2  # both sides extrapolated, both starred
    assert "42.0%" in row
    assert "skipped: no native bf16" in text
    assert "abc1234def" in text and "AVX2" in text and "32-true" in text
    assert "Stale" in text and "30.17×" in text.split("## Stale")[1]
    assert "30.17" not in text.split("## Stale")[0]  # never mixed into the current tables
    assert "MFU of the freeze=none epoch: 42.0%" in text


@pytest.mark.slow
def test_bench_quick_smoke_on_tiny_model(tmp_path: Path, tiny_bert: Path) -> None:
    """``python -m bench.run --quick`` end to end on the tiny model (what CI runs)."""
    data = tmp_path / "train.csv"
    make_texts(320, seed=1).to_csv(data, index=False)
    out = tmp_path / "results"
    cmd = [
        sys.executable, "-m", "bench.run", "--quick", "--no-docs",
        "--data", str(data), "--out", str(out),
        "--override", f"model.pretrained={tiny_bert}",
        "--override", "model.name=tiny",
        "--override", "model.pooling=cls",
        "--override", "data.max_length=64",  # the tiny model has 64 positions
    ]  # fmt: skip
    env = {"BERTFREEZE_CACHE": str(tmp_path / "cache"), "BERTFREEZE_QUIET": "1"}

    proc = subprocess.run(
        cmd, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from bertfreeze.precision import cpu_native_bf16

    native = cpu_native_bf16()
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(results) == {"frozen_sweep", "last2_epoch", "finetune_epoch", "baselines", "memory"}
    for res in results.values():
        assert res["schema"] == SCHEMA and not res.get("error"), res.get("error")
        assert "commit" in res["git"] and res["cpu"]["capability"]
        assert res["cpu"]["native_bf16"] is native and res["threads"] >= 1
        assert res["precision"]["precision"] == ("bf16-mixed" if native else "32-true")
        assert "/" not in res["data"]["file"]
    keys = {ln["key"]: ln for r in results.values() for ln in r["lines"]}
    assert {"a", "a2", "b1", "b2", "c", "c2", "c3", "d1", "d2"} <= set(keys)
    for k in ("a", "b1", "b2", "c", "c2"):
        assert keys[k]["ours"]["mfu"] is not None and keys[k]["naive"]["mfu"] is not None
    assert keys["a"]["ours"]["extrapolated"] is False and keys["a"]["naive"]["extrapolated"]
    assert keys["b2"]["ours"]["extrapolated"] and keys["c2"]["naive"]["extrapolated"] is False
    if not native:
        assert keys["c3"]["skipped"].startswith("skipped: no native bf16")
    else:  # each precision's MFU against its own peak
        assert keys["c3"]["naive"]["peak"]["dtype"] == "float32"
        assert keys["c3"]["naive"]["mfu"] is not None
    assert results["finetune_epoch"]["details"]["equivalence_check_padding"]["dropout"] == "off"
    # this CPU's own copy, which a later run on another CPU leaves alone
    copies = {p.parent.name: p.stem for p in out.glob("machines/*/*.json")}
    assert len(copies) == 1 and {p.stem for p in out.glob("machines/*/*.json")} == set(results)


def test_render_quickstart_rows_per_cpu_kind(tmp_path: Path) -> None:
    assert "Not measured with this bench yet" in render([], tmp_path)
    (tmp_path / "quickstart").mkdir()
    rec = {
        "schema": SCHEMA,
        "date": "2026-11-27T12:00:00",
        "git": {"commit": "0123456789ab", "dirty": False},
        "cpu": {"model": "AMD EPYC", "capability": "AVX2", "native_bf16": False},
        "logical_cores": 2,
        "precision": {"requested": "auto", "precision": "32-true"},
        "wall_s": 840.0,
    }
    (tmp_path / "quickstart" / "AVX2-2cores-amd-epyc.json").write_text(json.dumps(rec))
    text = render([], tmp_path)
    row = next(r for r in text.splitlines() if r.startswith("| AMD EPYC"))
    assert "| AVX2 | False | 2 | 32-true | not recorded | 14.0 min | 0123456789 |" in row
    (tmp_path / "quickstart" / "AVX2-2cores-amd-epyc.json").write_text(
        json.dumps({**rec, "cold": True})
    )
    row = next(r for r in render([], tmp_path).splitlines() if r.startswith("| AMD EPYC"))
    assert "| 32-true | cold | 14.0 min |" in row


def test_verbatim_sweep_floor_counts_each_cache_build_once(tmp_path: Path) -> None:
    """bench.verbatim_sweep: floor = model FLOPs / peak, a cached mode's prefix pass counted once
    per sweep (not per seed), wall / floor from the runs' own wall times; the page shows it."""
    import pandas as pd

    from bench.verbatim_sweep import summarise

    runs = pd.DataFrame(
        {"freeze": ["none", "none", "all", "all"], "wall_time_s": [30.0, 30.0, 5.0, 1.0]}
    )
    per_mode = {
        "none": {
            "cached": False,
            "frozen_prefix_layers": 0,
            "flops_per_run": 20e9,
            "flops_cache_build": 0.0,
        },
        "all": {
            "cached": True,
            "frozen_prefix_layers": 6,
            "flops_per_run": 1e9,
            "flops_cache_build": 4e9,
        },
    }
    peak = flops.Peak(1e9, (8, 8, 8), "float32", 2, {})
    out = summarise(runs, per_mode, peak, study_wall=80.0)
    assert out["modes"]["none"]["floor_s"] == 40.0
    assert out["modes"]["all"]["floor_s"] == 6.0  # 2 runs x 1 + one build of 4, not 2 x 5
    assert out["modes"]["all"]["wall_over_floor"] == 1.0
    assert out["total"]["floor_s"] == 46.0
    assert out["total"]["wall_over_floor"] == round(66 / 46, 2)
    assert out["total"]["met"] is False  # 1.43x > 1.3x
    assert out["total"]["study_wall_over_floor"] == round(80 / 46, 2)

    rec = {
        "schema": SCHEMA,
        "date": "2026-11-27T16:00:00",
        "study_commits": ["0123456789ab"],
        "git": {"commit": "fedcba987654"},
        "cpu": {"model": "AMD EPYC", "capability": "AVX2", "native_bf16": False},
        "precision": {"precision": "32-true"},
        "peak": peak.as_record(),
        "load_avg_at_peak": [0.1, 0.2, 0.3],
        **out,
    }
    assert "Not measured yet" in render([], tmp_path)
    (tmp_path / "verbatim_sweep").mkdir()
    (tmp_path / "verbatim_sweep" / "AVX2-2cores.json").write_text(json.dumps(rec))
    text = render([], tmp_path)
    assert "| **sweep** | 4 | | **66.0 s** | 46.0 s | **1.43×** |" in text
    assert "not met" in text and "Trainer` sweep: not measured" in text
    by_mode = {**rec, "total": {**out["total"], "study_wall_s": None}}
    (tmp_path / "verbatim_sweep" / "AVX2-2cores.json").write_text(json.dumps(by_mode))
    assert "ran mode by mode over several calls" in render([], tmp_path)


def test_verbatim_sweep_peak_uses_the_studys_precision_and_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a native-bf16 CPU a study pinned to 32-true gets an fp32 peak (``auto`` would give
    bf16's, a floor ~10x too low); another CPU model or a study of mixed precisions is refused."""
    import pandas as pd

    from bench.run import cpu_model
    from bench.verbatim_sweep import study_precision
    from bertfreeze import precision as P
    from bertfreeze.errors import UserError

    monkeypatch.setattr(P, "_cpuinfo_flags", lambda: {"avx512f", "amx_bf16"})
    P.cpu_native_bf16.cache_clear()
    try:
        cap = P.cpu_capability()
        runs = pd.DataFrame({"precision": ["32-true"] * 2, "cpu_capability": [cap] * 2})
        here = study_precision(runs, {"cpu_model": cpu_model()})
        assert (here.precision, here.bf16, here.native_bf16) == ("32-true", False, True)
        with pytest.raises(UserError, match="measure the peak where the study ran"):
            study_precision(runs, {"cpu_model": "Some Other CPU"})
        mixed = runs.assign(precision=["32-true", "bf16-mixed"])
        with pytest.raises(UserError, match="mix precisions"):
            study_precision(mixed, {"cpu_model": cpu_model()})
    finally:
        P.cpu_native_bf16.cache_clear()


def test_gpu_sweep_combine_stars_extrapolation_and_counts_floor_per_seed(tmp_path: Path) -> None:
    """bench.gpu_sweep: parts run separately merge into one sweep; an interrupted mode's missing
    seeds are extrapolated and starred (never counted as measured), the floor counts every seed
    and each cache build once, and the committed command names no machine path."""
    import pandas as pd

    from bench.gpu_sweep import combine, extrapolate, shown_command

    where = tmp_path / "machine"  # any absolute path of this machine
    cmd = shown_command(
        ["freeze=none", f"model.pretrained={where}/bert", f"data.path={where}/train.csv",
         f"hydra.sweep.dir={where}/sweep", "trainer=gpu"]
    )  # fmt: skip
    assert cmd == (
        "python train.py -m freeze=none model.pretrained=<random bert-base-shaped folder> "
        "data.path=train.csv trainer=gpu"
    )
    runs = pd.DataFrame({"freeze": ["none"] * 2, "wall_time_s": [40.0, 60.0]})
    assert extrapolate(runs, 4, ("none",)) == {"per_mode_s": {"none": 200.0}, "total_s": 200.0}

    peak = {"flops_per_s": 1e12}

    def line(runs: int, wall: float, per_run: float, build: float) -> dict:
        return {"runs": runs, "wall_s": wall, "flops_per_run": per_run,
                "flops_cache_build": build, "model_flops": runs * per_run + build, "mfu": 0.01}  # fmt: skip

    part_a = {
        "command": "a", "runs_expected": 4, "precision": ["bf16-mixed"], "peak": peak,
        "modes": {"none": line(2, 100.0, 1e12, 0.0)},
        "extrapolation": {"per_mode_s": {"none": 200.0}, "total_s": 200.0},
    }  # fmt: skip
    part_b = {
        "command": "b", "runs_expected": 8, "precision": ["bf16-mixed"], "peak": peak,
        "modes": {"all": line(4, 20.0, 1e11, 2e12), "last2": line(4, 40.0, 5e11, 1e12)},
        "extrapolation": None,
    }  # fmt: skip
    paths = []
    for name, doc in (("a", part_a), ("b", part_b)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(doc))
    out = tmp_path / "gpu_sweep.json"
    combine(paths, out)
    g = json.loads(out.read_text())
    assert g["modes"]["none"]["extrapolated"] is True
    assert g["modes"]["all"]["extrapolated"] is False
    assert g["modes"]["none"]["all_seeds_floor_s"] == 4.0  # 4 seeds x 1e12 / 1e12
    assert g["modes"]["all"]["all_seeds_floor_s"] == 2.4  # 4 x 1e11 + one build of 2e12
    assert g["total_runs_s"] == 260.0 and g["total_extrapolated"] is True
    assert g["goal_met"] is False  # an extrapolated total never meets a goal

    (tmp_path / "gpu.json").write_text(json.dumps({"mode": "smoke"}))
    text = render([], tmp_path)
    assert "| none | 2 of 4 | 100.0 s | 3.3 min* |" in text
    assert "| **sweep** | | | **4.3 min*** |" in text


def test_profile_step_classes_ops_and_renders_shares(tmp_path: Path) -> None:
    """bench.profile_step: aten ops fall into the classes the page reports (matrix products are
    what MFU counts), self time is summed per class, and the page shows each class's share."""
    from bench.profile_step import by_class, op_class

    assert op_class("aten::addmm") == op_class("aten::mm") == "matrix products"
    assert op_class("aten::bernoulli_") == "dropout"
    assert op_class("aten::_fused_adamw_") == "optimiser"
    assert op_class("aten::copy_") == "copies"
    assert op_class("Optimizer.step#AdamW.step") == "other"
    got = by_class([("aten::mm", 2.0, 10), ("aten::addmm", 1.0, 5), ("aten::gelu", 0.5, 2)])
    assert got == {
        "matrix products": {"self_s": 3.0, "calls": 15},
        "GELU": {"self_s": 0.5, "calls": 2},
    }
    assert "Where a training step" not in render([], tmp_path)
    (tmp_path / "profile").mkdir()
    rec = {
        "freeze": "none", "threads": 2, "steps": 12, "step_s_mean": 2.5,
        "mfu_profiled_steps": 0.5, "date": "2026-11-27T18:00:00", "git": {"commit": "0123456789ab"},
        "cpu": {"model": "AMD EPYC", "capability": "AVX2"}, "precision": {"precision": "32-true"},
        "peak": {"flops_per_s": 138e9},
        "classes": {"matrix products": {"self_s": 3.0, "share": 0.6, "calls": 15}},
    }  # fmt: skip
    (tmp_path / "profile" / "none-AVX2-2t.json").write_text(json.dumps(rec))
    text = render([], tmp_path)
    assert "| matrix products | 3.00 s | 60.0% | 15 |" in text
    assert "2500 ms/step, MFU 50%" in text and "\n\n\n" not in text
    # the matmul-only ceiling: MFU 50% with matmuls at 60% of the step -> 83%
    assert "Matrix products alone would give MFU 83%" in text and "other ops are 40%" in text
    rec["mfu_profiled_steps"] = 0.7  # above the matmul share: no ceiling, and it says why
    (tmp_path / "profile" / "none-AVX2-2t.json").write_text(json.dumps(rec))
    text = render([], tmp_path)
    assert "Matrix products alone" not in text and "no ceiling is given" in text


def test_levers_summary_ratio_warmup_and_page(tmp_path: Path) -> None:
    """bench.levers: per variant, the mean over every round's timed steps, MFU from those steps'
    FLOPs, the warm-up (one-time cost) per round, and the speed-up against the shipped step
    (> 1: the lever is faster); the page shows each variant's row."""
    from bench.levers import SHIPPED, parse_variant, summarise

    assert parse_variant("compiled=compile=true,data.bucket=false") == (
        "compiled",
        ("compile=true", "data.bucket=false"),
    )
    for bad in ("compiled", "compiled=", "x=notanoverride"):
        with pytest.raises(SystemExit, match="NAME=override"):
            parse_variant(bad)
    rounds = {
        SHIPPED: [
            {"overrides": [], "step_s": [0.2, 0.2], "model_flops": 4e11, "warmup_s": 1.0},
            {"overrides": [], "step_s": [0.2, 0.2], "model_flops": 4e11, "warmup_s": 0.9},
        ],
        "torch.compile": [
            {"overrides": ["compile=true"], "step_s": [0.25, 0.25], "model_flops": 4e11,
             "warmup_s": 40.0},
            {"overrides": ["compile=true"], "step_s": [0.25, 0.25], "model_flops": 4e11,
             "warmup_s": 5.0},
        ],
    }  # fmt: skip
    got = summarise(rounds, peak_flops_per_s=2e12)
    assert got[SHIPPED]["ms_per_step"] == 200.0 and got[SHIPPED]["speedup_vs_shipped"] == 1.0
    assert got["torch.compile"]["ms_per_step"] == 250.0
    assert got["torch.compile"]["speedup_vs_shipped"] == 0.8  # slower: below 1
    assert got["torch.compile"]["warmup_s_by_round"] == [40.0, 5.0]
    assert got[SHIPPED]["mfu"] == pytest.approx(8e11 / 0.8 / 2e12)
    (tmp_path / "levers").mkdir()
    rec = {
        "freeze": "none", "threads": 2, "warmup_steps": 6, "date": "2026-12-07T20:00:00",
        "git": {"commit": "0123456789ab", "dirty": False},
        "cpu": {"model": "AMD EPYC", "capability": "AVX512", "native_bf16": True},
        "precision": {"precision": "bf16-mixed"},
        "peak": {"flops_per_s": 2e12, "dtype": "bfloat16", "gflops_before_after": [1990, 2000]},
        "variants": got,
    }  # fmt: skip
    assert "What the levers buy" not in render([], tmp_path)
    (tmp_path / "levers" / "none-x-bf16-mixed.json").write_text(json.dumps(rec))
    text = render([], tmp_path)
    assert (
        "| torch.compile | `compile=true` | 4 | 250 | 250, 250 | 40.0% | 0.80× | 40.0 s, 5.0 s |"
        in text
    )
    assert "| eager (shipped) | — | 4 | 200 | 200, 200 | 50.0% | 1.00× |" in text


def test_levers_and_profile_step_run_the_real_step_on_a_tiny_model(
    tmp_path: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m bench.levers`` and ``python -m bench.profile_step`` end to end (in process,
    tiny model, a few steps): each records the timed steps of every variant, their real tokens'
    MFU and the machine, and the page renders both."""
    from bench import flops, levers, profile_step

    real_peak = flops.matmul_peak
    monkeypatch.setattr(  # the pipeline is under test here, not the peak: a quick small one
        flops,
        "matmul_peak",
        lambda bf16, **_: real_peak(bf16, shapes=((256, 256, 256),), seconds=0.05),
    )
    data = tmp_path / "train.csv"
    make_texts(200, seed=1).to_csv(data, index=False)
    monkeypatch.setenv("BERTFREEZE_QUIET", "1")
    over = [
        f"--override=model.pretrained={tiny_bert}", "--override=model.name=tiny",
        "--override=model.pooling=cls", "--override=data.max_length=64",
    ]  # fmt: skip
    out = tmp_path / "levers" / "none.json"
    argv = ["--data", str(data), "--out", str(out), "--steps", "2", "--warmup", "1", *over]
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    assert levers.main([*argv, "--variant", "unbucketed=data.bucket=false"]) == 0
    assert "TORCHINDUCTOR_CACHE_DIR" not in os.environ  # its private compile cache is gone
    rec = json.loads(out.read_text())
    assert list(rec["variants"]) == [levers.SHIPPED, "unbucketed"]
    for v in rec["variants"].values():
        assert v["steps"] == 2 * 2 and len(v["ms_per_step_by_round"]) == 2  # 2 rounds
        assert v["mfu"] and v["mfu"] > 0 and len(v["warmup_s_by_round"]) == 2
    assert rec["variants"]["unbucketed"]["overrides"] == ["data.bucket=false"]
    assert rec["cpu"]["capability"] and "commit" in rec["git"] and rec["freeze"] == "none"
    prof = tmp_path / "profile" / "none.json"
    assert profile_step.main(["--data", str(data), "--out", str(prof), "--steps", "2",
                              "--warmup", "1", *over]) == 0  # fmt: skip
    p = json.loads(prof.read_text())
    assert p["steps"] == 2 and p["real_tokens"] > 0 and p["mfu_profiled_steps"] > 0
    assert p["classes"]["matrix products"]["calls"] > 0 and p["key"] == "profile_step"
    text = render([], tmp_path)
    assert "| unbucketed | `data.bucket=false` | 4 |" in text and "Where a training step" in text


def test_render_warns_when_peaks_differ_between_lines() -> None:
    """MFUs against different measured peaks are not comparable: the page says so, with the
    spread, and says nothing when the peaks agree."""
    from bench.render import peak_spread

    def res(rate: float) -> dict:
        return {"details": {"peak": {"used": {"flops_per_s": rate}}}}

    assert peak_spread([res(100e9), res(110e9)]) == []
    note = peak_spread([res(100e9), res(150e9)])
    assert "100-150 GFLOP/s" in note[0] and "up to 33% lower" in note[0]


def test_peak_spread_is_per_cpu_and_precision() -> None:
    """An AMX CPU's bf16 peak (~8x its fp32 one) beside an AVX2 fp32 peak is not noise: the page
    says the peaks are per CPU and precision and reports no spread across them."""
    from bench.render import peak_spread

    def res(cap: str, dtype: str, rate: float) -> dict:
        return {
            "cpu": {"model": "X", "capability": cap},
            "details": {"peak": {"used": {"flops_per_s": rate, "dtype": dtype}}},
        }

    note = peak_spread([res("AVX2", "float32", 120e9), res("AVX512", "bfloat16", 2400e9)])
    assert "per CPU and precision" in note[0]
    assert not any("GFLOP/s" in n for n in note)
    note = peak_spread(
        [res("AVX2", "float32", 100e9), res("AVX2", "float32", 150e9), res("AVX512", "bfloat16", 1)]
    )
    assert any("X (AVX2) at float32" in n and "100-150 GFLOP/s" in n for n in note)


@pytest.mark.slow
def test_gpu_sweep_cpu_smoke_runs_the_real_entry_point(tmp_path: Path, tiny_data: Path) -> None:
    """bench.gpu_sweep end to end on the CPU (tiny random BERT, one cached run through the real
    ``train.py -m``): the record counts the run, claims no GPU goal, keeps extra overrides, and
    its command carries no path of this machine."""
    from bench.gpu_sweep import main

    out = tmp_path / "gpu_sweep.json"
    rc = main(
        ["--cpu-smoke", "--modes", "all", "--data", str(tiny_data), "--work", str(tmp_path / "w"),
         "--override", "compile=false", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    g = json.loads(out.read_text())
    assert g["runs_completed"] == g["runs_expected"] == 1 and g["complete"] is True
    assert g["goal_met"] is None and g["mode"] == "cpu-smoke"
    assert g["command"].endswith("compile=false") and str(tmp_path) not in g["command"]
    assert g["modes"]["all"]["cached"] is True and g["modes"]["all"]["flops_cache_build"] > 0


@pytest.mark.slow
def test_trainer_sweep_quick_runs_each_mode_and_resumes(
    tmp_path: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m bench.trainer_sweep --quick`` on the tiny model: one Trainer run per mode with
    the mode's trainable parameters, the record rewritten per run, finished runs never redone."""
    from bench import trainer_sweep

    monkeypatch.setenv("BERTFREEZE_QUIET", "1")  # the CLI sets it in-process; undone after

    data = tmp_path / "train.csv"
    make_texts(200, seed=1).to_csv(data, index=False)
    args = [
        "--quick", "--data", str(data), "--out", str(tmp_path / "rec.json"), "--seeds", "0",
        "--override", f"model.pretrained={tiny_bert}", "--override", "model.name=tiny",
        "--override", "model.pooling=cls", "--override", "data.max_length=64",
    ]  # fmt: skip
    assert trainer_sweep.cli(args) == 0
    rec = json.loads((tmp_path / "rec.json").read_text())
    runs = {r["mode"]: r for r in rec["runs"]}
    assert set(runs) == {"none", "all", "last2"} and rec["comparison"] is None
    # each mode trains what bertfreeze's mode trains: frozen < last2 < none
    n = {m: r["trainable_params"] for m, r in runs.items()}
    assert n["all"] < n["last2"] < n["none"]
    for r in runs.values():
        assert 0.0 <= r["test_accuracy"] <= 1.0 and r["wall_s"] >= r["train_s"] > 0
        assert r["settings"]["epochs"] == 1 and r["git"]["commit"]
        assert r["rows"]["test"] > 0
    # a second call has nothing left to do; a record made with other settings is refused
    assert trainer_sweep.cli(args) == 0
    assert len(json.loads((tmp_path / "rec.json").read_text())["runs"]) == 3
    assert trainer_sweep.cli([*args, "--override", "data.batch_size=16"]) == 2


@pytest.mark.slow
def test_trainer_sweep_interleaves_ours_run_by_run(
    tmp_path: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--interleave``: each (mode, seed) also runs ``python train.py`` beside the Trainer run,
    in alternating order, and a recorded run without ours is redone, not kept."""
    from bench import trainer_sweep

    monkeypatch.setenv("BERTFREEZE_QUIET", "1")
    data = tmp_path / "train.csv"
    make_texts(200, seed=1).to_csv(data, index=False)
    args = [
        "--quick", "--data", str(data), "--out", str(tmp_path / "rec.json"), "--seeds", "0,1",
        "--modes", "all", "--override", f"model.pretrained={tiny_bert}", "--override",
        "model.name=tiny", "--override", "model.pooling=cls", "--override", "data.max_length=64",
    ]  # fmt: skip
    assert trainer_sweep.cli([*args[:6], "0", *args[7:]]) == 0  # seed 0, not interleaved
    assert trainer_sweep.cli([*args, "--interleave"]) == 0
    runs = json.loads((tmp_path / "rec.json").read_text())["runs"]
    assert [(r["mode"], r["seed"]) for r in runs] == [("all", 0), ("all", 1)]
    assert [r["ours"]["order"] for r in runs] == ["first", "second"]
    for r in runs:
        o = r["ours"]
        assert o["process_s"] >= o["wall_s"] >= o["fit_s"] > 0 and 0 <= o["test_accuracy"] <= 1
        assert o["precision"] == r["settings"]["precision"] and o["git"]["commit"]


def test_trainer_sweep_runs_at_the_committed_studys_precision(tmp_path: Path) -> None:
    """Like with like: the competitor runs at the precision the study's runs recorded (32-true
    for the committed studies), not at ``auto`` (bf16 on a native-bf16 CPU); a precision
    override that would leave the Trainer's bf16 flag behind is refused."""
    from bench import trainer_sweep

    assert trainer_sweep.study_precision(REPO / "results" / "disaster-tweets") == "32-true"
    assert trainer_sweep.study_precision(tmp_path) == "auto"  # no study: training's default
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    import pandas as pd

    pd.DataFrame({"precision": ["32-true", "bf16-mixed"]}).to_csv(mixed / "runs.csv")
    assert trainer_sweep.study_precision(mixed) == "auto"
    data = tmp_path / "t.csv"
    make_texts(20, seed=1).to_csv(data, index=False)
    args = ["--data", str(data), "--override", "trainer.precision=32-true"]
    assert trainer_sweep.cli(args) == 2


def test_trainer_sweep_scores_predictions_in_the_order_the_trainer_returns_them() -> None:
    """transformers 5 evaluates length-grouped under group_by_length: predictions come back
    permuted, with label_ids permuted alike. Scoring them against the test rows in dataset
    order read ~0.5 accuracy for a good model."""
    from types import SimpleNamespace

    import numpy as np
    import torch

    from bench.trainer_sweep import score_prediction

    class Sigmoid:
        def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(logits.float())

    y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    perm = np.array([3, 0, 7, 5, 1, 2, 6, 4])
    logits = np.where(y == 1, 3.0, -3.0).astype(np.float32)  # a perfect model
    pred = SimpleNamespace(predictions=logits[perm], label_ids=y[perm])
    assert score_prediction(pred, Sigmoid(), y) == (1.0, 1.0)
    with pytest.raises(RuntimeError, match="other labels"):
        score_prediction(SimpleNamespace(predictions=logits, label_ids=1 - y[:7]), Sigmoid(), y[:7])


def test_trainer_sweep_compares_on_shared_seeds_with_the_mdd(tmp_path: Path) -> None:
    """The sweep ratio and 'equal accuracy' come from the seeds both sides ran, per mode."""
    import pandas as pd

    from bench.trainer_sweep import compare

    rows = []
    for mode, acc in (("none", 0.83), ("all", 0.82), ("last2", 0.80)):
        for s in range(3):
            rows.append(
                {
                    "freeze": mode,
                    "seed": s,
                    "test_accuracy": acc + 0.01 * s,
                    "wall_time_s": 10.0,
                    "cpu_capability": "AVX2",
                    "precision": "32-true",
                }
            )
    (tmp_path / "runs.csv").write_text(pd.DataFrame(rows).to_csv(index=False))
    here = {"cpu_capability": "AVX2", "precision": "32-true"}
    hf = [
        {"mode": m, "seed": s, "test_accuracy": a + 0.01 * s, "wall_s": 20.0, "settings": here}
        for m, a in (("none", 0.83), ("all", 0.82), ("last2", 0.70))
        for s in range(3)
    ]
    c = compare(hf[:-1], tmp_path)  # last2 has 2 of 3 seeds: not complete
    assert c["total"]["complete"] is False and c["modes"]["last2"]["seeds"] == [0, 1]
    c = compare(hf, tmp_path)
    assert c["total"]["complete"] and c["total"]["speedup"] == 2.0
    assert c["modes"]["none"]["equal_accuracy"] is True
    assert c["modes"]["last2"]["equal_accuracy"] is False  # 0.10 apart, sd 0.01
    assert c["total"]["equal_accuracy"] is False and c["total"]["met"] is False

    # the page: a ratio only for a complete record, never for a partial one
    from bench.render import trainer_sweep_section

    assert "not measured" in trainer_sweep_section(tmp_path)
    run = {
        "date": "2026-11-28T07:00:00",
        "git": {"commit": "abc"},
        "settings": {"threads": 2, "precision": "32-true"},
    }
    rec = {"cpu": {"model": "EPYC", "capability": "AVX2"}, "runs": [run] * 9}
    (tmp_path / "trainer_sweep").mkdir()
    (tmp_path / "trainer_sweep" / "AVX2-2cores.json").write_text(
        json.dumps({**rec, "comparison": compare(hf[:-1], tmp_path)})
    )
    text = trainer_sweep_section(tmp_path)
    # per mode on the seeds both have, but no sweep row, total ratio or verdict
    assert "in progress" in text and "| last2 | 2 |" in text and "| none | 3 |" in text
    assert "**sweep**" not in text and "Goal" not in text
    (tmp_path / "trainer_sweep" / "AVX2-2cores.json").write_text(
        json.dumps({**rec, "comparison": c})
    )
    text = trainer_sweep_section(tmp_path)
    assert "| **sweep** | 9 |" in text and "**2.00×**" in text and "**not met**" in text
    assert "| last2 | 3 |" in text and "| no |" in text
    assert "ours: the committed study, runs at ?" in text  # no environment.json here
    assert "Trainer runs on 2026-11-28 at abc;" in text  # one day: not "from X to X"
    (tmp_path / "environment.json").write_text(json.dumps({"run_commits": ["ff7bc01d9c42"]}))
    assert compare(hf, tmp_path)["study_commits"] == ["ff7bc01d9c42"]
    # another kind of CPU on the Trainer side: no ratio, no verdict
    other = [{**r, "settings": {"cpu_capability": "AVX512", "precision": "bf16-mixed"}} for r in hf]
    c_other = compare(other, tmp_path)
    assert c_other["mismatch"] and c_other["total"]["met"] is False
    (tmp_path / "trainer_sweep" / "AVX2-2cores.json").write_text(
        json.dumps({**rec, "comparison": c_other})
    )
    assert "no ratio" in trainer_sweep_section(tmp_path) and "×" not in trainer_sweep_section(
        tmp_path
    )

    # --interleave: ours for none comes from the runs beside the Trainer's, not the study
    def ours(r: dict, acc_shift: float = 0.0, cap: str = "AVX2") -> dict:
        o = {"wall_s": 5.0, "process_s": 7.0, "test_accuracy": r["test_accuracy"] + acc_shift}
        return {**r, "ours": {**o, "cpu_capability": cap, "precision": "32-true"}}

    inter = [ours(r) if r["mode"] == "none" else r for r in hf]
    c = compare(inter, tmp_path)
    none = c["modes"]["none"]
    assert none["ours_source"] == "interleaved" and none["same_accuracy_as_study"] is True
    assert none["wall_s"]["ours"] == 15.0 and none["study_wall_s"] == 30.0
    assert c["modes"]["all"]["ours_source"] == "study"
    assert c["total"]["interleaved_modes"] == ["none"] and c["total"]["complete"]
    assert c["total"]["wall_s"]["ours"] == 75.0  # 15 interleaved + 2 x 30 from the study
    (tmp_path / "trainer_sweep" / "AVX2-2cores.json").write_text(
        json.dumps({**rec, "comparison": c})
    )
    text = trainer_sweep_section(tmp_path)
    assert "| none | 3 | interleaved (= study) |" in text and "| all | 3 | study |" in text
    assert "interleaved run by run for none" in text and "none: 30.0 s in the study" in text
    assert none["ours_startup_s"] == 2.0 and "mean per run: none 2.0 s" in text
    # 3 start-ups of 2 s added to ours' 75 s: 180 / 81 s
    assert "(6.0 s in all," in text and "81.0 s, 2.22×." in text
    # interleaved runs that disagree with the study are flagged; another CPU gives no ratio
    off = compare([ours(r, 0.01) if r["mode"] == "none" else r for r in hf], tmp_path)
    assert off["modes"]["none"]["same_accuracy_as_study"] is False
    assert "significant" not in text and none["welch_p"] == 1.0  # identical accuracies
    # a gap inside the MDD (0.031) that Welch still finds significant is said so, with its p
    gap = compare([ours(r, 0.026) if r["mode"] == "none" else r for r in hf], tmp_path)
    g = gap["modes"]["none"]
    assert g["equal_accuracy"] is True and g["welch_p"] == pytest.approx(0.0334, abs=1e-4)
    (tmp_path / "trainer_sweep" / "AVX2-2cores.json").write_text(
        json.dumps({**rec, "comparison": gap})
    )
    text = trainer_sweep_section(tmp_path)
    assert "| yes | 0.033 |" in text and "significant (Welch" in text
    assert "for `none` (+0.0260, p = 0.033)" in text
    elsewhere = compare([ours(r, cap="AVX512") if r["mode"] == "none" else r for r in hf], tmp_path)
    assert elsewhere["mismatch"] and elsewhere["total"]["met"] is False

    # ours at another precision than the study's (bf16 on a native-bf16 CPU): its seeds are not
    # expected to match the 32-true study, so no "≠ study!" flag and no drift figure from it
    def at_bf16(r: dict) -> dict:
        o = {**r, "ours": {**ours(r, 0.01)["ours"], "precision": "bf16-mixed"}}
        return {**o, "settings": {**r["settings"], "precision": "bf16-mixed"}}

    bf16 = compare([at_bf16(r) for r in hf], tmp_path)
    b_none = bf16["modes"]["none"]
    assert b_none["same_accuracy_as_study"] is None and b_none["study_precision"] == "32-true"
    assert "study_wall_s" not in b_none and bf16["mismatch"] is None
    (tmp_path / "trainer_sweep" / "AVX2-2cores.json").write_text(
        json.dumps({**rec, "comparison": bf16})
    )
    text = trainer_sweep_section(tmp_path)
    assert "| none | 3 | interleaved (study at 32-true: not compared) |" in text
    assert "≠ study" not in text and "in the study" not in text
    # a mode where only some Trainer runs have ours is not interleaved
    part = compare([ours(r) if (r["mode"], r["seed"]) == ("none", 0) else r for r in hf], tmp_path)
    assert part["modes"]["none"]["ours_source"] == "study"


def test_trainer_sweep_refresh_recomputes_each_full_records_comparison(tmp_path: Path) -> None:
    """``--refresh``: a record made on another CPU cannot be rerun here, yet its comparison
    follows the current code; smoke-test records are left alone."""
    import pandas as pd

    from bench.trainer_sweep import compare, refresh

    rows = [
        {"freeze": m, "seed": s, "test_accuracy": 0.8 + 0.01 * s, "wall_time_s": 10.0,
         "cpu_capability": "AVX2", "precision": "32-true"}
        for m in ("none", "all", "last2") for s in range(2)
    ]  # fmt: skip
    (tmp_path / "runs.csv").write_text(pd.DataFrame(rows).to_csv(index=False))
    here = {"cpu_capability": "AVX2", "precision": "32-true"}
    runs = [
        {"mode": m, "seed": s, "test_accuracy": 0.8, "wall_s": 20.0, "settings": here}
        for m in ("none", "all", "last2")
        for s in range(2)
    ]
    out = tmp_path / "records"
    out.mkdir()
    (out / "full.json").write_text(json.dumps({"runs": runs, "comparison": {"stale": True}}))
    (out / "quick.json").write_text(json.dumps({"quick": True, "runs": runs, "comparison": None}))
    assert refresh(out, tmp_path) == 0
    assert json.loads((out / "full.json").read_text())["comparison"] == compare(runs, tmp_path)
    assert json.loads((out / "quick.json").read_text())["comparison"] is None


def test_trainer_sweep_more_seeds_pool_with_the_main_record_and_render(tmp_path: Path) -> None:
    """More seeds of one mode (``--out .../more-seeds``) are compared alone and pooled with the
    30-run record of the same name (stored with the runs, recomputed by ``--refresh``), and
    never pooled with runs made otherwise; the page shows both rows and the pooled verdict."""
    import pandas as pd

    from bench.render import MORE_SEEDS, trainer_sweep_section
    from bench.trainer_sweep import compare, pooled_comparison, refresh

    study = tmp_path / "study"
    study.mkdir()
    rows = [
        {"freeze": m, "seed": s, "test_accuracy": 0.8, "wall_time_s": 10.0,
         "cpu_capability": "AVX512", "precision": "32-true"}
        for m in ("none", "all", "last2") for s in range(2)
    ]  # fmt: skip
    (study / "runs.csv").write_text(pd.DataFrame(rows).to_csv(index=False))
    here = {"cpu_capability": "AVX512", "precision": "bf16-mixed", "threads": 2}

    def run(mode: str, seed: int, hf: float, ours: float) -> dict:
        o = {"wall_s": 5.0, "test_accuracy": ours, "cpu_capability": "AVX512",
             "precision": "bf16-mixed"}  # fmt: skip
        return {"mode": mode, "seed": seed, "test_accuracy": hf, "wall_s": 10.0,
                "settings": here, "ours": o, "date": "2026-12-07T20:00:00",
                "git": {"commit": "f00dfeed"}}  # fmt: skip

    cpu = {"model": "EPYC", "capability": "AVX512"}
    main_runs = [run(m, s, 0.84 + 0.01 * s, 0.83 + 0.01 * s) for m in ("none", "all", "last2")
                 for s in range(2)]  # fmt: skip
    extra_runs = [run("none", s, 0.84 + 0.01 * (s % 2), 0.84 + 0.01 * (s % 2)) for s in (2, 3)]
    main = {"cpu": cpu, "runs": main_runs, "comparison": compare(main_runs, study)}
    extra = {"cpu": cpu, "runs": extra_runs, "comparison": compare(extra_runs, study)}
    pooled = pooled_comparison(main, extra, study)
    assert list(pooled) == ["none"] and pooled["none"]["seeds"] == [0, 1, 2, 3]
    assert pooled["none"]["difference"] == pytest.approx(-0.005)  # -0.01 on 0-1, 0 on 2-3
    assert extra["comparison"]["modes"]["none"]["difference"] == 0.0  # the new seeds alone
    other = {**extra, "cpu": {"model": "Xeon", "capability": "AVX512"}}
    assert pooled_comparison(main, other, study) is None  # another CPU: never pooled
    at_fp32 = [{**r, "settings": {**here, "precision": "32-true"}} for r in extra_runs]
    assert pooled_comparison(main, {**extra, "runs": at_fp32}, study) is None

    # stored with the runs by --refresh, and shown under the main record's table
    out = tmp_path / "results" / "trainer_sweep"
    (out / MORE_SEEDS).mkdir(parents=True)
    name = "AVX512-bf16-2cores-epyc-bf16-mixed.json"
    (out / name).write_text(json.dumps(main))
    (out / MORE_SEEDS / name).write_text(json.dumps(extra))
    assert "not pooled yet" in trainer_sweep_section(tmp_path / "results")
    assert refresh(out, study) == 0
    assert json.loads((out / MORE_SEEDS / name).read_text())["pooled"] == pooled
    text = trainer_sweep_section(tmp_path / "results")
    assert (
        "**More seeds for `none`**" in text
        and "--precision bf16-mixed --modes none --seeds 2-3" in text
    )
    assert "| none: seeds 2-3 (new) | 2 |" in text and "| none: seeds 0-3 (pooled) | 4 |" in text
    assert "| -0.0050 |" in text and "Pooled, no difference is significant" in text
    (out / MORE_SEEDS / name).write_text(json.dumps({**other, "pooled": None}))
    assert "not pooled" in trainer_sweep_section(tmp_path / "results")


def test_all_gap_is_set_beside_the_cache_ablation_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a pooled ``all`` gap the page quotes each committed cache-ablation study, cache on
    minus cache off whichever arm stats.json lists first, and says whether the gap lies in the
    interval of the study at its own precision (else at the other, named); without a study, or
    without an ``all`` gap, it says nothing."""
    from bench import render

    fp32, bf16 = tmp_path / "cache-ablation", tmp_path / "cache-ablation-bf16"
    fp32.mkdir(), bf16.mkdir()
    monkeypatch.setattr(render, "CACHE_ABLATIONS", {"32-true": fp32, "bf16-mixed": bf16})
    pooled = {"all": {"difference": 0.0054}}
    assert render._cache_ablation_note(pooled, "bf16-mixed") == []  # no study committed
    entry = {
        "kind": "recipe_pair", "recipe_key": "cache.enabled", "metric": "accuracy",
        "test": "welch", "a": "minilm, cache.enabled=False / all",
        "b": "minilm, cache.enabled=True / all", "mean_a": 0.809, "mean_b": 0.815,
        "mean_diff": -0.006, "ci_low": -0.010, "ci_high": -0.002, "p": 0.004,
        "n_a": 20, "n_b": 20,
    }  # fmt: skip
    (fp32 / "stats.json").write_text(json.dumps([entry]))
    text = "\n".join(render._cache_ablation_note(pooled, "bf16-mixed"))
    assert "at 32-true, `results/cache-ablation/`" in text
    assert "0.8150 vs 0.8090, cache on − off +0.0060 (95% CI +0.0020 to +0.0100)" in text
    assert (
        "p = 0.004" in text and "(+0.0054, at bf16-mixed) lies inside the 32-true interval" in text
    )
    assert "lies outside" in "".join(
        render._cache_ablation_note({"all": {"difference": 0.02}}, "x")
    )
    assert render._cache_ablation_note({"none": {"difference": 0.01}}, "x") == []
    narrow = {**entry, "mean_b": 0.810, "mean_diff": -0.001, "ci_low": -0.002, "ci_high": 0.0}
    (bf16 / "stats.json").write_text(json.dumps([narrow]))
    env = {"cpu_model": "Xeon", "cpu_bf16_isa": ["avx512_bf16", "amx_bf16"]}
    (bf16 / "environment.json").write_text(json.dumps(env))
    text = "\n".join(render._cache_ablation_note(pooled, "bf16-mixed"))
    assert "at 32-true, `results/cache-ablation/`" in text  # no environment.json: no CPU named
    assert "at bf16-mixed on Xeon (AVX512_BF16, AMX_BF16), `results/cache-ablation-bf16/`" in text
    assert "lies outside the interval at the same precision" in text


def test_git_state_is_dirty_for_code_changes_not_for_bench_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumable bench rewrites its record under bench/results after every run; that must not
    mark the next run's code as uncommitted, while a change to the timed code must."""
    import shutil
    import subprocess

    from bench import run as bench_run

    repo = tmp_path / "repo"
    for d in ("src", "bench/results"):
        (repo / d).mkdir(parents=True)
    (repo / "src" / "a.py").write_text("x = 1\n")
    (repo / "bench" / "results" / "r.json").write_text("{}\n")

    def git(*a: str) -> None:
        subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.setattr(bench_run, "REPO", repo)
    assert bench_run.git_state()["dirty"] is False
    (repo / "bench" / "results" / "r.json").write_text('{"runs": [1]}\n')
    assert bench_run.git_state()["dirty"] is False
    (repo / "src" / "a.py").write_text("x = 2\n")
    assert bench_run.git_state()["dirty"] is True


def test_verbatim_e2e_compares_accuracy_seed_by_seed_and_renders(tmp_path: Path) -> None:
    """bench.verbatim_e2e: accuracy against the study on the same seeds (identical seeds
    counted, difference inside the MDD = equal accuracy), and the page shows the command's
    whole wall time next to the sum of its runs."""
    import pandas as pd

    from bench.render import e2e_section
    from bench.verbatim_e2e import accuracy_vs_study

    study = pd.DataFrame(
        {"freeze": ["none"] * 3, "seed": [0, 1, 2], "test_accuracy": [0.80, 0.82, 0.84]}
    )
    here = study.assign(test_accuracy=[0.80, 0.83, 0.84])
    acc = accuracy_vs_study(here, study)["none"]
    assert acc["identical_seeds"] == 2
    assert acc["difference"] == round(0.01 / 3, 4)
    assert acc["equal_accuracy"] is True
    far = study.assign(test_accuracy=[0.90, 0.92, 0.94])
    assert accuracy_vs_study(far, study)["none"]["equal_accuracy"] is False

    peak = flops.Peak(1e9, (8, 8, 8), "float32", 2, {})
    rec = {
        "date": "2026-12-06T14:14:00",
        "git": {"commit": "ba00ad3bc8aa", "dirty": False},
        "command": "python train.py -m freeze=none,all,last2 'seed=range(10)'",
        "extra_overrides": [],
        "cpu": {"model": "X", "capability": "AVX2", "native_bf16": False},
        # the resolved precision stored as the request, as records before 2026-12-07 did
        "precision": {"precision": "32-true", "requested": "32-true"},
        "peak": peak.as_record(),
        "peak_rounds_flops_per_s": {"before": [1e9], "after": [9e8]},
        "modes": {
            "none": {
                "runs": 3,
                "cached": False,
                "frozen_prefix_layers": 0,
                "wall_s": 60.0,
                "floor_s": 40.0,
                "wall_over_floor": 1.5,
                "mfu": 0.67,
            }
        },  # fmt: skip
        "total": {
            "runs": 3,
            "sum_run_wall_s": 60.0,
            "study_wall_s": 70.0,
            "floor_s": 40.0,
            "wall_over_floor": 1.5,
            "study_wall_over_floor": 1.75,
            "mfu": 0.67,
            "target": 1.3,
            "met": False,
        },  # fmt: skip
        "accuracy_vs_study": {"study": "disaster-tweets", "none": acc},
    }
    assert "not measured yet" in e2e_section(tmp_path)
    (tmp_path / "verbatim_sweep_e2e").mkdir()
    (tmp_path / "verbatim_sweep_e2e" / "x.json").write_text(json.dumps(rec))
    text = e2e_section(tmp_path)
    assert "The whole command took **70.0 s** (1.75× the floor" in text
    assert "| yes | 2 of 3 |" in text and "**not met**" in text
    assert "**32-true** (asked auto)" in text  # no override: the shipped default was asked


def test_verbatim_e2e_compares_accuracy_only_on_the_studys_data(tmp_path: Path) -> None:
    """bench.verbatim_e2e: the runs' data sha256 must be the study's before accuracies are set
    side by side; the page says which (checked, not compared, or recorded before the check)."""
    from bench.render import _e2e_accuracy_basis
    from bench.verbatim_e2e import data_check

    env = {"data": {"train.csv": "a" * 64}}
    same = data_check({"a" * 64}, env)
    assert same["same"] is True
    assert data_check({"b" * 64}, env)["same"] is False
    assert data_check({"a" * 64, "b" * 64}, env)["same"] is False  # runs on two files
    assert data_check(set(), env)["same"] is False  # nothing recorded: not the same
    assert data_check({"a" * 64}, {})["same"] is False  # study without a data record

    assert "checked" in _e2e_accuracy_basis({"study": "s", "data": same})
    other = _e2e_accuracy_basis({"study": "s", "data": data_check({"b" * 64}, env)})
    assert "**not compared**" in other and "bbbbbbbbbbbb" in other
    assert "not checked" in _e2e_accuracy_basis({"study": "s"})


def test_verbatim_e2e_page_names_the_precision_the_command_asked_for() -> None:
    """The shipped command adds no precision override, so it asked ``auto`` even where the
    record's ``precision.requested`` holds the resolved bf16-mixed (records before the fix)."""
    from bench.render import asked_precision

    assert asked_precision([]) == "auto"
    assert asked_precision(["trainer.precision=32-true"]) == "32-true"
    assert asked_precision(["cache.bf16=false"]) == "auto"


def test_render_keeps_other_cpus_benchmarks_with_their_commit(tmp_path: Path) -> None:
    """bench/results/machines/<cpu>/: a run on one CPU must not erase another CPU's figures;
    the page lists them with CPU and commit, and does not repeat the run the tables show."""
    from bench.render import other_machines_section

    def rec(model: str, commit: str, date: str, ratio: float) -> dict:
        side = {"name": "x", "seconds": 10.0, "mfu": 0.5, "accuracy": "0.8"}
        return {
            "schema": SCHEMA, "key": "a", "name": "frozen_sweep", "date": date,
            "git": {"commit": commit}, "threads": 2,
            "cpu": {"model": model, "capability": "AVX2", "native_bf16": False},
            "precision": {"precision": "32-true"},
            "lines": [{"key": "a", "label": "frozen sweep", "ours": side,
                       "naive": {**side, "extrapolated": True}, "ratio": ratio}],
        }  # fmt: skip

    shown = rec("Shown CPU", "aaaaaaaaaaaa", "2026-12-07T10:00:00", 11.0)
    other = rec("Other CPU", "bbbbbbbbbbbb", "2026-11-27T10:00:00", 15.5)
    for folder, r in (("shown", shown), ("other", other)):
        (tmp_path / "machines" / folder).mkdir(parents=True)
        (tmp_path / "machines" / folder / "frozen_sweep.json").write_text(json.dumps(r))
    text = other_machines_section(tmp_path, [shown])
    assert "Other CPU, AVX2, 2 threads, 32-true | bbbbbbbbbb, 2026-11-27" in text
    assert "**15.50×**" in text and "10.0 s\\*" in text
    assert "Shown CPU" not in text
    assert other_machines_section(tmp_path, [shown, other]) == ""
