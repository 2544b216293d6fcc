"""Fine-tuning a sentence-transformers embedding model on (question, passage) pairs, on CPU.

The loss is sentence-transformers' ``MultipleNegativesRankingLoss`` (in-batch negatives: each
question against every passage of its batch; van den Oord et al. 2018, "Representation
Learning with Contrastive Predictive Coding", as used by Henderson et al. 2017 and by the
sentence-transformers training of all-MiniLM-L6-v2 itself). The loop is plain PyTorch (AdamW,
linear warm-up then decay) rather than ``SentenceTransformerTrainer``: the trainer needs the
``datasets`` and ``accelerate`` packages, about 60 MB and a dozen dependencies more, for a
loop of twenty lines on one CPU.

Training reads at most :data:`MAX_TOKENS` tokens of each text (passages are embedded with up
to 256 when served): on two cores that halves the time of a step, and the start of a passage
is what a question is matched with.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kb.errors import ConfigError

MAX_TOKENS = 128


def train(
    base: Path,
    pairs: Sequence[tuple[str, str]],
    target: Path,
    *,
    epochs: int = 1,
    batch_size: int = 16,
    learning_rate: float = 3e-5,
    warmup: float = 0.1,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Fine-tune the model in folder ``base`` on ``pairs`` (question, passage) and save it to
    ``target`` (a sentence-transformers folder, about 90 MB for MiniLM).

    Batches are drawn in a seeded order; ``progress(step, steps, loss)`` is called after each.
    Raises :class:`kb.errors.ConfigError` if the model cannot be read or has nothing to train.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    if len(pairs) < 2:
        raise ConfigError("fine-tuning needs at least two pairs")
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the model to tune at {base}: {e}") from None
    served_length = model.max_seq_length
    model.max_seq_length = min(served_length or MAX_TOKENS, MAX_TOKENS)
    loss = MultipleNegativesRankingLoss(model)
    order = list(range(len(pairs)))
    batches: list[list[int]] = []
    for _ in range(epochs):
        random.shuffle(order)
        batches += [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    batches = [b for b in batches if len(b) > 1]  # one pair has no in-batch negative
    steps = len(batches)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    warm = max(1, int(steps * warmup))

    def rate(step: int) -> float:  # linear warm-up, then linear decay to zero
        return (step + 1) / warm if step < warm else max(0.0, (steps - step) / (steps - warm))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    model.train()
    for step, batch in enumerate(batches):
        questions = model.preprocess([pairs[i][0] for i in batch])
        passages = model.preprocess([pairs[i][1] for i in batch])
        value = loss([questions, passages], torch.empty(0))
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if progress is not None:
            progress(step + 1, steps, float(value.detach()))
    model.eval()
    model.max_seq_length = served_length
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    tmp.rename(target)
    return target


def steps_for(pairs: int, epochs: int = 1, batch_size: int = 16) -> int:
    """Return how many optimiser steps :func:`train` takes for ``pairs`` pairs."""
    full, rest = divmod(pairs, batch_size)
    return epochs * (full + (1 if rest > 1 else 0)) if pairs > 1 else 0


def drop_weights(folder: Path) -> None:
    """Delete a saved model's weights, keeping its small files (config, records)."""
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in {".safetensors", ".bin", ".onnx", ".pt"}:
            path.unlink()


def read_json(path: Path) -> dict[str, object]:
    """Return a JSON object from ``path``, or an empty one if it is missing or damaged."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def cosine_ranks(queries: np.ndarray, corpus: np.ndarray, k: int = 10) -> list[list[int]]:
    """Return, for each row of ``queries`` (n × d, unit rows), the indexes of its ``k`` nearest
    rows of ``corpus`` (m × d, unit rows) by cosine, nearest first."""
    scores = np.asarray(queries, dtype=np.float32) @ np.asarray(corpus, dtype=np.float32).T
    k = min(k, scores.shape[1])
    if k == 0:
        return [[] for _ in range(len(scores))]
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return [
        [int(j) for j in row[np.argsort(-scores[i, row], kind="stable")]]
        for i, row in enumerate(top)
    ]


# --- tuned models on disk ---------------------------------------------------------------------
#
# A tuned model is a sentence-transformers folder under the snapshots' folder (``KB_INDEX_DIR``),
# ``models/<base>-tuned-<n>``, with a record of how it was made (``tuning.json``). It lives there
# because every replica that reads a snapshot must load the model the snapshot was built with,
# and the snapshots' folder is the one every replica shares.

TUNED = re.compile(r"(?P<base>.+)-tuned-(?P<n>[0-9]{1,6})")
RECORD = "tuning.json"


def tuned_base(name: str) -> str | None:
    """Return the model a tuned model ``name`` was first tuned from, or None if not tuned."""
    match = TUNED.fullmatch(name)
    return match["base"] if match else None


def models_root(index_dir: Path) -> Path:
    """Return the folder of the tuned models of the snapshots in ``index_dir``."""
    return index_dir / "models"


def tuned_folder(index_dir: Path, name: str) -> Path:
    """Return the folder of tuned model ``name``.

    Raises :class:`kb.errors.ConfigError` if it is not a tuned model's name or its weights are
    missing (a snapshots folder copied without ``models/``).
    """
    if tuned_base(name) is None or "/" in name or name.startswith("."):
        raise ConfigError(f"{name!r} is not the name of a tuned model")
    folder = models_root(index_dir) / name
    if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
        raise ConfigError(f"the tuned model {name} is missing from {folder.parent}")
    return folder


def next_tuned_name(index_dir: Path, base: str) -> str:
    """Return the name of the next tuned model of ``base``: ``<base>-tuned-<n>``, n counting
    every model ever tuned here (refused ones too)."""
    root = models_root(index_dir)
    numbers = [int(m["n"]) for p in root.glob("*") if (m := TUNED.fullmatch(p.name))]
    return f"{base}-tuned-{max(numbers, default=0) + 1}"


def records(index_dir: Path) -> list[dict[str, object]]:
    """Return the records of every tuned model (:data:`RECORD`), oldest first."""
    root = models_root(index_dir)
    found = [(int(m["n"]), p) for p in root.glob("*") if (m := TUNED.fullmatch(p.name))]
    return [read_json(p / RECORD) | {"name": p.name} for _, p in sorted(found)]


def write_record(folder: Path, record: dict[str, object]) -> None:
    """Write a tuned model's record atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(folder / RECORD)
