"""Tests for greedy search, modified beam search and the blank penalty, on toys with known answers.

The toys implement the transducer step interface (:mod:`hent_srt.search.step`) directly: the predictor output
is the one-hot code of the whole context and the joiner reads a table indexed by (frame content, context)."""

import itertools
import math

import pytest
import torch
from torch import nn

from hent_srt.config import ModelConfig
from hent_srt.model.hent import TaskHead
from hent_srt.search.beam import modified_beam_search
from hent_srt.search.greedy import greedy_search
from hent_srt.search.step import apply_blank_penalty, start_contexts

NEG = -1  # "no token" id that fills the start context


def context_index(context: tuple, vocab_size: int) -> int:
    index = 0
    for token in context:
        index = index * (vocab_size + 1) + token + 1
    return index


class ToyStep:
    """predict = one-hot of the whole context (ids shifted by one so that -1 is representable);
    join(frame, context) = table[frame content, context]: frames are one-hot over frame contents."""

    def __init__(self, vocab_size: int, context_size: int, table: torch.Tensor | None = None):
        self.vocab_size = vocab_size
        self.blank_id = 0
        self.context_size = context_size
        self.num_contexts = (vocab_size + 1) ** context_size
        self.table = table  # (F, num_contexts, V)

    def predict(self, contexts: torch.Tensor) -> torch.Tensor:
        assert contexts.size(1) == self.context_size
        index = torch.zeros(contexts.size(0), dtype=torch.int64)
        for i in range(self.context_size):
            index = index * (self.vocab_size + 1) + (contexts[:, i] + 1)
        return nn.functional.one_hot(index, self.num_contexts).float()

    def join(self, enc: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nf,nc,fcv->nv", enc, dec, self.table)


def frames(contents: list, num_contents: int, pad_to: int | None = None) -> torch.Tensor:
    """(T, F) one-hot frames; padding frames beyond the contents are random garbage."""
    one_hot = nn.functional.one_hot(torch.tensor(contents, dtype=torch.int64), num_contents).float()
    if pad_to is None or pad_to == len(contents):
        return one_hot
    return torch.cat([one_hot, torch.rand(pad_to - len(contents), num_contents) * 5])


def batch(utterances: list, num_contents: int):
    longest = max(len(u) for u in utterances)
    enc = torch.stack([frames(u, num_contents, longest) for u in utterances])
    return enc, torch.tensor([len(u) for u in utterances], dtype=torch.int64)


def counter_toy(vocab_size: int, context_size: int) -> ToyStep:
    """Frame content x: emit last + 1 while last < x (last = last token, 0 at the start), else blank."""
    step = ToyStep(vocab_size, context_size)
    step.table = torch.zeros(vocab_size, step.num_contexts, vocab_size)
    for context in itertools.product(range(-1, vocab_size), repeat=context_size):
        last = max(context[-1], 0)
        for x in range(vocab_size):
            step.table[x, context_index(context, vocab_size), last + 1 if last < x else 0] = 5.0
    return step


def random_toy(vocab_size: int, context_size: int, num_contents: int, seed: int) -> ToyStep:
    torch.manual_seed(seed)
    step = ToyStep(vocab_size, context_size)
    step.table = torch.randn(num_contents, step.num_contexts, vocab_size) * 2
    return step


def brute_force_best(contents, table, vocab_size, context_size, penalty, length_norm):
    """Best token sequence over all alignments with at most one symbol per frame (log-added per sequence)."""
    totals: dict = {}
    for alignment in itertools.product(range(vocab_size), repeat=len(contents)):
        context = (NEG,) * (context_size - 1) + (0,)
        tokens: tuple = ()
        score = 0.0
        for content, symbol in zip(contents, alignment):
            logits = table[content, context_index(context, vocab_size)].clone()
            logits[0] -= penalty
            score += float(logits.log_softmax(-1)[symbol])
            if symbol != 0:
                tokens += (symbol,)
                context = (context + (symbol,))[-context_size:]
        totals[tokens] = math.log(math.exp(totals[tokens]) + math.exp(score)) if tokens in totals else score
    rank = {t: s / (context_size + len(t)) if length_norm else s for t, s in totals.items()}
    ordered = sorted(rank.values(), reverse=True)
    assert ordered[0] - ordered[1] > 1e-6, "toy has a tie; change the seed"
    return list(max(rank, key=rank.get))


@pytest.mark.parametrize("context_size", [1, 2])
def test_greedy_counter_toy_known_answers(context_size):
    step = counter_toy(vocab_size=7, context_size=context_size)
    enc, lens = batch([[2, 2, 5, 5], [3, 0, 0], [6]], num_contents=7)
    expected = {
        1: [[1, 2, 3, 4], [1], [1]],
        2: [[1, 2, 3, 4, 5], [1, 2], [1, 2]],
        10: [[1, 2, 3, 4, 5], [1, 2, 3], [1, 2, 3, 4, 5, 6]],
    }
    for max_sym, hyps in expected.items():
        assert greedy_search(step, enc, lens, max_sym_per_frame=max_sym) == hyps


def test_beam_counter_toy_known_answer():
    step = counter_toy(vocab_size=7, context_size=2)
    enc, lens = batch([[2, 2, 5, 5], [3, 0, 0]], num_contents=7)
    assert modified_beam_search(step, enc, lens, beam=4) == [[1, 2, 3, 4], [1]]


def hand_toy():
    """Two frames, tokens a=1 and b=2, probabilities chosen so that beam search and greedy disagree.

    Greedy takes blank on both frames: [] with probability 0.5 * 0.5 = 0.25. But
    P([a]) = 0.3 * 0.9 (a, blank) + 0.5 * 0.25 (blank, a) = 0.395, the most probable sequence.
    """
    step = ToyStep(vocab_size=3, context_size=1)
    table = torch.full((2, step.num_contexts, 3), math.log(1 / 3))
    after_start, after_a, after_b = (context_index((t,), 3) for t in (0, 1, 2))
    table[0, after_start] = torch.tensor([0.5, 0.3, 0.2]).log()
    table[1, after_start] = torch.tensor([0.5, 0.25, 0.25]).log()
    table[1, after_a] = torch.tensor([0.9, 0.06, 0.04]).log()
    table[1, after_b] = torch.tensor([0.5, 0.25, 0.25]).log()
    step.table = table
    enc, lens = batch([[0, 1]], num_contents=2)
    return enc, lens, step


def test_hand_toy_beam_beats_greedy_and_penalty_flips_greedy():
    enc, lens, step = hand_toy()
    assert greedy_search(step, enc, lens) == [[]]
    for length_norm in (True, False):
        assert modified_beam_search(step, enc, lens, beam=4, length_norm=length_norm) == [[1]]
    # Frame 0 emits a once the penalty exceeds log(0.5/0.3) = 0.51; frame 1 after a once it exceeds
    # log(0.9/0.06) = 2.71.
    assert greedy_search(step, enc, lens, blank_penalty=0.4) == [[]]
    assert greedy_search(step, enc, lens, blank_penalty=1.0) == [[1]]
    assert greedy_search(step, enc, lens, blank_penalty=3.0) == [[1, 1]]


@pytest.mark.parametrize("context_size", [1, 2])
@pytest.mark.parametrize("penalty", [0.0, 0.7])
@pytest.mark.parametrize("length_norm", [True, False])
def test_wide_beam_equals_brute_force(context_size, penalty, length_norm):
    vocab_size, num_contents = 3, 4
    step = random_toy(vocab_size, context_size, num_contents, seed=11 + context_size)
    utterances = [[0, 3, 1, 2], [2, 2, 1], [1, 0]]
    enc, lens = batch(utterances, num_contents)
    got = modified_beam_search(step, enc, lens, beam=1000, blank_penalty=penalty, length_norm=length_norm)
    expected = [
        brute_force_best(u, step.table, vocab_size, context_size, penalty, length_norm) for u in utterances
    ]
    assert got == expected


@pytest.mark.parametrize("context_size", [1, 2])
@pytest.mark.parametrize("penalty", [0.0, 1.5])
def test_beam_one_equals_greedy_one_symbol_per_frame(context_size, penalty):
    step = random_toy(vocab_size=4, context_size=context_size, num_contents=5, seed=3)
    torch.manual_seed(4)
    utterances = [torch.randint(0, 5, (n,)).tolist() for n in (7, 3, 5)]
    enc, lens = batch(utterances, 5)
    greedy = greedy_search(step, enc, lens, blank_penalty=penalty)
    assert modified_beam_search(step, enc, lens, beam=1, blank_penalty=penalty) == greedy
    assert sum(len(h) for h in greedy) > 0


def _one_by_one(search, step, enc, lens, **kwargs):
    return [search(step, enc[b : b + 1, : lens[b]], lens[b : b + 1], **kwargs)[0] for b in range(enc.size(0))]


@pytest.mark.parametrize(
    "search, kwargs",
    [
        (greedy_search, {"max_sym_per_frame": 1}),
        (greedy_search, {"max_sym_per_frame": 3, "blank_penalty": 1.0}),
        (modified_beam_search, {"beam": 3}),
        (modified_beam_search, {"beam": 5, "blank_penalty": 0.5}),
    ],
)
def test_batched_equals_one_by_one_on_toy(search, kwargs):
    step = random_toy(vocab_size=4, context_size=2, num_contents=5, seed=7)
    torch.manual_seed(8)
    utterances = [torch.randint(0, 5, (n,)).tolist() for n in (6, 1, 4, 6)]
    enc, lens = batch(utterances, 5)
    enc = torch.cat([enc, enc[:1]])  # an utterance with no frames at all
    lens = torch.cat([lens, torch.tensor([0])])
    batched = search(step, enc, lens, **kwargs)
    assert batched[-1] == []
    assert batched == _one_by_one(search, step, enc, lens, **kwargs)
    assert any(batched)


@pytest.mark.parametrize("max_sym", [1, 2])
def test_blank_penalty_never_reduces_emissions(max_sym):
    """Toy where the blank-versus-token margin depends on the frame only: emissions grow with the penalty."""
    vocab_size, context_size, num_contents = 5, 2, 6
    step = ToyStep(vocab_size, context_size)
    torch.manual_seed(9)
    step.table = torch.empty(num_contents, step.num_contexts, vocab_size)
    for f in range(num_contents):
        blank, tokens = torch.randn(1) * 2, torch.randn(vocab_size - 1)
        for c in range(step.num_contexts):
            step.table[f, c] = torch.cat([blank, tokens[torch.randperm(vocab_size - 1)]])
    utterances = [torch.randint(0, num_contents, (n,)).tolist() for n in (8, 5, 8)]
    enc, lens = batch(utterances, num_contents)
    counts = []
    for penalty in torch.linspace(-8, 8, 33).tolist():
        hyps = greedy_search(step, enc, lens, blank_penalty=penalty, max_sym_per_frame=max_sym)
        counts.append([len(h) for h in hyps])
    for previous, current in itertools.pairwise(counts):
        assert all(c >= p for p, c in zip(previous, current))
    assert counts[0] == [0, 0, 0]
    assert counts[-1] == [max_sym * n for n in (8, 5, 8)]


def real_head(vocab_size: int = 12, encoder_dim: int = 8) -> TaskHead:
    cfg = ModelConfig(decoder_dim=16, joiner_dim=16, context_size=2)
    return TaskHead(cfg, encoder_dim=encoder_dim, vocab_size=vocab_size, use_ctc=False).eval()


def test_real_task_head_is_a_step():
    torch.manual_seed(10)
    head = real_head()
    with torch.no_grad():
        head.joiner.output_linear.bias[0] = -1.0  # emit some tokens from a random model
        enc = head.project_encoder(torch.randn(3, 9, 8) * 3)
    lens = torch.tensor([9, 4, 7])
    greedy = greedy_search(head, enc, lens, max_sym_per_frame=2)
    assert greedy == _one_by_one(greedy_search, head, enc, lens, max_sym_per_frame=2)
    beam = modified_beam_search(head, enc, lens, beam=4)
    assert beam == _one_by_one(modified_beam_search, head, enc, lens, beam=4)
    assert modified_beam_search(head, enc, lens, beam=1) == greedy_search(head, enc, lens)
    assert all(0 < token < 12 for hyp in greedy + beam for token in hyp)
    assert all(len(h) <= n for h, n in zip(beam, lens.tolist()))
    # predict is the predictor's one-step output through the joiner's decoder projection
    contexts = torch.tensor([[-1, 0], [3, 5]])
    with torch.no_grad():
        expected = head.joiner.decoder_proj(head.predictor(contexts, need_pad=False)).squeeze(1)
        assert torch.equal(head.predict(contexts), expected)


def test_start_contexts():
    assert start_contexts(2, 3, 0).tolist() == [[-1, -1, 0], [-1, -1, 0]]
    assert start_contexts(1, 1, 4).tolist() == [[4]]
    with pytest.raises(ValueError, match="context_size"):
        start_contexts(1, 0, 0)


def test_apply_blank_penalty():
    logits = torch.randn(2, 3, 5)
    original = logits.clone()
    out = apply_blank_penalty(logits, 1.5, blank_id=2)
    assert torch.equal(logits, original)
    assert torch.equal(out[..., 2], original[..., 2] - 1.5)
    keep = [0, 1, 3, 4]
    assert torch.equal(out[..., keep], original[..., keep])
    with pytest.raises(ValueError, match="blank_penalty"):
        apply_blank_penalty(logits, float("nan"))
    with pytest.raises(ValueError, match="blank_id"):
        apply_blank_penalty(logits, 1.0, blank_id=5)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"beam": 0}, "beam"),
        ({"max_sym_per_frame": 0}, "max_sym_per_frame"),
        ({"blank_penalty": float("inf")}, "blank_penalty"),
        ({"encoder_out": torch.randn(4, 16)}, "encoder_out"),
        ({"encoder_out_lens": torch.tensor([4, 4, 4])}, "encoder_out_lens"),
        ({"encoder_out_lens": torch.tensor([4, 5])}, "encoder_out_lens"),
        ({"encoder_out_lens": torch.tensor([4.0, 3.0])}, "encoder_out_lens"),
    ],
)
def test_invalid_arguments_raise(change, match):
    args = {"encoder_out": torch.randn(2, 4, 16), "encoder_out_lens": torch.tensor([4, 2])}
    args.update(change)
    search = greedy_search if "max_sym_per_frame" in change else modified_beam_search
    with pytest.raises(ValueError, match=match):
        search(real_head(vocab_size=6), **args)
