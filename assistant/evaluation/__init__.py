"""Answer-quality evaluation: several question sets, each over its own corpus, each split into a tuning half
and a held-out half, our pipeline beside the baselines and ablations it must beat."""

from assistant.evaluation.report import COLUMNS, markdown
from assistant.evaluation.runner import EvalSet, evaluate_sets, parse_set
from assistant.evaluation.scoring import EvalItem, ItemResult, load_items, normalise, score_item, summarise

__all__ = [
    "COLUMNS",
    "EvalItem",
    "EvalSet",
    "ItemResult",
    "evaluate_sets",
    "load_items",
    "markdown",
    "normalise",
    "parse_set",
    "score_item",
    "summarise",
]
