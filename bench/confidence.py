"""Fit the default confidence weights on the dev help centres' labelled questions.

    python -m bench.confidence [SET ...]      (default: every set under bench/helpcentres)

For each set it crawls the help centre into ``~/.cache/kb-bench/helpcentres/NAME`` (kept, so a
second run embeds nothing), computes the confidence features of every question's top page
(kb/confidence.py), and labels it right when that page is one of the question's right pages
(off-topic questions are never right). It prints the weights fitted on all sets, which are
``kb.confidence.DEFAULT_WEIGHTS``, and, so they are not judged on the questions they were fitted
on, each set's figures under weights fitted on the other sets alone: the expected calibration
error of the answers given at the default threshold, the shares of its questions answered and
answered with a right top page, and the share of its off-topic questions refused.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from kb.calibration import expected_calibration_error
from kb.confidence import FEATURES, features, fit
from kb.config import load_settings
from kb.usecases.bootstrap import build
from kb.usecases.helpcentre_eval import Labels, crawlable, forget_other_sources, load_helpcentre_set

SETS = Path(__file__).parent / "helpcentres"
CACHE = Path.home() / ".cache" / "kb-bench" / "helpcentres"
THRESHOLD = 0.4  # answers below this are refused, as with the default KB_MIN_CONFIDENCE


def labelled_features(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return the features and right/wrong labels of a set's questions, off-topic last."""
    evalset = load_helpcentre_set(folder)
    kb = build(replace(load_settings(), home=CACHE / evalset.name, config=None))
    rows, labels = [], []
    with crawlable(evalset.source) as (start, base, root):
        forget_other_sources(kb, start)
        kb.ingestion.ingest([start])
        right_pages = Labels(base, root)
        searcher = kb.retrieval.searcher()
        known = searcher.knows
        asked = [(q.text, q.pages) for q in evalset.questions]
        asked += [(text, ()) for text in evalset.off_topic]
        for text, pages in asked:
            hits = kb.retrieval.rank(text, 2, searcher=searcher)
            top = [hits[0].passage.url, *hits[0].duplicates] if hits else []
            rows.append(features(hits, known, text, searcher.above_chance))
            labels.append(bool(pages) and right_pages.right(top, pages))
    return np.array(rows, dtype=float), np.array(labels, dtype=float)


def main(names: list[str]) -> None:
    folders = [SETS / n for n in names] if names else sorted(p.parent for p in
                                                            SETS.glob("*/eval.toml"))  # fmt: skip
    data = {f.name: labelled_features(f) for f in folders}
    off_topic = {f.name: len(load_helpcentre_set(f).off_topic) for f in folders}
    prior = np.zeros(len(FEATURES) + 1)
    every = fit(np.vstack([x for x, _ in data.values()]),
                np.concatenate([y for _, y in data.values()]), prior, strength=0.1)  # fmt: skip
    print("weights (" + ", ".join((*FEATURES, "bias")) + "):")
    print("  (" + ", ".join(f"{w:.2f}" for w in every.weights) + ")")
    print(f"{'held-out set':<18}{'questions':>10}{'ECE':>8}{'answered':>10}{'right':>8}"
          f"{'off-topic refused':>19}")  # fmt: skip
    for name, (x, y) in data.items():
        others = [data[n] for n in data if n != name]
        if not others:
            continue
        model = fit(np.vstack([o[0] for o in others]), np.concatenate([o[1] for o in others]),
                    prior, strength=0.1)  # fmt: skip
        p = np.array([model.probability(row) for row in x])
        given, right = p >= THRESHOLD, y.astype(bool)
        ece = expected_calibration_error(list(p[given]), list(right[given]))
        n = len(y) - off_topic[name]  # in-scope questions come first
        print(f"{name:<18}{len(y):>10}{ece:>8.3f}{given[:n].mean():>10.2f}"
              f"{(given & right)[:n].mean():>8.2f}{(~given[n:]).mean():>19.2f}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
