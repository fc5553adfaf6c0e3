"""Latency metrics on hand-built cases with known answers."""

import pytest

from hent_srt.decode.latency import (
    average_lagging,
    first_token_delay,
    summarize_latency,
    utterance_latency,
)


def test_hand_built_case():
    # 2 s of audio in chunks of 0.4 s; five tokens after the chunks ending at 0.8, 0.8, 1.6, 2.0, 2.0 s.
    delays = [0.8, 0.8, 1.6, 2.0, 2.0]
    assert first_token_delay(delays) == 0.8
    # gamma = 5 / 2 s: ideal lags 0, 0.4, 0.8, 1.2; tau = 4 (first delay reaching 2 s):
    # ((0.8 - 0) + (0.8 - 0.4) + (1.6 - 0.8) + (2.0 - 1.2)) / 4 = 0.7
    assert average_lagging(delays, 2.0) == pytest.approx(0.7)
    # against a 4-token reference: ideal lags 0, 0.5, 1.0, 1.5 -> (0.8 + 0.3 + 0.6 + 0.5) / 4 = 0.55
    assert average_lagging(delays, 2.0, target_length=4) == pytest.approx(0.55)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_wait_k_policy_has_average_lagging_k(k):
    n = 10  # equal source and target lengths, one source word per "second"
    delays = [min(k + i, n) for i in range(n)]
    assert average_lagging(delays, float(n)) == pytest.approx(k)


def test_no_tokens_and_first_delay_past_the_source():
    assert first_token_delay([]) is None and average_lagging([], 1.0) is None
    assert average_lagging([3.0, 3.0], 2.0) == 3.0


def test_summary_averages_utterances_with_tokens():
    per_utt = {"a": utterance_latency([0.8, 0.8, 1.6, 2.0, 2.0], 2.0), "b": utterance_latency([0.4], 1.0),
               "c": utterance_latency([], 1.5)}
    assert per_utt["b"].average_lagging == pytest.approx(0.4)
    summary = summarize_latency(per_utt)
    assert summary["first_token_delay"] == pytest.approx(0.6)
    assert summary["average_lagging"] == pytest.approx((0.7 + 0.4) / 2)
    assert summary["num_utterances"] == 3 and summary["num_without_tokens"] == 1


def test_validation():
    with pytest.raises(ValueError, match="non-decreasing"):
        average_lagging([1.0, 0.5], 2.0)
    with pytest.raises(ValueError, match="source_length"):
        average_lagging([1.0], 0.0)
    with pytest.raises(ValueError, match="target_length"):
        average_lagging([1.0], 2.0, target_length=0)
    with pytest.raises(ValueError, match="delays"):
        first_token_delay([-1.0])
