"""parallel_apply / parallel_apply_generator with threads and processes."""

from __future__ import annotations

import itertools
import random

import pytest

from bert4torch.tokenizers import Tokenizer, parallel_apply, parallel_apply_generator


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise RuntimeError("three")
    return x


def draw(_: int) -> float:
    return random.random()


@pytest.mark.parametrize("dummy", [True, False])
def test_ordered_and_unordered_results(dummy) -> None:
    items = list(range(50))
    assert parallel_apply(square, items, 2, 8, dummy=dummy, unordered=False) == [x * x for x in items]
    assert sorted(parallel_apply(square, items, 2, 8, dummy=dummy)) == sorted(x * x for x in items)
    pairs = list(parallel_apply_generator(square, items, 2, 8, dummy=dummy))
    assert sorted(pairs) == [(i, i * i) for i in items]  # indices identify inputs when unordered
    got = []
    assert parallel_apply(square, items, 2, 8, callback=got.append, dummy=dummy) is None
    assert sorted(got) == sorted(x * x for x in items)


def test_endless_input_is_consumed_lazily() -> None:
    consumed = itertools.count()
    gen = parallel_apply_generator(square, (next(consumed) for _ in itertools.count()), 2, 4, dummy=True,
                                   unordered=False)
    first = [next(gen) for _ in range(10)]
    gen.close()
    assert first == [(i, i * i) for i in range(10)]
    assert next(consumed) <= 10 + 4 + 2  # at most max_queue_size ahead (plus the workers' in-flight items)


@pytest.mark.parametrize("dummy", [True, False])
def test_worker_exception_reaches_the_caller(dummy) -> None:
    with pytest.raises(RuntimeError, match="three"):
        parallel_apply(fail_on_three, range(10), 2, 4, dummy=dummy)


def test_given_seeds_make_processes_reproducible() -> None:
    a = parallel_apply(draw, range(1), 1, 1, random_seeds=[123])
    b = parallel_apply(draw, range(1), 1, 1, random_seeds=[123])
    random.seed(123)
    assert a == b == [random.random()]


def test_tokenizing_in_processes_matches_serial(helpers) -> None:
    tok = Tokenizer(helpers.CASED_VOCAB, do_lower_case=False)
    texts = [f"Line {i}: Zürich café naïve words" for i in range(40)]
    assert parallel_apply(tok.encode, texts, 2, 8, unordered=False) == [tok.encode(t) for t in texts]


def test_bad_sizes_are_errors() -> None:
    with pytest.raises(ValueError, match="workers"):
        parallel_apply(square, [1], 0, 1)
