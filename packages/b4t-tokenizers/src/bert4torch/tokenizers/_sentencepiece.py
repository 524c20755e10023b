"""``SpTokenizer``: the bert4torch interface over a SentencePiece model (T5, ALBERT, XLNet, mT5 ...)."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._base import TokenizerBase, as_id_list, base_options
from ._utils import strict_kwargs


class SpTokenizer(TokenizerBase):
    """SentencePiece tokenizer with the same ``encode``/``decode`` interface as :class:`Tokenizer`.

    Ids equal ``sentencepiece``'s own ``encode`` of the preprocessed text; start/end tokens are added as for
    WordPiece (pass ``token_start=None, token_end='</s>'`` for T5). ``sentencepiece`` is an optional dependency
    (``pip install b4t-tokenizers[sentencepiece]``), imported when the class is built. Offsets (``rematch``) are
    not provided, as in the original since 0.2.4.

    Args:
        sp_model_path: the ``.model`` file.
        remove_space: collapse runs of whitespace and strip the ends.
        keep_accents: keep accents (else NFKD and drop combining characters).
        do_lower_case: lower-case the text.
        token_start, token_end, token_unk, token_pad, token_mask, add_special_tokens, pre_tokenize,
            token_translate: see :class:`TokenizerBase`; pad/unk default to the model's own pieces.
    """

    @strict_kwargs
    def __init__(
        self,
        sp_model_path: str | os.PathLike[str],
        remove_space: bool = True,
        keep_accents: bool = False,
        do_lower_case: bool = False,
        *,
        token_start: str | None = "[CLS]",
        token_end: str | None = "[SEP]",
        token_unk: str | None = None,
        token_pad: str | None = None,
        token_mask: str | None = "[MASK]",
        add_special_tokens: str | Sequence[str] | None = None,
        pre_tokenize: Callable[[str], Iterable[str]] | None = None,
        token_translate: Mapping[str, str] | None = None,
    ) -> None:
        try:
            import sentencepiece as spm
        except ImportError as e:  # pragma: no cover - exercised in the restricted env
            raise ImportError(
                "SpTokenizer needs sentencepiece: pip install 'b4t-tokenizers[sentencepiece]'"
            ) from e
        sp = spm.SentencePieceProcessor()
        sp.Load(os.fspath(sp_model_path))
        self.sp_model = sp
        self._vocab_size = sp.get_piece_size()
        if token_unk is None:
            token_unk = sp.id_to_piece(sp.unk_id())
        if token_pad is None and sp.pad_id() >= 0:
            token_pad = sp.id_to_piece(sp.pad_id())
        super().__init__(**base_options(locals()))
        self._check_specials(lambda t: sp.piece_to_id(t) != sp.unk_id() or t == sp.id_to_piece(sp.unk_id()))
        self.remove_space = remove_space
        self.keep_accents = keep_accents
        self.do_lower_case = do_lower_case
        self._set_special_ids()

    @property
    def vocab_size(self) -> int:
        """Number of pieces in the model."""
        return self._vocab_size

    def preprocess_text(self, inputs: str) -> str:
        """XLNet's preprocessing: spaces, quotes, accents and case, as configured."""
        outputs = " ".join(inputs.strip().split()) if self.remove_space else inputs
        outputs = outputs.replace("``", '"').replace("''", '"')
        if not self.keep_accents:
            outputs = unicodedata.normalize("NFKD", outputs)
            outputs = "".join(c for c in outputs if not unicodedata.combining(c))
        if self.do_lower_case:
            outputs = outputs.lower()
        return outputs

    def token_to_id(self, token: str) -> int:
        """Id of ``token`` (the model's unknown id when absent)."""
        return self.sp_model.piece_to_id(token)

    def id_to_token(self, i: int) -> str:
        """Piece of id ``i`` ('' past the vocabulary)."""
        return self.sp_model.id_to_piece(i) if 0 <= i < self._vocab_size else ""

    def _tokenize(self, text: str) -> list[str]:
        if self._pre_tokenize is not None:
            text = " ".join(self._pre_tokenize(text))
        return self.sp_model.encode_as_pieces(self.preprocess_text(text))

    def _encode_body(self, text: str, with_offsets: bool) -> tuple[list[int], Any]:
        if with_offsets:
            raise NotImplementedError("SpTokenizer does not compute offsets (the original removed rematch in 0.2.4)")
        if self._token_translate or self._pre_tokenize is not None:
            return self.tokens_to_ids(self._translate(self._tokenize(text))), None
        return list(self.sp_model.encode(self.preprocess_text(text))), None

    def _is_special(self, i: int) -> bool:
        sp = self.sp_model
        return sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (a list, numpy array or torch tensor); control and unknown pieces are dropped.

        Raises:
            TypeError: ``ids`` is not one sequence of integers.
            ValueError: an id is negative or not below ``vocab_size``.
        """
        inv = self._token_translate_inv
        tokens = [self.id_to_token(i) for i in as_id_list(ids, self._vocab_size) if not self._is_special(i)]
        if inv:
            tokens = [inv.get(t) or t for t in tokens]
        return self.sp_model.decode_pieces(tokens)
