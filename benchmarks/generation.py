"""Cached generation, ours against transformers.generate, on the same random GPT-2 (6 layers x 384, vocab 8000).

Prompt 32 tokens, 128 new tokens, greedy; batch 1 and batch 8. Outputs are compared before any timing.
Usage: hatch run python benchmarks/generation.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# "python benchmarks/generation.py" puts benchmarks/ first on sys.path, where tokenizers.py would shadow the
# HF `tokenizers` package that transformers imports
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import torch  # noqa: E402
import transformers  # noqa: E402

from bert4torch.generation import generate  # noqa: E402
from bert4torch.models import build_transformer_model  # noqa: E402

PROMPT, NEW = 32, 128


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=6, n_embd=384, n_head=6, vocab_size=8000, n_positions=512,
                                   bos_token_id=0, eos_token_id=0)
    ref = transformers.GPT2LMHeadModel(cfg).eval()
    with tempfile.TemporaryDirectory() as tmp:
        ref.save_pretrained(tmp)
        ours = build_transformer_model(config_path=tmp, checkpoint_path=tmp, model="gpt2").eval()
    # no eos: every run makes exactly NEW tokens
    ref.generation_config.eos_token_id = None
    summary = []
    for batch in (1, 8):
        ids = torch.randint(0, 8000, (batch, PROMPT), generator=torch.Generator().manual_seed(batch))

        def run_ours() -> torch.Tensor:
            return generate(ours, ids, max_new_tokens=NEW)

        def run_ref() -> torch.Tensor:
            with torch.inference_mode():
                return ref.generate(ids, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, pad_token_id=0)[:, PROMPT:]

        same = run_ours().tolist() == run_ref().tolist()
        ratios, t_ours, t_ref = [], [], []
        for _ in range(args.rounds):
            t = time.perf_counter(); run_ours(); a = time.perf_counter() - t
            t = time.perf_counter(); run_ref(); b = time.perf_counter() - t
            t_ours.append(a); t_ref.append(b); ratios.append(b / a)
        tok = batch * NEW
        line = (f"batch {batch}: ours {tok / statistics.median(t_ours):7.1f} tok/s  transformers "
                f"{tok / statistics.median(t_ref):7.1f} tok/s  speedup x{statistics.median(ratios):.2f} "
                f"(min {min(ratios):.2f}, max {max(ratios):.2f})  same tokens: {same}")
        print(line, flush=True)
        summary.append(statistics.median(ratios))
    print(f"summary: median speedup over transformers.generate {min(summary):.2f}..{max(summary):.2f}")


if __name__ == "__main__":
    main()
