"""Seq2seq with UniLM on a pretrained encoder: name a Python function from its docstring, decoded by beam search.

The data: the first docstring paragraph of every public function and method of the standard library (test folders
left out, a docstring found under two names dropped), as source, and the function's name in words as target
(``Return the current working directory.`` -> ``getcwd``; ``Get the size of the terminal window`` -> ``get terminal
size``). Pairs are split 80/10/10 with a fixed seed.

The model is the real all-MiniLM-L6-v2 built with ``application='unilm'``, an MLM head and the vocabulary rows the
training texts use (``keep_tokens``), as the original's ``task_seq2seq_autotitle_csl_unilm.py``: it reads
``[CLS] docstring [SEP] name [SEP]``, the UniLM mask lets the name see the whole docstring and its own left part, and
the loss is the cross entropy of the name tokens. Names are decoded with ``AutoRegressiveDecoder.beam_search``.
Scores: exact match and word-level F1 on the test split, next to a retrieval baseline (the name of the most similar
training docstring by TF-IDF) in the same run.

Usage: hatch run python examples/seq2seq_unilm.py [--epochs 6] [--limit N] [--beam 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LengthBatches, function_docs, minilm_folder, split  # noqa: E402

from bert4torch.generation import AutoRegressiveDecoder  # noqa: E402
from bert4torch.models import build_transformer_model  # noqa: E402
from bert4torch.optimizers import get_linear_schedule_with_warmup  # noqa: E402
from bert4torch.snippets import Callback, ListDataset, sequence_padding  # noqa: E402
from bert4torch.tokenizers import Tokenizer  # noqa: E402

SHOW = ["Return the current working directory.", "Remove all items from the queue.",
        "Return True if the string is a valid identifier."]


def corpus_vocabulary(folder: Path, texts: list[str]) -> tuple[Tokenizer, list[int]]:
    """A tokenizer over the vocabulary rows the training texts use, and those rows (the original's keep_tokens).

    The output layer scores every vocabulary entry at every position, so 30,522 entries cost most of the compute;
    the tokens of the training texts (and the special tokens) are a few thousand.
    """
    full = Tokenizer(folder)
    specials = [full.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
    keep = sorted(set(specials).union(*full.encode(texts)[0]))  # [PAD] (id 0) stays first
    return Tokenizer({full.id_to_token(i): new for new, i in enumerate(keep)}, do_lower_case=True), keep


def build_unilm(folder: Path, keep_tokens: list[int] | None = None) -> nn.Module:
    """all-MiniLM-L6-v2 with the UniLM mask and an MLM head tied to the word embeddings."""
    with warnings.catch_warnings():
        # the sentence-embedding checkpoint has no MLM head: its dense and LayerNorm start fresh (and say so)
        warnings.filterwarnings("ignore", message="ignore_invalid_weights=True: missing")
        model = build_transformer_model(folder / "config.json", folder / "model.safetensors", with_mlm=True,
                                        application="unilm", keep_tokens=keep_tokens, ignore_invalid_weights=True)
    return model


class TargetCrossEntropy(nn.CrossEntropyLoss):
    """Cross entropy of the target tokens only: segment 1, predicted from the position before."""

    def forward(self, outputs: tuple[torch.Tensor, torch.Tensor],
                target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        _, y_pred = outputs
        y_true, y_mask = target
        y_true = (y_true[:, 1:] * y_mask[:, 1:]).flatten()  # 0 (ignored) outside the target
        return super().forward(y_pred[:, :-1].reshape(-1, y_pred.shape[-1]), y_true)


class NameDecoder(AutoRegressiveDecoder):
    """Beam search over the UniLM: each step appends the output so far as segment 1 and scores the next token."""

    def __init__(self, model: nn.Module, tokenizer: Tokenizer, maxlen: int, source_len: int) -> None:
        super().__init__(start_id=None, end_id=tokenizer._token_end_id, maxlen=maxlen)
        self.model, self.tokenizer, self.source_len = model, tokenizer, source_len

    @AutoRegressiveDecoder.wraps(default_rtype="logits")
    def predict(self, inputs: list[torch.Tensor], output_ids: torch.Tensor, states: object) -> torch.Tensor:
        token_ids, segment_ids = inputs
        token_ids = torch.cat([token_ids, output_ids], 1)
        segment_ids = torch.cat([segment_ids, torch.ones_like(output_ids)], 1)
        _, y_pred = self.model.predict([token_ids, segment_ids])
        return y_pred[:, -1, :]

    def generate(self, text: str, topk: int) -> str:
        token_ids, segment_ids = self.tokenizer.encode(text, maxlen=self.source_len)
        output_ids = self.beam_search([token_ids, segment_ids], topk=topk)
        return self.tokenizer.decode(output_ids.tolist())


def word_f1(predicted: str, gold: str) -> float:
    p, g = predicted.split(), gold.split()
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    return 0.0 if common == 0 else 2 * common / (len(p) + len(g))


def scores(predicted: list[str], gold: list[str]) -> dict[str, float]:
    return {"exact": sum(p == g for p, g in zip(predicted, gold)) / len(gold),
            "word_f1": sum(map(word_f1, predicted, gold)) / len(gold)}


def retrieval_baseline(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> list[str]:
    """The name of the most similar training docstring (TF-IDF word 1-2-grams, cosine similarity)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit([doc for _, doc in train])
    similarity = vectorizer.transform([doc for _, doc in test]) @ vectorizer.transform([doc for _, doc in train]).T
    return [train[i][0] for i in similarity.toarray().argmax(1)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--limit", type=int, default=0, help="use only this many pairs (0: all)")
    parser.add_argument("--beam", type=int, default=3, help="beam size")
    parser.add_argument("--source-len", type=int, default=64, help="docstring tokens kept")
    parser.add_argument("--target-len", type=int, default=10, help="name tokens at most")
    parser.add_argument("--valid-size", type=int, default=200, help="validation pairs decoded after each epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 on a busy machine)")
    parser.add_argument("--verbose", type=int, default=1, help="1: progress bars, 0: none")
    parser.add_argument("--out", default="runs/seq2seq", help="folder for the best weights")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    args = parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = [(name.lower(), doc) for name, doc in function_docs(unique_names=False)]
    if args.limit:
        pairs = pairs[:: max(1, len(pairs) // args.limit)][: args.limit]
    train, valid, test = split(pairs)
    print(f"standard library: {len(pairs)} (docstring, name) pairs ({len(train)} train / {len(valid)} valid / "
          f"{len(test)} test)")

    folder = minilm_folder()
    tokenizer, keep_tokens = corpus_vocabulary(folder, [text for pair in train for text in pair])
    model = build_unilm(folder, keep_tokens)
    decoder = NameDecoder(model, tokenizer, maxlen=args.target_len, source_len=args.source_len)

    def collate_fn(batch: list[tuple[str, str]]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """[CLS] docstring [SEP] name [SEP], segment ids 0 then 1: inputs and targets are the same tensors."""
        token_ids, segment_ids = [], []
        for name, doc in batch:
            ids, segs = tokenizer.encode(doc, maxlen=args.source_len)
            target = tokenizer.encode(name, maxlen=args.target_len + 1)[0][1:]  # name tokens and [SEP]
            token_ids.append(ids + target)
            segment_ids.append(segs + [1] * len(target))
        x = [torch.tensor(sequence_padding(token_ids)), torch.tensor(sequence_padding(segment_ids))]
        return x, x

    lengths = [len(ids) for ids in tokenizer.encode([doc for _, doc in train], maxlen=args.source_len)[0]]
    loader = DataLoader(ListDataset(data=train), batch_sampler=LengthBatches(lengths, args.batch_size),
                        collate_fn=collate_fn)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    total = args.epochs * len(loader)
    model.compile(loss=TargetCrossEntropy(ignore_index=0), optimizer=optimizer, clip_grad_norm=1.0,
                  scheduler=get_linear_schedule_with_warmup(optimizer, total // 10, total))

    def evaluate(data: list[tuple[str, str]]) -> dict[str, float]:
        return scores([decoder.generate(doc, args.beam) for _, doc in data], [name for name, _ in data])

    class Evaluator(Callback):
        """Decode (part of) the validation split after each epoch; keep the weights with the best word F1."""

        def __init__(self) -> None:
            self.best = -1.0

        def on_epoch_end(self, global_step: int, epoch: int, logs: dict | None = None) -> None:
            result = evaluate(valid[: args.valid_size])
            if result["word_f1"] > self.best:
                self.best = result["word_f1"]
                torch.save(model.state_dict(), out / "best_model.pt")
            print(f"valid: exact {result['exact']:.4f}, word F1 {result['word_f1']:.4f} (best {self.best:.4f}); "
                  + "; ".join(f"{text!r} -> {decoder.generate(text, args.beam)!r}" for text in SHOW[:2]))

    t0 = time.perf_counter()
    model.fit(loader, epochs=args.epochs, callbacks=[Evaluator()], verbose=args.verbose)
    # a plain state dict: load_weights would apply keep_tokens a second time to the already reduced rows
    model.load_state_dict(torch.load(out / "best_model.pt", weights_only=True))
    results = {"UniLM beam search": evaluate(test),
               "TF-IDF nearest name": scores(retrieval_baseline(train, test), [name for name, _ in test])}
    seconds = time.perf_counter() - t0
    for text in SHOW:
        print(f"{text!r} -> {decoder.generate(text, args.beam)!r}")
    print("test: " + " | ".join(f"{k} exact {r['exact']:.4f} word F1 {r['word_f1']:.4f}" for k, r in results.items())
          + f" (trained and decoded in {seconds:.0f} s)")
    return results


if __name__ == "__main__":
    main()
