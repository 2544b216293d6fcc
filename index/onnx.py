"""Embedding with ONNX Runtime: the same model, exported once from the installed weights.

Serving never imports torch: queries (and answer sentences) are embedded by an ONNX export of
the very weights the passages were embedded with, so both sides agree (a test checks cosine
≥ 0.9999 against sentence-transformers). The export is made locally, by torch at ingest time,
and cached beside the index; nothing is downloaded. Only this module imports onnxruntime.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.embedding import Embedder

MAX_TOKENS = 256  # as sentence-transformers truncates all-MiniLM-L6-v2


def weights_digest(model_dir: Path) -> str:
    """Return a short hash of a model's weights, naming its export."""
    h = hashlib.blake2b(digest_size=8)
    for name in sorted(p.name for p in model_dir.glob("*.safetensors")) or ["none"]:
        path = model_dir / name
        h.update(name.encode())
        h.update(str(path.stat().st_size if path.exists() else 0).encode())
        if path.exists():
            with path.open("rb") as f:
                h.update(f.read(1 << 20))
    return h.hexdigest()


def export_path(models_dir: Path, name: str, model_dir: Path) -> Path:
    """Return where the ONNX export of a model is kept."""
    return models_dir / f"{name.lower()}-{weights_digest(model_dir)}.onnx"


def export(model_dir: Path, target: Path) -> Path:
    """Export the transformer of a sentence-transformers model to ONNX (needs torch and onnx)."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class Encoder(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    # Trace with a padded row: the tracer freezes Python-level branches, and an all-ones mask
    # would freeze the "no padding" one, leaving padded batches unmasked.
    example = torch.ones((2, 8), dtype=torch.long)
    mask = example.clone()
    mask[1, 5:] = 0
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        # The TorchScript exporter is deprecated in favour of torch.export (which needs the
        # onnxscript package too) and warns while tracing; it still exports MiniLM exactly, as
        # a test checks on mixed-length batches.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Encoder(model),
                (example, mask, torch.zeros_like(example)),
                tmp,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class OnnxEmbedder(Embedder):
    """Mean-pooled, normalised embeddings from an ONNX export and the model's tokenizer."""

    def __init__(self, name: str, onnx_file: Path, model_dir: Path, languages: frozenset[str]):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.languages = languages
        options = ort.SessionOptions()
        options.intra_op_num_threads = min(2, os.cpu_count() or 1)
        # Idle threads sleep instead of spinning, so they do not steal the cores that other
        # requests' threads are using.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # the shipped tokenizer pads to 128: five times the work
        self.dim = int(self.session.get_outputs()[0].shape[-1] or 384)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, len(texts), 32):
            encodings = self.tokenizer.encode_batch(list(texts[start : start + 32]))
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(encodings), width), dtype=np.int64)
            mask = np.zeros((len(encodings), width), dtype=np.int64)
            for i, e in enumerate(encodings):
                ids[i, : len(e.ids)] = e.ids
                mask[i, : len(e.ids)] = e.attention_mask
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            with self._lock:
                hidden = self.session.run(None, feed)[0]
            summed = (hidden * mask[..., None]).sum(axis=1)
            vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out.append(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)
