"""Stand-in for jieba.posseg: every word tagged 'n' (noun), 'x' for punctuation."""

from . import _WORD


class pair:
    def __init__(self, word, flag):
        self.word, self.flag = word, flag

    def __iter__(self):
        return iter((self.word, self.flag))


def cut(sentence, HMM=True):
    for w in _WORD.findall(sentence):
        yield pair(w, "n" if w.isalnum() else "x")


def lcut(sentence, HMM=True):
    return list(cut(sentence))
