"""The answerer's fit (`make fit-answerer`, the LOCO report): the scorer learns which unit answers from
labelled items, stays at the prior where the items say nothing, and keeps the prior's average score, so the
answerer's floors and ratios read the same probabilities."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from assistant.answering.compose import UNIT_FEATURES, prior_weights


def _item(rng: np.random.Generator) -> Any:
    """Six candidate units of one question: the one that answers is a table row the question looks up
    (`lookup`), while a distractor is a closer paraphrase (`semantic`): the prior ranks the distractor
    first."""
    from assistant.evaluation.fit import Case

    rows = rng.uniform(0.0, 0.3, size=(6, len(UNIT_FEATURES)))
    col = {name: UNIT_FEATURES.index(name) for name in ("semantic", "lookup")}
    rows[:, col["lookup"]] = 0.0
    rows[1] = rows[0]  # alike but for the two features below
    rows[0, col["semantic"]], rows[0, col["lookup"]] = 0.45, 1.0
    rows[1, col["semantic"]] = 0.8
    labels = np.zeros(6, dtype=int)
    labels[0] = 1
    return Case(cast(Any, None), cast(Any, None), rows, labels, gated=False)


def _ranks_first(coef: tuple[float, ...], case: Any) -> bool:
    scores = case.rows @ np.asarray(coef)
    return int(np.argmax(scores)) == int(np.argmax(case.labels))


def test_the_fit_learns_what_the_labels_show_and_keeps_the_prior_average_score() -> None:
    from assistant.evaluation.fit import fit_scorer

    rng = np.random.default_rng(7)
    cases = [_item(rng) for _ in range(40)]
    prior = prior_weights().scorer
    assert not any(_ranks_first(prior.coef, c) for c in cases), "the prior ranks the paraphrase first"

    fitted = fit_scorer(cases)
    assert all(_ranks_first(fitted.coef, c) for c in cases)
    rows = np.vstack([c.rows for c in cases])
    prior_logits = rows @ np.asarray(prior.coef) + prior.intercept
    fitted_logits = rows @ np.asarray(fitted.coef) + fitted.intercept
    assert abs(prior_logits.mean() - fitted_logits.mean()) < 1e-6

    held = fit_scorer(cases, shrink=1e9)
    assert np.allclose(held.coef, prior.coef, atol=1e-3), "a prohibitive cost keeps the prior"


def test_without_an_item_to_rank_the_fit_is_the_prior() -> None:
    from assistant.evaluation.fit import fit_scorer

    rng = np.random.default_rng(7)
    cases = [_item(rng) for _ in range(3)]
    for c in cases:
        c.labels[:] = 0  # no unit answers: nothing says which of two units is better
    assert fit_scorer(cases) == prior_weights().scorer


def test_harvested_passages_are_retrieved_again_when_the_corpus_changes(tmp_path) -> None:
    """The LOCO report reads passages cached per set; a corpus edited (or chunked in another layout, or
    retrieved with other settings) since is retrieved again from a store brought up to date, not read
    from the cache: the answer the old text gave is gone."""
    import json

    from assistant.evaluation.harvest import harvest
    from assistant.evaluation.runner import parse_set
    from assistant.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    notes = corpus / "ferry.txt"
    notes.write_text("The ferry to the island leaves the harbour at nine in the morning.\n")
    item = {"id": "q1", "question": "When does the ferry leave?", "history": [], "answerable": True}
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps(item | {"answer": "", "must": [], "evidence": [], "type": "factoid"}))
    settings = Settings(data_dir=tmp_path / "data")
    evalset = parse_set(f"{questions}={corpus}", settings.docs_dir)

    def passages() -> str:
        return " ".join(p.page_content for p in harvest(settings, evalset)[0].passages)

    assert "at nine" in passages()
    cache = next((tmp_path / "data" / "eval-passages").glob("*.json"))
    written = cache.stat().st_mtime_ns
    assert "at nine" in passages() and cache.stat().st_mtime_ns == written, "unchanged: read from the cache"
    notes.write_text("The ferry to the island leaves the harbour at ten in the morning, not earlier.\n")
    text = passages()
    assert "at ten" in text and "at nine" not in text, text
