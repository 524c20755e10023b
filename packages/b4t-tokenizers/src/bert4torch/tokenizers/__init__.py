"""bert4torch.tokenizers: BERT WordPiece and SentencePiece tokenizers and text utilities, in pure Python.

Importing this package loads neither torch nor numpy; ``sequence_padding`` imports numpy (and torch only when given
tensors) inside the call, and ``SpTokenizer`` imports sentencepiece when constructed.
"""

from ._base import TokenizerBase
from ._basic import BasicTokenizer, convert_to_unicode, whitespace_tokenize
from ._tokenizer import Tokenizer
from ._trie import Trie
from ._vocab import load_vocab
from ._wordpiece import WordpieceTokenizer

__all__: list[str] = [
    "BasicTokenizer",
    "Tokenizer",
    "TokenizerBase",
    "Trie",
    "WordpieceTokenizer",
    "convert_to_unicode",
    "load_vocab",
    "whitespace_tokenize",
]
