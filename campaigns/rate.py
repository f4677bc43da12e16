"""Exponential rate limit for a rollout.

Why exponential: the first batches of a ring are the riskiest (nobody has seen this change on
these devices yet), so they are small and few; every clean batch doubles how much may be in
flight, up to a cap, and a batch with failures drops back to the start. It is a pure function
of the previous limits and one batch outcome, so it survives restarts as two integers.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.spec import Rate


@dataclass(frozen=True)
class Limits:
    batch_size: int
    window: int  # batches in flight at once


def initial(rate: Rate) -> Limits:
    return Limits(batch_size=rate.initial_batch, window=rate.initial_window)


def after_batch(rate: Rate, cur: Limits, *, failed: int) -> Limits:
    """Grow after a clean batch, reset after one with failures."""
    if failed:
        return initial(rate)
    if rate.factor <= 1.0:
        return cur
    return Limits(batch_size=min(rate.max_batch, max(cur.batch_size + 1, int(cur.batch_size * rate.factor))),
                  window=min(rate.max_window, max(cur.window + 1, int(cur.window * rate.factor))))
