"""Best-path CTC decoding against brute force over every alignment, with padding frames that must be ignored."""

import itertools

import pytest
import torch

from hent_srt.search.ctc import ctc_greedy_search


def collapse(path: tuple[int, ...], blank: int) -> list[int]:
    """B(π) written out independently: keep a symbol when it differs from the previous frame's and is not blank."""
    return [s for k, s in enumerate(path) if s != blank and (k == 0 or path[k - 1] != s)]


@pytest.mark.parametrize("blank", [0, 2])
def test_best_path_equals_the_collapse_of_the_most_probable_alignment(blank):
    torch.manual_seed(0)
    vocab, longest = 3, 5
    lens = torch.tensor([5, 3, 1, 0])
    log_probs = torch.randn(len(lens), longest, vocab).log_softmax(-1)
    got = ctc_greedy_search(log_probs, lens, blank_id=blank)
    for b, n in enumerate(lens.tolist()):
        paths = itertools.product(range(vocab), repeat=n)
        best = max(paths, key=lambda path: sum(float(log_probs[b, t, s]) for t, s in enumerate(path)))
        assert got[b] == collapse(best, blank)


def test_hand_example_merges_repeats_only_between_blanks_and_ignores_padding():
    # frames: a a - a b b - (then padding that would add "b")
    symbols = [1, 1, 0, 1, 2, 2, 0, 2, 2]
    log_probs = torch.nn.functional.one_hot(torch.tensor([symbols]), 3).float()
    assert ctc_greedy_search(log_probs, torch.tensor([7])) == [[1, 1, 2]]
    assert ctc_greedy_search(log_probs, torch.tensor([9])) == [[1, 1, 2, 2]]


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"log_probs must be \(B, T, V\)"):
        ctc_greedy_search(torch.zeros(2, 3), torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="lens must be"):
        ctc_greedy_search(torch.zeros(2, 3, 4), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"lens must lie in \[0, 3\]"):
        ctc_greedy_search(torch.zeros(1, 3, 4), torch.tensor([4]))
    with pytest.raises(ValueError, match="blank_id 4 is outside"):
        ctc_greedy_search(torch.zeros(1, 3, 4), torch.tensor([3]), blank_id=4)
