"""Greedy longest-match-first WordPiece, as in BERT and HF ``tokenizers``' WordPiece model."""

from __future__ import annotations

from collections.abc import Mapping


class WordpieceTokenizer:
    """Split words into the longest vocabulary pieces, left to right; continuation pieces carry ``##``.

    Args:
        vocab: token -> id (only membership is used).
        unk_token: emitted for a word that cannot be split (or, with ``do_tokenize_unk``, for one character).
        max_input_chars_per_word: longer words become one ``unk_token`` (HF and BERT use 100).
        do_tokenize_unk: instead of giving up on the whole word, emit ``unk_token`` for the one character that
            matches nothing and go on; keeps one token per character for NER on rare characters.
    """

    def __init__(
        self,
        vocab: Mapping[str, int],
        unk_token: str = "[UNK]",
        max_input_chars_per_word: int = 100,
        do_tokenize_unk: bool = False,
    ) -> None:
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        self.do_tokenize_unk = do_tokenize_unk
        # No piece is longer than the longest vocabulary entry, so the inner search starts there, not at the word end.
        self._max_piece = max((len(t) for t in vocab), default=1)

    def split_word(self, word: str) -> list[tuple[str, int, int]]:
        """Pieces of one word as ``(token, start, end)``, with ``start``/``end`` character offsets in ``word``."""
        n = len(word)
        unk = self.unk_token
        if n > self.max_input_chars_per_word:
            return [(unk, 0, n)]
        vocab = self.vocab
        longest = self._max_piece
        out: list[tuple[str, int, int]] = []
        start = 0
        while start < n:
            end = min(n, start + longest)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in vocab:
                    out.append((piece, start, end))
                    break
                end -= 1
            else:
                if not self.do_tokenize_unk:
                    return [(unk, 0, n)]
                out.append((unk, start, start + 1))
                end = start + 1
            start = end
        return out

    def tokenize(self, text: str) -> list[str]:
        """Word pieces of whitespace-separated ``text`` (already passed through a BasicTokenizer)."""
        return [piece for word in text.split() for piece, _, _ in self.split_word(word)]
