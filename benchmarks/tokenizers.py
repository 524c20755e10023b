"""Speed of bert4torch.tokenizers.Tokenizer against HF ``tokenizers`` (Rust) on the same English corpus.

Protocol (shared/BENCHMARKS.md): both load all-MiniLM-L6-v2's vocabulary; outputs are checked equal first (ids,
token types, offsets on every line); each side is warmed up; then ``--rounds`` rounds interleave ours and theirs
and the median of the per-round ratios is printed with min and max. Also printed: the cost of offsets relative to
ids, a cold-cache pass, the memory of a stream of unique words (separate processes, peak RSS), and import time.

Run: ``hatch run bench-tokenizers`` (about a minute; ``--json out.json`` keeps the numbers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is named tokenizers.py: drop its folder from the path so ``import tokenizers`` finds HF's package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT / "tools"))

import tokenizers_corpus as corpus  # noqa: E402


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


MEMORY_CHILD = r"""
import random, resource, sys
from bert4torch.tokenizers import Tokenizer
tok = Tokenizer(sys.argv[1])
n = int(sys.argv[2])
rng = random.Random(0)
letters = "abcdefghijklmnopqrstuvwxyz"
marks = []
for i in range(n):
    # 8 never-seen words per text: every lookup misses the cache, which must stay bounded
    text = " ".join("".join(rng.choice(letters) for _ in range(9)) + str(i * 8 + k) for k in range(8))
    tok.encode(text, return_offsets="transformers")
    if (i + 1) % (n // 4) == 0:
        marks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
print(" ".join(map(str, marks)), max(map(len, (tok._word_ids, tok._word_spans, tok._chunk_ids, tok._chunk_spans))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines", type=int, default=12_000)
    parser.add_argument("--stream", type=int, default=60_000, help="texts in the unique-word memory stream")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from tokenizers import Tokenizer as HFTokenizer

    from bert4torch.tokenizers import Tokenizer

    model = corpus.minilm_dir()
    lines = list(corpus.english_lines(args.lines))
    ours = Tokenizer(model)
    cold = timed(lambda: [ours.encode(t) for t in lines])  # first pass: every word is new
    hf = HFTokenizer.from_file(str(model / "tokenizer.json"))
    hf.no_truncation()
    hf.no_padding()

    # 1. correctness first
    ref = hf.encode_batch(lines)
    ids, types, offs = ours.encode(lines, return_offsets="transformers")
    bad = sum(
        ids[k] != r.ids or types[k] != r.type_ids or offs[k] != r.offsets for k, r in enumerate(ref)
    )
    single_ids = [ours.encode(t)[0] for t in lines]
    bad += sum(a != b.ids for a, b in zip(single_ids, ref))
    n_tokens = sum(len(r.ids) for r in ref)
    print(f"corpus: {len(lines)} English lines (stdlib docstrings), {n_tokens} tokens; "
          f"outputs equal to HF on {len(lines) - bad}/{len(lines)} lines")
    if bad:
        raise SystemExit("outputs differ from HF tokenizers: no speed is reported")

    cases = {
        "single ids": (lambda c: [ours.encode(t) for t in c], lambda c: [hf.encode(t) for t in c]),
        "batch ids": (lambda c: ours.encode(c), lambda c: hf.encode_batch(c)),
        "single offsets": (
            lambda c: [ours.encode(t, return_offsets="transformers") for t in c],
            lambda c: [hf.encode(t).offsets for t in c],
        ),
        "batch offsets": (
            lambda c: ours.encode(c, return_offsets="transformers"),
            lambda c: [e.offsets for e in hf.encode_batch(c)],
        ),
    }
    # The machine is shared: alternate ours/HF every 1,000 lines (batches of 1,000 for the batch cases) so both
    # see the same load, and sum the times of a round over the whole corpus.
    chunks = [lines[i : i + 1000] for i in range(0, len(lines), 1000)]
    for fo, fh in cases.values():  # warm-up
        for c in chunks:
            fo(c)
            fh(c)
    results: dict[str, dict[str, float]] = {}
    per_round: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, (fo, fh) in cases.items():
            t_ours = t_hf = 0.0
            for c in chunks:
                t_ours += timed(lambda: fo(c))
                t_hf += timed(lambda: fh(c))
            per_round[name].append((t_ours, t_hf))
    for name, rounds in per_round.items():
        ratios = [h / o for o, h in rounds]  # >1: ours faster
        o_tps = n_tokens / statistics.median(o for o, _ in rounds)
        h_tps = n_tokens / statistics.median(h for _, h in rounds)
        results[name] = {"ours_tok_s": o_tps, "hf_tok_s": h_tps, "ratio_median": statistics.median(ratios),
                         "ratio_min": min(ratios), "ratio_max": max(ratios)}
        print(f"{name:15s} ours {o_tps / 1e3:7.0f}k tok/s   HF {h_tps / 1e3:7.0f}k tok/s   "
              f"ours/HF x{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")
    overhead = {
        kind: statistics.median(o_off / o_ids for (o_ids, _), (o_off, _) in
                                zip(per_round[f"{kind} ids"], per_round[f"{kind} offsets"]))
        for kind in ("single", "batch")
    }
    print(f"offsets cost vs ids (ours): single x{overhead['single']:.2f}, batch x{overhead['batch']:.2f}")
    print(f"cold cache (first pass, fresh tokenizer, single ids): {n_tokens / cold / 1e3:.0f}k tok/s")
    results["offsets_overhead"] = overhead
    results["cold_single_tok_s"] = n_tokens / cold

    # memory: a stream of never-repeating words, in its own process
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(model), str(args.stream)],
                         capture_output=True, text=True, check=True).stdout.split()
    marks, largest = [int(x) for x in out[:4]], out[4]
    print(f"memory, {args.stream} texts x 8 unique words: peak RSS after each quarter {marks} MiB "
          f"(largest cache holds {largest} entries at the end, bounded at 32768 each)")
    results["stream_rss_mib"] = marks  # type: ignore[assignment]

    code = "import time; t = time.perf_counter(); import bert4torch.tokenizers; print(time.perf_counter() - t)"
    imports = sorted(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout) for _ in range(5))
    print(f"import bert4torch.tokenizers: median {imports[2] * 1e3:.0f} ms over 5 fresh processes")
    results["import_s"] = imports[2]  # type: ignore[assignment]

    s, b = results["single ids"], results["batch ids"]
    print(f"summary: single encode x{s['ratio_median']:.2f} HF encode (goal 3), batch x{b['ratio_median']:.2f} "
          f"HF encode_batch (goal 2), offsets x{overhead['single']:.2f} the cost of ids (goal <= 2)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
