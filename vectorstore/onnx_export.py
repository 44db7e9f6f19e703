"""A sentence-transformers model exported locally to ONNX (fp32) and quantized to int8, cached on disk.

Nothing is downloaded: the export reads the local weights (the bundled all-MiniLM-L6-v2 or any local
sentence-transformers folder of a BERT-like model with mean or CLS pooling) and writes, once per model,

    <cache_dir>/<model name>-<key>/model.onnx        fp32, graph-optimised (fused attention, LayerNorm, GELU)
                                 /model_int8.onnx   the same graph with int8 weights (dynamic quantization)
                                 /tokenizer.json    the model's fast tokenizer
                                 /export.json       what was exported, from what, with which versions

`key` hashes the source files and the export recipe, so changed weights or a new recipe export again and
an old entry is never used for another model. Concurrent processes export once (a file lock) and readers
only ever see a complete folder (written aside, then renamed).

The graph takes `input_ids` and `attention_mask` and returns `sentence_embedding`: the model's pooling and
L2 normalisation are inside it, so the runtime side is a tokenizer and one `session.run`.

Why not sentence-transformers' own `backend="onnx"` and `export_dynamic_quantized_onnx_model`: both go
through optimum-onnx, whose only release (0.1.0) requires transformers<4.58, while sentence-transformers 6
requires transformers>=5; the two cannot be installed together. The recipe below is the one those helpers
apply (ONNX export, ONNX Runtime's BERT graph fusions, `quantize_dynamic` with int8 weights), done with
torch's exporter and ONNX Runtime's own tools.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from vectorstore.errors import ExportError

log = logging.getLogger(__name__)

Variant = Literal["fp32", "int8"]
# Bump when the export recipe changes: entries made by an older recipe are then ignored.
RECIPE = "onnx-export-v1"
OPSET = 17
FILES = {"fp32": "model.onnx", "int8": "model_int8.onnx"}
_ATTENTION = "grounded_assistant_onnx_export"
_SOURCE_FILES = (
    "config.json",
    "tokenizer.json",
    "sentence_bert_config.json",
    "modules.json",
    "1_Pooling/config.json",
    "model.safetensors",
    "pytorch_model.bin",
)


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "grounded-assistant" / "onnx"


def model_config(model_dir: Path) -> dict[str, Any]:
    """Sequence length and pooling, as sentence-transformers reads them from the model folder."""
    max_length = 512
    st_config = model_dir / "sentence_bert_config.json"
    if st_config.exists():
        max_length = int(json.loads(st_config.read_text()).get("max_seq_length") or max_length)
    pooling = "mean"
    pooling_file = model_dir / "1_Pooling" / "config.json"
    if pooling_file.exists():
        modes = json.loads(pooling_file.read_text())
        chosen = [
            name
            for name, key in (("mean", "pooling_mode_mean_tokens"), ("cls", "pooling_mode_cls_token"))
            if modes.get(key)
        ]
        others = [
            k
            for k, v in modes.items()
            if k.startswith("pooling_mode_")
            and v
            and k not in ("pooling_mode_mean_tokens", "pooling_mode_cls_token")
        ]
        if len(chosen) != 1 or others:
            raise ExportError(f"{model_dir}: only mean or CLS pooling can be exported, got {modes}")
        pooling = chosen[0]
    if not (model_dir / "tokenizer.json").exists():
        raise ExportError(f"{model_dir}: no tokenizer.json (a fast tokenizer is needed)")
    return {"max_length": max_length, "pooling": pooling}


def source_key(model_dir: Path) -> str:
    """Content hash of the files that decide the vectors, and of the export recipe."""
    digest = hashlib.sha256(RECIPE.encode())
    found = False
    for name in _SOURCE_FILES:
        path = model_dir / name
        if not path.exists():
            continue
        found = found or name in ("model.safetensors", "pytorch_model.bin")
        digest.update(name.encode() + b"\0")
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    if not found:
        raise ExportError(f"{model_dir}: no model.safetensors or pytorch_model.bin to export")
    return digest.hexdigest()[:16]


def entry_dir(model_dir: Path, cache_dir: Path) -> Path:
    name = model_dir.name if model_dir.name not in ("", "model") else model_dir.parent.name
    return cache_dir / f"{name}-{source_key(model_dir)}"


def ensure_exported(model_dir: Path | str, variant: Variant, cache_dir: Path | str | None = None) -> Path:
    """The cached ONNX file of `variant` for the model, exported first if missing. Returns its path."""
    model_dir = Path(model_dir)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    if variant not in FILES:
        raise ExportError(f"unknown ONNX variant {variant!r} (fp32, int8)")
    entry = entry_dir(model_dir, cache_dir)
    target = entry / FILES[variant]
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / f"{entry.name}.lock"):
        if target.exists():  # another process exported while we waited
            return target
        started = time.perf_counter()
        log.info("exporting %s to ONNX in %s (once per model)", model_dir, entry)
        _export(model_dir, entry)
        log.info("ONNX export done in %.1f s", time.perf_counter() - started)
    return target


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _export(model_dir: Path, entry: Path) -> None:
    config = model_config(model_dir)
    work = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        raw = work / "raw.onnx"
        _torch_export(model_dir, raw, config["pooling"])
        fp32 = work / FILES["fp32"]
        _optimise(model_dir, raw, fp32)
        raw.unlink()
        _quantise(fp32, work / FILES["int8"])
        shutil.copy2(model_dir / "tokenizer.json", work / "tokenizer.json")
        (work / "export.json").write_text(json.dumps(_manifest(model_dir, config), indent=1) + "\n")
        work.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as the model it came from
        if entry.exists():  # a partial entry from an interrupted older run
            shutil.rmtree(entry)
        os.replace(work, entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _manifest(model_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
    from importlib import metadata

    versions = {}
    for package in ("torch", "transformers", "onnx", "onnxruntime"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "source": str(model_dir),
        "recipe": RECIPE,
        "opset": OPSET,
        **config,
        "files": FILES,
        "quantization": "dynamic, int8 weights (QInt8, per channel), uint8 activations",
        "versions": versions,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _torch_export(model_dir: Path, out: Path, pooling: str) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - both are dependencies of the project
        raise ExportError("exporting to ONNX needs torch and transformers") from exc

    _register_classic_attention()
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation=_ATTENTION)
    model.eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings, and the legacy exporter's deprecation notice
        torch.onnx.export(
            _sentence_embedding(model, pooling),
            (ids, mask),
            str(out),
            dynamo=False,  # the TorchScript exporter: fast, no onnxscript, and its graph is what ORT fuses
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "sentence_embedding": {0: "batch"},
            },
            opset_version=OPSET,
        )


def _register_classic_attention() -> None:
    """Registers `_ATTENTION` with transformers: eager attention written as classic BERT wrote it (scores /
    sqrt(d) + additive mask), the subgraph ONNX Runtime's optimiser fuses into one Attention operator.
    transformers 5's eager attention multiplies by the scale, which its pattern matcher confuses with the
    mask's Mul."""
    import torch
    from transformers import AttentionInterface

    def classic_attention(
        module: Any,
        query: Any,
        key: Any,
        value: Any,
        attention_mask: Any,
        scaling: float | None = None,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> tuple[Any, None]:
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(module.attention_head_size)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = torch.nn.functional.softmax(scores, dim=-1)
        return torch.matmul(probs, value).transpose(1, 2).contiguous(), None

    AttentionInterface.register(_ATTENTION, classic_attention)


def _sentence_embedding(model: Any, pooling: str) -> Any:
    """The module to export: the encoder, then the model's pooling and L2 normalisation, what
    sentence-transformers computes."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            # The additive 4-D mask of classic BERT, built here: transformers then uses it as given, and
            # ONNX Runtime recognises the pattern and fuses each layer's attention into one operator.
            additive = (1.0 - attention_mask.unsqueeze(1).unsqueeze(2).to(torch.float32)) * -10000.0
            hidden = self.encoder(
                input_ids=input_ids,
                attention_mask=additive,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return SentenceEmbedding()


def _optimise(model_dir: Path, source: Path, out: Path) -> None:
    """ONNX Runtime's BERT fusions (attention, skip-LayerNorm, GELU), as optimum's O2 level applies them."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((model_dir / "config.json").read_text())
    optimised = optimize_model(
        str(source),
        model_type="bert",
        num_heads=int(config.get("num_attention_heads", 0)),
        hidden_size=int(config.get("hidden_size", 0)),
    )
    log.info("fused operators: %s", optimised.get_fused_operator_statistics())
    optimised.save_model_to_file(str(out))


def _quantise(source: Path, out: Path) -> None:
    """Dynamic quantization: int8 weights, activations quantized per call; no calibration data needed."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        # The fused operators (com.microsoft domain) defeat ONNX shape inference: their outputs are float.
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
