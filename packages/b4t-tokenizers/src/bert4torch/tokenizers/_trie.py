"""A character trie that splits text on a set of tokens (leftmost, then longest), used for special tokens."""

from __future__ import annotations

from collections.abc import Iterable


class Trie:
    """Prefix tree over tokens; ``split`` cuts a text around every occurrence of any token.

    Matching follows HF ``tokenizers``' added-token rule: scan left to right, at each position take the longest
    token that starts there, continue after it.

    Args:
        tokens: optional initial tokens.
    """

    _END = ""  # key marking "a token ends here"; cannot clash with a character

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        self.data: dict[str, dict] = {}
        for token in tokens:
            self.add(token)

    def add(self, word: str) -> None:
        """Insert ``word`` (empty strings are ignored)."""
        if not word:
            return
        node = self.data
        for ch in word:
            node = node.setdefault(ch, {})
        node[self._END] = {}

    def _match_at(self, text: str, start: int) -> int:
        """End of the longest token starting at ``start``, or -1."""
        node = self.data
        best = -1
        i = start
        n = len(text)
        while i < n:
            node = node.get(text[i])  # type: ignore[assignment]
            if node is None:
                break
            i += 1
            if self._END in node:
                best = i
        return best

    def find(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` of each match, left to right, non-overlapping."""
        spans: list[tuple[int, int]] = []
        if not self.data:
            return spans
        first = self.data
        i = 0
        n = len(text)
        while i < n:
            if text[i] in first:
                end = self._match_at(text, i)
                if end > 0:
                    spans.append((i, end))
                    i = end
                    continue
            i += 1
        return spans

    def split(self, text: str) -> list[str]:
        """Cut ``text`` before and after each match; empty pieces are dropped.

        Example: with ``[CLS]`` and ``[SEP]`` added, ``"[CLS] hi [SEP]x"`` -> ``["[CLS]", " hi ", "[SEP]", "x"]``.
        """
        offsets = [0]
        for start, end in self.find(text):
            offsets.extend((start, end))
        return self.cut_text(text, offsets)

    @staticmethod
    def cut_text(text: str, offsets: list[int]) -> list[str]:
        """Cut ``text`` at the given increasing offsets, dropping empty pieces."""
        offsets = [*offsets, len(text)]
        pieces = []
        start = 0
        for end in offsets:
            if end > start:
                pieces.append(text[start:end])
            start = max(start, end)
        return pieces
