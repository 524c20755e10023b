"""Cached generation, ours against transformers.generate, in one run on the same random weights.

GPT-2 of 6 layers x 384, vocab 8000; 32-token prompts, 128 new tokens (no end id, so every run makes all of them):
batch 1 greedy, batch 8 greedy, 4 beams, a T5 v1.1 of the same size with 4 beams, and ours with bf16 weights at
batch 1 against transformers in fp32. Tokens are compared before any timing; ours and transformers alternate within
each round and the ratio is the median of the per-round ratios. The batch-1 ceiling is the memory bandwidth
(../shared/BENCHMARKS.md: a stream of weights reads at about 15 GB/s here): tokens/s x weight bytes / 15 GB/s.
Usage: hatch run python benchmarks/generation.py [--rounds 3] [--bandwidth 15e9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# "python benchmarks/generation.py" puts benchmarks/ first on sys.path, where tokenizers.py would shadow the
# HF `tokenizers` package that transformers imports
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import torch  # noqa: E402
import transformers  # noqa: E402

from bert4torch.generation import generate  # noqa: E402
from bert4torch.models import build_transformer_model  # noqa: E402

PROMPT, NEW, VOCAB = 32, 128, 8000


def _load(ref: torch.nn.Module, name: str) -> torch.nn.Module:
    ref.generation_config.eos_token_id = None  # no end id: every run makes exactly NEW tokens
    with tempfile.TemporaryDirectory() as tmp:
        ref.save_pretrained(tmp)
        return build_transformer_model(config_path=tmp, checkpoint_path=tmp, model=name).eval()


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of distinct parameter storage (tied weights counted once)."""
    seen = {p.data_ptr(): p.numel() * p.element_size() for p in model.parameters()}
    return sum(seen.values())


def _time(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def compare(label: str, ours: Callable[[], torch.Tensor], ref: Callable[[], torch.Tensor], rows: int, rounds: int,
            ceiling: float | None) -> float:
    """Check the tokens, then time both alternately; print tokens/s, the ratio and the share of the ceiling."""
    same = ours().tolist() == ref().tolist()
    t_ours, t_ref, ratios = [], [], []
    for _ in range(rounds):
        a, b = _time(ours), _time(ref)
        t_ours.append(a)
        t_ref.append(b)
        ratios.append(b / a)
    rate = rows * NEW / statistics.median(t_ours)
    share = f"  {rate / ceiling:5.0%} of the bandwidth ceiling ({ceiling:.0f} tok/s)" if ceiling else ""
    print(f"{label:<28} ours {rate:7.1f} tok/s  transformers {rows * NEW / statistics.median(t_ref):7.1f} tok/s  "
          f"x{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})  "
          f"same tokens: {same}{share}",
          flush=True)
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bandwidth", type=float, default=15e9, help="bytes/s a stream of weights reads at")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    ref = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_layer=6, n_embd=384, n_head=6, vocab_size=VOCAB, n_positions=512, bos_token_id=0, eos_token_id=0)).eval()
    ours = _load(ref, "gpt2")
    per_token = args.bandwidth / weight_bytes(ours)
    for label, batch, beams in (("gpt2 batch 1 greedy", 1, 1), ("gpt2 batch 8 greedy", 8, 1), ("gpt2 4 beams", 1, 4)):
        ids = torch.randint(0, VOCAB, (batch, PROMPT), generator=torch.Generator().manual_seed(batch))
        hf = dict(max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, num_beams=beams, pad_token_id=0)
        compare(label, lambda: generate(ours, ids, max_new_tokens=NEW, num_beams=beams),
                lambda: _hf(ref, ids, hf), batch, args.rounds, per_token * batch * beams if beams == 1 else None)
    ids = torch.randint(0, VOCAB, (1, PROMPT), generator=torch.Generator().manual_seed(1))
    bf16 = _load(ref, "gpt2").to(torch.bfloat16)
    compare("gpt2 batch 1 bf16 (vs fp32)", lambda: generate(bf16, ids, max_new_tokens=NEW),
            lambda: generate(ours, ids, max_new_tokens=NEW), 1, 1, None)
    compare("gpt2 batch 1 bf16 vs HF fp32", lambda: generate(bf16, ids, max_new_tokens=NEW),
            lambda: _hf(ref, ids, dict(max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, pad_token_id=0)),
            1, args.rounds, None)
    _bf16_differences(ours, bf16)
    t5_ref = transformers.T5ForConditionalGeneration(transformers.T5Config(
        vocab_size=VOCAB, d_model=384, d_kv=64, d_ff=1024, num_layers=6, num_heads=6, feed_forward_proj="gated-gelu",
        tie_word_embeddings=False, decoder_start_token_id=0)).eval()
    t5 = _load(t5_ref, "t5.1.1")
    hf = dict(max_new_tokens=NEW, min_new_tokens=NEW, num_beams=4, do_sample=False, pad_token_id=0)
    compare("t5.1.1 4 beams", lambda: generate(t5, ids, max_new_tokens=NEW, num_beams=4),
            lambda: _hf(t5_ref, ids, hf)[:, 1:], 1, args.rounds, None)


def _hf(model: torch.nn.Module, ids: torch.Tensor, kw: dict) -> torch.Tensor:
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), **kw)
    return out if model.config.is_encoder_decoder else out[:, ids.shape[1]:]


def _bf16_differences(fp32: torch.nn.Module, bf16: torch.nn.Module, prompts: int = 8) -> None:
    differ = 0
    for seed in range(prompts):
        ids = torch.randint(0, VOCAB, (1, PROMPT), generator=torch.Generator().manual_seed(100 + seed))
        differ += generate(fp32, ids, max_new_tokens=NEW).tolist() != generate(bf16, ids, max_new_tokens=NEW).tolist()
    print(f"bf16 weights: {differ} of {prompts} prompts give other tokens than fp32 within {NEW} new tokens")


if __name__ == "__main__":
    main()
