"""Where to send a customer kb cannot help: the department past tickets like theirs went to.

The routing signal here is the nearest resolved tickets (a private kind, never shown): each
votes for its queue with its similarity to the question. Weak or split votes suggest no
department, only the general contact route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kb.models import Hit

MIN_SIMILARITY = 0.2  # a ticket less similar than this (above chance) says nothing
NEIGHBOURS = 10


def vote(tickets: Sequence[Hit], queues: Mapping[int, Any]) -> tuple[str | None, float]:
    """Return the queue similar ``tickets`` vote for and the share of the vote it won.

    ``queues`` maps a ticket passage's chunk id to its queue.
    """
    weights: dict[str, float] = {}
    for hit in tickets[:NEIGHBOURS]:
        queue = queues.get(hit.passage.chunk_id)
        if isinstance(queue, str) and queue and hit.dense >= MIN_SIMILARITY:
            weights[queue] = weights.get(queue, 0.0) + hit.dense
    if not weights:
        return None, 0.0
    best = max(weights, key=lambda q: weights[q])
    return best, round(weights[best] / sum(weights.values()), 3)
