"""Runs question sets, each over its own corpus in its own collection, through the chosen variants."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.evaluation.scoring import EvalItem, load_items, run_items, summarise
from assistant.evaluation.variants import check, resolve
from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.container import Container

SEED = 20261125


@dataclass
class EvalSet:
    name: str
    path: Path
    corpus: Path
    items: list[EvalItem]


def parse_set(spec: str, default_corpus: Path) -> EvalSet:
    """`questions.jsonl` (over the default documents) or `questions.jsonl=CORPUS_DIR`."""
    path_text, _, corpus_text = spec.partition("=")
    path = Path(path_text)
    name = path.parent.name if path.stem == "questions" else path.stem
    corpus = Path(corpus_text) if corpus_text else default_corpus
    if not corpus.exists():
        raise ValueError(f"corpus {corpus} for {path} does not exist")
    return EvalSet(name, path, corpus, load_items(path))


def halves(items: Sequence[EvalItem], seed: int = SEED) -> dict[str, str]:
    """Each item's half ('tune' or 'held-out'): a fixed shuffle within each question type."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_type[item.type].append(item.id)
    out: dict[str, str] = {}
    for qtype, ids in sorted(by_type.items()):
        ordered = sorted(ids)
        random.Random(f"{seed}:{qtype}").shuffle(ordered)
        for i, item_id in enumerate(ordered):
            out[item_id] = "tune" if i % 2 == 0 else "held-out"
    return out


def container_for(settings: Settings, evalset: EvalSet, ingest: bool = True) -> Container:
    """A collection of its own per set, ingested incrementally (a re-run embeds nothing new); `ingest`
    False opens it as it is (no write lock: another run may be ingesting another set)."""
    from assistant.container import build_container

    slug = re.sub(r"[^a-z0-9]+", "-", evalset.name.lower()).strip("-") or "set"
    container = build_container(settings.model_copy(update={"collection": f"eval-{slug}"}))
    if ingest:
        container.ingest.ingest([evalset.corpus])
    return container


def evaluate_set(
    settings: Settings, evalset: EvalSet, variants: Sequence[str], k: int | None, halves_seed: int = SEED
) -> dict[str, Any]:
    container = container_for(settings, evalset)
    half_of = halves(evalset.items, halves_seed)
    workdir = settings.data_dir / "eval-baselines"
    data: dict[str, Any] = {"items": len(evalset.items), "corpus": str(evalset.corpus), "variants": {}}
    for name in variants:
        results = run_items(resolve(name)(container, workdir), evalset.items, k=k, corpus=evalset.corpus)
        for result in results:
            result.half = half_of[result.id]
        data["variants"][name] = {"summary": summarise(results), "items": [asdict(r) for r in results]}
    return data


def evaluate_sets(
    settings: Settings, sets: Sequence[EvalSet], variants: Sequence[str], k: int | None = None
) -> dict[str, Any]:
    check(variants, k)  # a bad name or setting fails here, before any corpus is ingested
    return {"seed": SEED, "sets": {s.name: evaluate_set(settings, s, variants, k) for s in sets}}
