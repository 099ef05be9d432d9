"""Validation folds: time-ordered when examples have times, stratified otherwise.

A lead-scoring model is trained on past outcomes and used on future leads, so when every example
has a time the honest estimate trains on the past and validates on what came after, never the
reverse: examples are sorted by time and cut into ``k + 1`` consecutive blocks; fold ``i`` trains
on blocks ``0..i`` and validates on block ``i + 1`` (an expanding window). Equal times never
straddle a cut, so no training example is later than any validation example. The first block is
never validated, which is the price of honesty.

Without times, folds are stratified (each fold keeps the base rate) and shuffled with a fixed
seed, so a run is reproducible.

:func:`holdout_split` is the one-cut version ``leadscore train`` measures models on: the latest
share of the examples is held out and everything before it trains (stratified, and named so, only
when the examples have no times or the cut leaves one class on a side).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Fold = tuple[NDArray[np.int64], NDArray[np.int64]]


def choose_folds(
    y: NDArray[np.integer], k: int, order_at: NDArray[np.float64] | None = None, seed: int = 0
) -> tuple[list[Fold], str]:
    """``k`` (train, validation) index pairs and how they were made (``"time-ordered"`` or
    ``"stratified"``). Folds whose training part lacks a class are left out (nothing can be
    learned from one class). When times exist but give no usable fold (all equal, or one class
    only in the early blocks), the folds are stratified instead, and the name says so."""
    y = np.asarray(y)

    def usable(folds: list[Fold]) -> list[Fold]:
        return [(tr, va) for tr, va in folds if len(np.unique(y[tr])) == 2 and va.size]

    if order_at is not None:
        folds = usable(time_ordered_folds(order_at, k))
        if folds:
            return folds, "time-ordered"
    return usable(stratified_folds(y, k, seed)), "stratified"


def make_folds(y: NDArray[np.integer], k: int, order_at: NDArray[np.float64] | None = None, seed: int = 0) -> list[Fold]:
    """The folds of :func:`choose_folds`."""
    return choose_folds(y, k, order_at, seed)[0]


def stratified_folds(y: NDArray[np.integer], k: int, seed: int = 0) -> list[Fold]:
    """Each class is shuffled and dealt round-robin into ``k`` folds (what scikit-learn's
    ``StratifiedKFold(shuffle=True)`` does, without depending on it)."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    minority = min(int((y == c).sum()) for c in np.unique(y)) if y.size else 0
    k = max(2, min(k, minority)) if minority >= 2 else 2
    assignment = np.empty(y.size, dtype=np.int64)
    offset = 0
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rng.shuffle(members)
        assignment[members] = (np.arange(members.size) + offset) % k
        offset += members.size  # keep fold sizes even across classes
    everything = np.arange(y.size)
    return [(everything[assignment != f], everything[assignment == f]) for f in range(k)]


def time_ordered_folds(order_at: NDArray[np.float64], k: int) -> list[Fold]:
    """Expanding-window folds over ``order_at`` (see the module docstring)."""
    times = np.asarray(order_at, dtype=np.float64)
    order = np.argsort(times, kind="mergesort")
    sorted_times = times[order]
    n = times.size
    cuts: list[int] = []
    for b in range(1, k + 1):
        cut = int(round(b * n / (k + 1)))
        # Never split equal times: move the cut back to the first of its run.
        while 0 < cut < n and sorted_times[cut - 1] == sorted_times[cut]:
            cut -= 1
        if 0 < cut < n and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    bounds = cuts + [n]
    return [(np.sort(order[:cut]), np.sort(order[cut:bounds[i + 1]])) for i, cut in enumerate(cuts)]


def holdout_split(
    y: NDArray[np.integer], fraction: float, order_at: NDArray[np.float64] | None = None, seed: int = 0,
    groups: NDArray[Any] | None = None,
) -> tuple[Fold, str]:
    """(train, held-out) indices and how they were made. With times: the latest ``fraction`` of
    the examples is held out (the cut moves back to the first of a run of equal times, so no
    training example is later than a held-out one) - ``"time-ordered"``; with ``groups`` (a
    lead's id per row, when a lead has several rows), a held-out lead's earlier rows leave the
    training side too, since their labels often come from the very conversion held out. Without times, or when
    the cut leaves a side with one class only: a stratified random ``fraction`` of each class
    (fixed seed) - ``"stratified"``."""
    if not 0 < fraction < 1:
        raise ValueError("fraction must be between 0 and 1")
    y = np.asarray(y)
    n = y.size

    def usable(train: NDArray[np.int64], held: NDArray[np.int64]) -> bool:
        return len(np.unique(y[train])) == 2 and len(np.unique(y[held])) == 2

    if order_at is not None and n:
        times = np.asarray(order_at, dtype=np.float64)
        order = np.argsort(times, kind="mergesort")
        sorted_times = times[order]
        cut = int(round((1 - fraction) * n))
        while 0 < cut < n and sorted_times[cut - 1] == sorted_times[cut]:
            cut -= 1
        if 0 < cut < n:
            train, held = np.sort(order[:cut]), np.sort(order[cut:])
            if groups is not None:
                labels = np.asarray(groups)
                train = train[~np.isin(labels[train], labels[held])]
            if usable(train, held):
                return (train, held), "time-ordered"
    rng = np.random.default_rng(seed)
    is_held = np.zeros(n, dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rng.shuffle(members)
        take = min(members.size - 1, max(1, int(round(fraction * members.size))))
        is_held[members[:take]] = True
    everything = np.arange(n, dtype=np.int64)
    return (everything[~is_held], everything[is_held]), "stratified"
