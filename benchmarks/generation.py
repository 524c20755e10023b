"""Cached generation, ours against transformers.generate, in one run on the same random weights.

GPT-2 of 6 layers x 384, vocab 8000; 32-token prompts, 128 new tokens (no end id, so every run makes all of them):
batch 1 greedy, batch 8 greedy, 4 beams, a T5 v1.1 of the same size with 4 beams, and ours with bf16 weights at
batch 1 against transformers in fp32. Tokens are compared before any timing. Each round runs, one after the other,
ours, ours on the model's own ``forward`` (``--generic``: the path without the preallocated cache, what ``generate``
ran before it), transformers, and, at batch 1, a plain read of the weights; each ratio is the median of the per-round
ratios, with its min and max. The batch-1 ceiling is the memory bandwidth: a token cannot be made faster than the
weights are read, so the ceiling is 1 / (seconds to read every weight matrix once: the fastest of a sum, a max and a
matrix-vector product over them, best of 3 right after a generation), measured in the same rounds. ``--bandwidth``
also prints the share against a fixed figure (../shared/BENCHMARKS.md gives 15 GB/s for the 2-core EPYC machines;
the weights here fit in the cache and read faster). On a busy shared machine, ``--threads 1`` keeps the ratios
meaningful: two threads wait on a descheduled partner at every parallel region.
Usage: hatch run bench-generation [--rounds 5] [--threads 2] [--generic] [--bandwidth 15e9] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# "python benchmarks/generation.py" puts benchmarks/ first on sys.path, where tokenizers.py would shadow the
# HF `tokenizers` package that transformers imports
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import torch  # noqa: E402
import transformers  # noqa: E402

from bert4torch.generation import _generate, generate  # noqa: E402
from bert4torch.models import build_transformer_model  # noqa: E402

PROMPT, NEW, VOCAB = 32, 128, 8000
Run = Callable[[], torch.Tensor]


def _load(ref: torch.nn.Module, name: str) -> torch.nn.Module:
    ref.generation_config.eos_token_id = None  # no end id: every run makes exactly NEW tokens
    with tempfile.TemporaryDirectory() as tmp:
        ref.save_pretrained(tmp)
        return build_transformer_model(config_path=tmp, checkpoint_path=tmp, model=name).eval()


def _reader(model: torch.nn.Module) -> tuple[int, Callable[[], float]]:
    """The bytes of the weight matrices (tied ones once) and a function that reads each of them once.

    A decoding step at batch 1 reads every weight once, so reading the same tensors, as warm as the steps leave
    them, is the ceiling a step can reach (the matrices hold all but a few kB of the weights). Which torch kernel
    reads fastest depends on the thread count (on the quiet benchmark machine, 2 threads: a sum of each flat matrix
    49 GB/s, its norm 29), so each read takes the fastest of three."""
    matrices = list({p.data_ptr(): p.detach() for p in model.parameters() if p.dim() >= 2}.values())
    flat = [w.reshape(-1) for w in matrices]  # torch reduces a flat view faster than the 2-D matrix
    vectors = {w.shape[1]: torch.ones(w.shape[1], dtype=w.dtype) for w in matrices}
    probes = [lambda: [f.sum() for f in flat], lambda: [f.amax() for f in flat],
              lambda: [torch.mv(w, vectors[w.shape[1]]) for w in matrices]]

    def read() -> float:
        return min(_seconds(probe) for probe in probes)

    return sum(w.numel() * w.element_size() for w in matrices), read


@contextlib.contextmanager
def _generic_path() -> Iterator[None]:
    """Within it, ``generate`` runs every model on its own ``forward`` (no family has a preallocated cache)."""
    saved = _generate.family_of
    _generate.family_of = lambda model: None
    try:
        yield
    finally:
        _generate.family_of = saved


def _seconds(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def compare(label: str, runs: dict[str, Run], rows: int, rounds: int, read: Callable[[], float] | None,
            bandwidth: tuple[int, float] | None) -> dict[str, object]:
    """Check the tokens, then time every run and the weight read in each round; print one line, return the figures."""
    outputs = {name: run().tolist() for name, run in runs.items()}
    same = all(out == outputs["ours"] for out in outputs.values())
    times: dict[str, list[float]] = {name: [] for name in runs}
    reads: list[float] = []
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(_seconds(run))
        if read is not None:
            reads.append(min(read() for _ in range(3)))
    rate = {name: rows * NEW / statistics.median(t) for name, t in times.items()}
    ratios = [r / o for o, r in zip(times["ours"], times["transformers"], strict=True)]
    result: dict[str, object] = {"label": label, "same_tokens": same, "tokens_per_s": rate,
                                 "ratio": statistics.median(ratios), "ratio_min": min(ratios),
                                 "ratio_max": max(ratios)}
    line = (f"{label:<30} ours {rate['ours']:6.1f} tok/s  transformers {rate['transformers']:6.1f}  "
            f"x{result['ratio']:.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    if "generic" in times:
        before = [g / o for o, g in zip(times["ours"], times["generic"], strict=True)]
        result["vs_generic"] = statistics.median(before)
        line += f"  generic path {rate['generic']:6.1f} (ours x{result['vs_generic']:.2f})"
    if reads:
        # ours makes rows * NEW / o tokens/s, the ceiling is rows / r: the share is NEW * r / o
        shares = [NEW * r / o for o, r in zip(times["ours"], reads, strict=True)]
        result["ceiling_share"] = statistics.median(shares)
        result["read_gb_s"] = bandwidth[0] / statistics.median(reads) / 1e9 if bandwidth else None
        line += f"  {result['ceiling_share']:4.0%} of the read ceiling ({result['read_gb_s']:.0f} GB/s measured)"
        if bandwidth and bandwidth[1]:
            fixed = rate["ours"] * bandwidth[0] / rows / bandwidth[1]
            line += f", {fixed:4.0%} of {bandwidth[1] / 1e9:.0f} GB/s"
    print(f"{line}  same tokens: {same}", flush=True)
    return result


def _hf(model: torch.nn.Module, ids: torch.Tensor, **kw: object) -> torch.Tensor:
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW, min_new_tokens=NEW,
                             do_sample=False, pad_token_id=0, **kw)
    return out[:, 1:] if model.config.is_encoder_decoder else out[:, ids.shape[1]:]


def _runs(ours: torch.nn.Module, ref: torch.nn.Module, ids: torch.Tensor, beams: int, generic: bool) -> dict[str, Run]:
    runs: dict[str, Run] = {"ours": lambda: generate(ours, ids, max_new_tokens=NEW, num_beams=beams)}
    if generic:
        def plain() -> torch.Tensor:
            with _generic_path():
                return generate(ours, ids, max_new_tokens=NEW, num_beams=beams)

        runs["generic"] = plain
    runs["transformers"] = lambda: _hf(ref, ids, num_beams=beams)
    return runs


def _bf16_differences(fp32: torch.nn.Module, bf16: torch.nn.Module, prompts: int) -> str:
    differ = 0
    for seed in range(prompts):
        ids = torch.randint(0, VOCAB, (1, PROMPT), generator=torch.Generator().manual_seed(100 + seed))
        differ += generate(fp32, ids, max_new_tokens=NEW).tolist() != generate(bf16, ids, max_new_tokens=NEW).tolist()
    line = f"bf16 weights: {differ} of {prompts} prompts give other tokens than fp32 within {NEW} new tokens"
    print(line, flush=True)
    return line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--generic", action="store_true", help="also time ours on the model's own forward")
    parser.add_argument("--bandwidth", type=float, default=15e9, help="a fixed bytes/s to print the share against")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ref = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_layer=6, n_embd=384, n_head=6, vocab_size=VOCAB, n_positions=512, bos_token_id=0, eos_token_id=0)).eval()
    ours = _load(ref, "gpt2")
    size, read = _reader(ours)
    results = []
    for label, batch, beams in (("gpt2 batch 1 greedy", 1, 1), ("gpt2 batch 8 greedy", 8, 1), ("gpt2 4 beams", 1, 4)):
        ids = torch.randint(0, VOCAB, (batch, PROMPT), generator=torch.Generator().manual_seed(batch))
        ceiling = batch == beams == 1
        results.append(compare(label, _runs(ours, ref, ids, beams, args.generic), batch, args.rounds,
                               read if ceiling else None, (size, args.bandwidth) if ceiling else None))
    ids = torch.randint(0, VOCAB, (1, PROMPT), generator=torch.Generator().manual_seed(1))
    bf16 = _load(ref, "gpt2").to(torch.bfloat16)
    size16, read16 = _reader(bf16)
    runs = _runs(bf16, ref, ids, 1, args.generic)
    results.append(compare("gpt2 batch 1 bf16 vs HF fp32", runs, 1, args.rounds, read16, (size16, args.bandwidth)))
    differences = _bf16_differences(ours, bf16, prompts=8)
    t5_ref = transformers.T5ForConditionalGeneration(transformers.T5Config(
        vocab_size=VOCAB, d_model=384, d_kv=64, d_ff=1024, num_layers=6, num_heads=6, feed_forward_proj="gated-gelu",
        tie_word_embeddings=False, decoder_start_token_id=0)).eval()
    t5 = _load(t5_ref, "t5.1.1")
    results.append(compare("t5.1.1 4 beams", _runs(t5, t5_ref, ids, 4, args.generic), 1, args.rounds, None, None))
    summary = ", ".join(f"{r['label']} x{r['ratio']:.2f}" for r in results)
    print(f"summary ({args.threads} threads, {args.rounds} rounds): {summary}; {differences}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "rounds": args.rounds, "results": results,
                                         "bf16": differences}, indent=1))


if __name__ == "__main__":
    main()
