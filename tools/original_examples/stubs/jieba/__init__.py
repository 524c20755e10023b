"""Stand-in for jieba: words are runs of two CJK characters (or one ASCII run); enough for the examples to run."""

import re

_WORD = re.compile(r"[A-Za-z0-9]+|[\u4e00-\u9fff]{1,2}|\S")


def initialize(*args, **kwargs):
    return None


def cut(sentence, cut_all=False, HMM=True):
    yield from _WORD.findall(sentence)


def lcut(sentence, cut_all=False, HMM=True):
    return _WORD.findall(sentence)


def add_word(word, freq=None, tag=None):
    return None


def load_userdict(f):
    return None
