"""Stand-in for the ``rouge`` package: unigram/bigram/LCS F-scores over space-separated tokens."""


def _ngrams(tokens, n):
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def _f(overlap, n_hyp, n_ref):
    if not n_hyp or not n_ref or not overlap:
        return 0.0
    p, r = overlap / n_hyp, overlap / n_ref
    return 2 * p * r / (p + r)


def _lcs(a, b):
    dp = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, 1):
            prev, dp[j] = dp[j], prev + 1 if x == y else max(dp[j], dp[j - 1])
    return dp[-1]


class Rouge:
    def get_scores(self, hyps, refs, avg=False):
        if isinstance(hyps, str):
            hyps, refs = [hyps], [refs]
        if any(not h.strip() for h in hyps):
            raise ValueError("Hypothesis is empty.")
        out = []
        for h, r in zip(hyps, refs):
            h, r = h.split(), r.split()
            scores = {}
            for n in (1, 2):
                hn, rn = _ngrams(h, n), _ngrams(r, n)
                overlap = sum(min(hn.count(g), rn.count(g)) for g in set(hn))
                scores[f"rouge-{n}"] = {"f": _f(overlap, len(hn), len(rn)), "p": 0.0, "r": 0.0}
            scores["rouge-l"] = {"f": _f(_lcs(h, r), len(h), len(r)), "p": 0.0, "r": 0.0}
            out.append(scores)
        return out
