"""bert4torch.tokenizers: BERT WordPiece and SentencePiece tokenizers and text utilities, in pure Python.

Importing this package loads neither torch nor numpy: ``sequence_padding`` imports numpy (and torch only when given
tensors) inside the call, and ``SpTokenizer`` imports sentencepiece when it is built.

Example:
    >>> from bert4torch.tokenizers import Tokenizer
    >>> tokenizer = Tokenizer("path/to/vocab.txt", do_lower_case=True)  # doctest: +SKIP
    >>> token_ids, segment_ids = tokenizer.encode("text", maxlen=512)  # doctest: +SKIP
"""

__version__ = "0.1.0"

from ._base import TokenizerBase
from ._basic import BasicTokenizer, convert_to_unicode, whitespace_tokenize
from ._padding import sequence_padding
from ._parallel import parallel_apply, parallel_apply_generator
from ._sentencepiece import SpTokenizer
from ._text import lowercase_and_normalize, merge_segmentate, text_augmentation, text_segmentate, truncate_sequences
from ._tokenizer import Tokenizer
from ._trie import Trie
from ._vocab import load_vocab
from ._wordpiece import WordpieceTokenizer

__all__: list[str] = [
    "BasicTokenizer",
    "SpTokenizer",
    "Tokenizer",
    "TokenizerBase",
    "Trie",
    "WordpieceTokenizer",
    "convert_to_unicode",
    "load_vocab",
    "lowercase_and_normalize",
    "merge_segmentate",
    "parallel_apply",
    "parallel_apply_generator",
    "sequence_padding",
    "text_augmentation",
    "text_segmentate",
    "truncate_sequences",
    "whitespace_tokenize",
]
