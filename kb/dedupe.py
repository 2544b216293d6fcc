"""Near-duplicate search over token sets, pure: exact, fast all-pairs Jaccard, and grouping."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Return the Jaccard similarity of two sets; 0 when both are empty."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def similar_pairs(sets: Sequence[frozenset[str]], threshold: float) -> list[tuple[int, int]]:
    """Return every pair ``(i, j)``, i < j, of non-empty sets with Jaccard ≥ ``threshold``."""
    # Exact all-pairs search with prefix filtering (Bayardo et al., "All-Pairs"): with tokens
    # ordered rarest first, two sets this alike share a token early in both, so each set is
    # compared only with the smaller sets that have one of its first few tokens.
    frequency = Counter(token for s in sets for token in s)
    rank = {t: r for r, t in enumerate(sorted(frequency, key=lambda t: (frequency[t], t)))}
    ordered = [sorted(rank[t] for t in s) for s in sets]
    ranked = [frozenset(o) for o in ordered]
    # A smaller set x can reach threshold with a larger y only if they share at least
    # 2t/(1+t)·|x| tokens, so x is indexed by a shorter prefix than the one it probes with.
    index_share = 2 * threshold / (1 + threshold)
    index: dict[int, list[int]] = defaultdict(list)
    start: dict[int, int] = defaultdict(int)
    pairs: list[tuple[int, int]] = []
    for i in sorted(range(len(sets)), key=lambda k: len(ordered[k])):
        tokens, n = ordered[i], len(ordered[i])
        if not n:
            continue
        smallest = threshold * n - 1e-9
        candidates: set[int] = set()
        for token in tokens[: n - math.ceil(smallest) + 1]:
            postings = index.get(token)
            if postings:
                # Postings are in order of size, so sets too small for i are skipped for good.
                first = start[token]
                while first < len(postings) and len(ordered[postings[first]]) < smallest:
                    first += 1
                start[token] = first
                candidates.update(postings[first:])
        for token in tokens[: n - math.ceil(index_share * n - 1e-9) + 1]:
            index[token].append(i)
        for j in candidates:
            common = len(ranked[i] & ranked[j])
            if common >= threshold * (n + len(ordered[j]) - common) - 1e-9:
                pairs.append((min(i, j), max(i, j)))
    return sorted(pairs)


def same_owner_pairs(
    sets: Sequence[frozenset[str]], owners: Sequence[str], threshold: float
) -> list[tuple[int, int]]:
    """Return pairs ``(i, j)``, i < j, with the same non-empty owner and Jaccard ≥ threshold."""
    by_owner: dict[str, list[int]] = defaultdict(list)
    for i, owner in enumerate(owners):
        if owner:
            by_owner[owner].append(i)
    return sorted(
        (i, j)
        for members in by_owner.values()
        for k, i in enumerate(members)
        for j in members[k + 1 :]
        if sets[i] and sets[j] and jaccard(sets[i], sets[j]) >= threshold
    )


def connected_groups(count: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Return the indexes ``0..count-1`` in groups joined by ``pairs``, each group in order."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(count):
        groups[root(i)].append(i)
    return sorted(groups.values(), key=lambda g: g[0])
