"""Stand-in for ``nltk.translate.bleu_score``: unigram precision with a brevity penalty."""

import math


class SmoothingFunction:
    def method1(self, *args, **kwargs):
        return args


def sentence_bleu(references, hypothesis, weights=(0.25, 0.25, 0.25, 0.25), smoothing_function=None):
    if not hypothesis:
        return 0.0
    ref = references[0]
    overlap = sum(min(hypothesis.count(t), ref.count(t)) for t in set(hypothesis))
    bp = 1.0 if len(hypothesis) > len(ref) else math.exp(1 - len(ref) / max(1, len(hypothesis)))
    return bp * overlap / len(hypothesis)
