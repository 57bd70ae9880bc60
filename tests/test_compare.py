"""Run comparison on canned run directories (no training): tables, disagreements, significance, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from workbench.core.compare import stats as cmp_stats
from workbench.core.compare import compare_runs, mcnemar_exact, paired_bootstrap_ci, render_markdown
from workbench.core.errors import WorkbenchError
from workbench.core.runs import RunStore

LABELS = ["negative", "positive"]
N = 40
# Outcome of each eval example for runs A and B: both right 20, A only 3, B only 12, both wrong 5.
PATTERN = [(True, True)] * 20 + [(True, False)] * 3 + [(False, True)] * 12 + [(False, False)] * 5
GOLD = [LABELS[i % 2] for i in range(N)]
TEXTS = [f"example sentence number {i}" for i in range(N)]
BASE_CONFIG = {"data": "/data/train.csv", "eval_data": None, "model": "default", "epochs": 1.0, "batch_size": 16,
               "lr": 5e-5, "seed": 42, "max_length": 128}


def _other(label: str) -> str:
    return LABELS[1 - LABELS.index(label)]


def predictions_for(correct: list[bool], *, confidence: float = 0.8, gold=None, texts=None, ids=None) -> list[dict]:
    """Prediction records with the given correctness; the run's confidence in its prediction is fixed."""
    gold = gold or GOLD
    texts = texts or TEXTS
    ids = ids if ids is not None else list(range(len(correct)))
    out = []
    for i, ok in enumerate(correct):
        predicted = gold[i] if ok else _other(gold[i])
        out.append({"id": ids[i], "input": texts[i], "gold": gold[i], "predicted": predicted, "correct": ok,
                    "scores": {predicted: confidence, _other(predicted): round(1 - confidence, 6)}})
    return out


def evaluation_of(records: list[dict]) -> dict:
    """What the trainer stores in run.json, computed here with scikit-learn, independently of compare.py."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    gold = [r["gold"] for r in records]
    pred = [r["predicted"] for r in records]
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=LABELS, zero_division=0)
    return {"per_class": {LABELS[i]: {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
                          for i in range(len(LABELS))},
            "confusion_matrix": confusion_matrix(gold, pred, labels=LABELS).tolist(), "labels": LABELS}


def make_run(ws: Path, name: str, *, minute: int, config: dict | None = None, records: list[dict] | None = None,
             events: list[dict] | None = None, fingerprint: str = "evalfp", status: str = "completed",
             metrics: dict | None = None, with_evaluation: bool = True, train_summary: dict | None = None,
             parameters: int = 22_713_986) -> str:
    """A hand-built run directory: run.json, metrics.jsonl and (optionally) predictions.jsonl."""
    run_id = f"20260101-00{minute:02d}00-{name}"
    path = ws / "runs" / run_id
    path.mkdir(parents=True)
    info = {"id": run_id, "name": name, "task": "text-classification", "status": status,
            "created": f"2026-01-01T00:{minute:02d}:00+00:00", "host": "elsewhere", "pid": None,
            "config": {**BASE_CONFIG, **(config or {}), "name": name}, "labels": LABELS,
            "data": {"train": {"source": "/data/train.csv", "rows": 400, "fingerprint": "trainfp"},
                     "eval": {"source": "/data/dev.csv", "rows": N, "fingerprint": fingerprint}},
            "parameters": parameters,
            "train_summary": train_summary or {"train_runtime": 60.0, "train_samples_per_second": 10.0}}
    if records is not None:
        accuracy = sum(r["predicted"] == r["gold"] for r in records) / len(records)
        info["metrics"] = metrics or {"accuracy": accuracy, "macro_f1": accuracy - 0.01, "eval_loss": 0.5}
        if with_evaluation:
            info["evaluation"] = evaluation_of(records)
        (path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    elif metrics:
        info["metrics"] = metrics
    (path / "run.json").write_text(json.dumps(info))
    events = events if events is not None else [
        {"kind": "train", "step": s, "epoch": s / 10, "loss": 1.0 / s, "lr": 1e-5} for s in range(1, 11)
    ] + [{"kind": "eval", "step": 10, "epoch": 1.0, "loss": 0.5, "accuracy": 0.7, "macro_f1": 0.69}]
    (path / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run_id


# Local fixtures, so these tests need nothing from conftest.py (no model, no workers).
@pytest.fixture
def ws(tmp_path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def run_cli(ws, capsys):
    """The CLI in-process on ``ws``: returns (exit code, stdout, stderr)."""
    from workbench.cli import main

    def run(*argv: str):
        code = main(["--workspace", str(ws), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def pair_ws(ws):
    """Runs A (lr 5e-5) and B (lr 1e-4) on the same 40 eval examples, with PATTERN's outcomes."""
    make_run(ws, "a", minute=1, records=predictions_for([a for a, _ in PATTERN], confidence=0.7),
             metrics={"accuracy": 23 / 40, "macro_f1": 0.57, "eval_loss": 0.65},
             train_summary={"train_runtime": 50.0, "train_samples_per_second": 12.0})
    make_run(ws, "b", minute=2, config={"lr": 1e-4}, records=predictions_for([b for _, b in PATTERN], confidence=0.9),
             metrics={"accuracy": 32 / 40, "macro_f1": 0.80, "eval_loss": 0.45},
             train_summary={"train_runtime": 70.0, "train_samples_per_second": 9.0})
    return ws


def compare_names(ws: Path, *names: str, **kwargs):
    store = RunStore(ws)
    return compare_runs([store.get(n) for n in names], **kwargs)


# ------------------------------------------------------------------------------------------ statistics
def exact_mcnemar_by_hand(b: int, c: int) -> float:
    n, k = b + c, min(b, c)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


@pytest.mark.parametrize("b,c", [(3, 12), (12, 3), (0, 5), (7, 7), (1, 0), (10, 25)])
def test_mcnemar_matches_the_exact_binomial_by_hand(b, c):
    assert mcnemar_exact(b, c) == pytest.approx(exact_mcnemar_by_hand(b, c), rel=1e-12)


def test_mcnemar_closed_forms():
    assert mcnemar_exact(0, 0) == 1.0  # no discordant pairs: no evidence
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 2 ** 5)
    assert mcnemar_exact(3, 12) == pytest.approx(2 * (1 + 15 + 105 + 455) / 2 ** 15)


def plain_loop_bootstrap(a, b, n_boot, seed, confidence=0.95):
    """The paired bootstrap written as a plain loop: one resample of example indices at a time."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(a), size=len(a))
        diffs.append(b[idx].mean() - a[idx].mean())
    tail = (1 - confidence) / 2
    return tuple(np.quantile(diffs, [tail, 1 - tail]))


def test_bootstrap_matches_a_plain_loop_with_the_same_seed():
    a, b = [x for x, _ in PATTERN], [y for _, y in PATTERN]
    expected = plain_loop_bootstrap(a, b, 2000, seed=7)
    assert paired_bootstrap_ci(a, b, n_boot=2000, seed=7) == pytest.approx(expected, abs=1e-12)


def test_bootstrap_in_small_blocks_draws_the_same_resamples(monkeypatch):
    a, b = [x for x, _ in PATTERN], [y for _, y in PATTERN]
    whole = paired_bootstrap_ci(a, b, n_boot=1000, seed=3)
    monkeypatch.setattr(cmp_stats, "_BOOT_CELLS", 7 * N)  # 7 resamples per block, last block partial
    assert paired_bootstrap_ci(a, b, n_boot=1000, seed=3) == pytest.approx(whole, abs=1e-12)


def test_bootstrap_closed_forms_and_agreement_with_scipy():
    same = [True, False] * 20
    assert paired_bootstrap_ci(same, same, n_boot=500) == (0.0, 0.0)
    assert paired_bootstrap_ci([False] * 30, [True] * 30, n_boot=500) == (1.0, 1.0)
    # scipy's percentile bootstrap of the mean paired difference draws differently but must land close.
    from scipy.stats import bootstrap

    a, b = [x for x, _ in PATTERN], [y for _, y in PATTERN]
    diff = np.array(b, dtype=float) - np.array(a, dtype=float)
    ref = bootstrap((diff,), np.mean, n_resamples=10_000, method="percentile", rng=np.random.default_rng(1)).confidence_interval
    low, high = paired_bootstrap_ci(a, b, n_boot=10_000, seed=0)
    assert low == pytest.approx(ref.low, abs=0.03) and high == pytest.approx(ref.high, abs=0.03)


# ------------------------------------------------------------------------------------------ the comparison
def test_pair_statistics_and_verdict(pair_ws):
    c = compare_names(pair_ws, "a", "b", seed=0, n_boot=10_000)
    p = c.pair(0, 1)
    assert (p.n, p.both_right, p.a_only, p.b_only, p.both_wrong) == (40, 20, 3, 12, 5)
    assert p.accuracy_a == pytest.approx(23 / 40) and p.accuracy_b == pytest.approx(32 / 40)
    assert p.diff_pt == pytest.approx(22.5)
    assert p.p_value == pytest.approx(exact_mcnemar_by_hand(3, 12))
    low, high = plain_loop_bootstrap([x for x, _ in PATTERN], [y for _, y in PATTERN], 10_000, seed=0)
    assert (p.ci_low_pt, p.ci_high_pt) == pytest.approx((low * 100, high * 100), abs=1e-9)
    assert p.significant and p.winner == 1 and p.refused is None
    assert p.verdict == f"b is better than a: +22.5 pt, 95% CI [{low * 100:.1f}, {high * 100:.1f}], p = 0.035"
    assert c.same_eval and c.eval_rows == 40 and not c.notes


def test_verdict_speaks_from_the_winner_and_says_no_difference_plainly(pair_ws):
    reverse = compare_names(pair_ws, "b", "a").pair(0, 1)
    assert reverse.verdict.startswith("b is better than a: +22.5 pt, 95% CI [") and reverse.winner == 0
    assert reverse.diff_pt == pytest.approx(-22.5)
    make_run(pair_ws, "a2", minute=3, config={"seed": 1}, records=predictions_for([a for a, _ in PATTERN], confidence=0.6))
    tie = compare_names(pair_ws, "a", "a2").pair(0, 1)
    assert not tie.significant and tie.winner is None
    assert tie.verdict == "no significant difference (McNemar p = 1.00; bootstrap 95% CI [+0.0, +0.0] pt)"


def test_metrics_table_marks_the_best_value_per_row(pair_ws):
    c = compare_names(pair_ws, "a", "b")
    rows = {m.key: m for m in c.metrics}
    assert [m.key for m in c.metrics] == ["accuracy", "macro_f1", "eval_loss", "train_runtime", "samples_per_s", "parameters"]
    assert rows["accuracy"].main and rows["accuracy"].values == [23 / 40, 32 / 40]
    assert rows["accuracy"].best == [1] and rows["macro_f1"].best == [1]
    assert rows["eval_loss"].best == [1]  # lower is better
    assert rows["train_runtime"].best == [0] and rows["samples_per_s"].best == [0]
    assert rows["parameters"].best == []  # a tie marks nobody
    assert rows["eval_loss"].deltas == pytest.approx([0.0, -0.2])


def test_config_diff_shows_only_differing_fields(pair_ws):
    make_run(pair_ws, "c", minute=3, config={"lr": 1e-4, "batch_size": 32, "warmup_ratio": 0.1},
             records=predictions_for([b for _, b in PATTERN]))
    c = compare_names(pair_ws, "a", "b", "c")
    diff = {d.key: d.values for d in c.config_diff}
    assert diff == {"lr": [5e-5, 1e-4, 1e-4], "batch_size": [16, 16, 32], "warmup_ratio": [None, None, 0.1]}
    assert [d.key for d in compare_names(pair_ws, "b", "c").config_diff] == ["batch_size", "warmup_ratio"]


def test_per_class_scores_and_deltas_vs_the_first_run(pair_ws):
    c = compare_names(pair_ws, "a", "b")
    ev = {name: evaluation_of(RunStore(pair_ws).get(name).read_predictions()) for name in ("a", "b")}
    assert c.labels == LABELS
    for row in c.per_class:
        for m in ("precision", "recall", "f1"):
            a, b = ev["a"]["per_class"][row.label][m], ev["b"]["per_class"][row.label][m]
            assert row.scores[m] == pytest.approx([a, b])
            assert row.deltas[m] == pytest.approx([0.0, b - a])
        assert row.support == [20, 20]
    assert c.confusion[0].matrix == ev["a"]["confusion_matrix"] and c.confusion[1].labels == LABELS


def test_per_class_falls_back_to_the_predictions_when_run_json_lacks_them(ws):
    make_run(ws, "a", minute=1, records=predictions_for([a for a, _ in PATTERN]), with_evaluation=False)
    make_run(ws, "b", minute=2, records=predictions_for([b for _, b in PATTERN]), with_evaluation=False)
    c = compare_names(ws, "a", "b")
    # B is right on 32 of 40 alternating gold labels: hand count the positives (odd ids).
    recs = predictions_for([b for _, b in PATTERN])
    tp = sum(r["gold"] == r["predicted"] == "positive" for r in recs)
    fp = sum(r["gold"] == "negative" and r["predicted"] == "positive" for r in recs)
    positive = next(r for r in c.per_class if r.label == "positive")
    assert positive.scores["precision"][1] == pytest.approx(tp / (tp + fp))
    assert positive.scores["recall"][1] == pytest.approx(tp / 20)
    assert sum(map(sum, c.confusion[1].matrix)) == N


def test_disagreement_list_and_filters(pair_ws):
    c = compare_names(pair_ws, "a", "b")
    assert len(c.disagreements) == 15  # binary labels: both wrong means the same wrong label
    assert c.disagreement_runs == [0, 1]
    kinds = [d.kind for d in c.disagreements]
    assert kinds.count("A right, B wrong") == 3 and kinds.count("B right, A wrong") == 12
    first = c.disagreements[0]
    # Most confident mistake first: B's wrong answers carry 0.9, A's only 0.7.
    assert first.kind == "A right, B wrong" and first.predictions[1].score == pytest.approx(0.9)
    assert first.input == TEXTS[first.id] and first.gold == GOLD[first.id]
    b_wins = c.disagreements_for(right=1, wrong=0)
    assert len(b_wins) == 12 and all(d.predictions[1].correct and not d.predictions[0].correct for d in b_wins)
    negatives = c.disagreements_for(gold="negative", right=1, wrong=0)
    assert negatives and all(d.gold == "negative" for d in negatives)
    assert len(negatives) == sum(1 for i in range(20, 35) if PATTERN[i] == (False, True) and GOLD[i] == "negative")
    assert all("positive" in [p.predicted for p in d.predictions] for d in c.disagreements_for(predicted="positive"))
    with pytest.raises(WorkbenchError, match="no class 'neutral'"):
        c.disagreements_for(gold="neutral")


def test_curves_align_by_step_or_epoch(ws):
    events = [{"kind": "train", "step": s, "epoch": s / 4, "loss": 1.0 / s} for s in (1, 2, 3, 4)]
    events += [{"kind": "system", "step": 4, "epoch": 1.0, "cpu_percent": 50.0},
               {"kind": "eval", "step": 4, "epoch": 1.0, "loss": 0.4, "accuracy": 0.8, "macro_f1": 0.79},
               {"kind": "train", "step": 4, "epoch": 1.0, "loss": 0.2}]  # a resumed run re-logs step 4
    make_run(ws, "a", minute=1, records=predictions_for([a for a, _ in PATTERN]), events=events)
    make_run(ws, "b", minute=2, records=predictions_for([b for _, b in PATTERN]))
    by_step = {(s.run, s.name): s for s in compare_names(ws, "a", "b").curves}
    assert by_step[(0, "train_loss")].x == [1, 2, 3, 4]
    assert by_step[(0, "train_loss")].y == pytest.approx([1.0, 0.5, 1 / 3, 0.2])
    assert by_step[(0, "eval_accuracy")].y == [0.8] and (1, "eval_macro_f1") in by_step
    by_epoch = {(s.run, s.name): s for s in compare_names(ws, "a", "b", align="epoch").curves}
    assert by_epoch[(0, "train_loss")].x == [0.25, 0.5, 0.75, 1.0]
    assert by_epoch[(1, "eval_loss")].x == [1.0]


# ------------------------------------------------------------------------------------------ refusals
def test_different_eval_sets_are_refused_but_the_rest_still_shows(pair_ws):
    make_run(pair_ws, "other", minute=3, fingerprint="another", records=predictions_for([b for _, b in PATTERN]))
    c = compare_names(pair_ws, "a", "other")
    p = c.pair(0, 1)
    assert p.refused and "different data" in p.refused and p.p_value is None and p.significant is None
    assert p.verdict.startswith("not tested:")
    assert not c.same_eval and c.disagreements == [] and c.disagreement_runs == [0]
    assert any("different data" in n for n in c.notes)
    assert c.metric("accuracy").values[1] is not None and c.per_class and c.confusion[1] is not None


def test_same_fingerprint_but_different_examples_are_refused(pair_ws):
    gold = [_other(g) for g in GOLD]
    make_run(pair_ws, "flipped", minute=3, records=predictions_for([True] * N, gold=gold))
    make_run(pair_ws, "shifted", minute=4, records=predictions_for([True] * N, ids=list(range(100, 100 + N))))
    c = compare_names(pair_ws, "a", "b", "flipped", "shifted")
    assert "gold label of 40" in c.pair(0, 2).refused
    assert "different examples" in c.pair(0, 3).refused
    assert c.pair(0, 1).refused is None  # the comparable pair is still tested
    assert c.disagreement_runs == [0, 1]
    assert all(d.predictions[2] is None and d.predictions[3] is None for d in c.disagreements)


def test_run_without_predictions_is_handled_with_a_reason(pair_ws):
    events = [{"kind": "train", "step": 5, "epoch": 0.5, "loss": 0.6},
              {"kind": "eval", "step": 5, "epoch": 0.5, "loss": 0.55, "accuracy": 0.66, "macro_f1": 0.65}]
    make_run(pair_ws, "live", minute=3, status="running", events=events)  # pid None on another host: crashed
    c = compare_names(pair_ws, "a", "live")
    p = c.pair(0, 1)
    assert p.refused and "no predictions" in p.refused
    assert c.metric("accuracy").values == pytest.approx([23 / 40, 0.66])  # from its latest evaluation
    assert any("latest evaluation (step 5)" in n for n in c.runs[1].notes)
    assert c.confusion[1] is None and c.per_class[0].scores["f1"][1] is None
    assert "not tested" in render_markdown(c)


def test_predictions_that_contradict_the_recorded_accuracy_are_not_used(ws):
    make_run(ws, "a", minute=1, records=predictions_for([a for a, _ in PATTERN]))
    make_run(ws, "bad", minute=2, records=predictions_for([b for _, b in PATTERN]),
             metrics={"accuracy": 0.95, "macro_f1": 0.95, "eval_loss": 0.1})
    p = compare_names(ws, "a", "bad").pair(0, 1)
    assert p.refused and "does not match its recorded accuracy" in p.refused


def test_bad_requests_are_workbench_errors(pair_ws):
    store = RunStore(pair_ws)
    a = store.get("a")
    with pytest.raises(WorkbenchError, match="at least two"):
        compare_runs([a])
    with pytest.raises(WorkbenchError, match="given twice"):
        compare_runs([a, store.get("a")])
    with pytest.raises(WorkbenchError, match="align"):
        compare_runs([a, store.get("b")], align="time")


def test_three_runs_get_every_pair_and_json_ready_data(pair_ws):
    make_run(pair_ws, "c", minute=3, records=predictions_for([True] * N))
    c = compare_names(pair_ws, "a", "b", "c")
    assert [(p.a, p.b) for p in c.pairs] == [(0, 1), (0, 2), (1, 2)]
    assert [r.letter for r in c.runs] == ["A", "B", "C"]
    assert any(d.kind == "B, C right, A wrong" for d in c.disagreements)
    data = json.loads(json.dumps(c.to_dict()))  # no default=: everything is plain JSON
    assert data["pairs"][1]["b_only"] == 17 and data["disagreements"][0]["right"]


def test_markdown_tables_survive_pipes_newlines_and_tags_in_the_text(ws):
    texts = [f"row {i} | has a pipe\nand a newline <br> here" for i in range(N)]
    make_run(ws, "a", minute=1, records=predictions_for([a for a, _ in PATTERN], texts=texts))
    make_run(ws, "b", minute=2, records=predictions_for([b for _, b in PATTERN], texts=texts))
    report = render_markdown(compare_names(ws, "a", "b"), top=50)
    rows = [line for line in report.splitlines() if line.startswith("| ") and "has a pipe" in line]
    assert len(rows) == 15
    assert all(line.replace("\\|", "").count("|") == 6 for line in rows)  # id, gold, A, B, text
    assert "<br>" not in report and "&lt;br>" in report


# ------------------------------------------------------------------------------------------ CLI
def test_cli_json_has_the_documented_keys(pair_ws, run_cli):
    code, out, err = run_cli("compare", "a", "b", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert {"runs", "metrics", "curves", "config_diff", "per_class", "confusion", "disagreements", "pairs",
            "same_eval", "notes", "settings"} <= set(data)
    assert data["pairs"][0]["p_value"] == pytest.approx(exact_mcnemar_by_hand(3, 12))
    assert len(data["disagreements"]) == 15


def test_cli_markdown_has_the_verdict_and_writes_to_a_file(pair_ws, run_cli, tmp_path):
    code, out, _ = run_cli("compare", "a", "b", "--markdown", "--top", "3")
    assert code == 0
    assert "b is better than a: +22.5 pt" in out and "| `lr` | 5e-05 | 0.0001 |" in out
    assert "showing 3" in out
    target = tmp_path / "report.md"
    code, out, err = run_cli("compare", "a", "b", "--markdown", "--out", str(target))
    assert code == 0 and out == "" and "wrote" in err
    assert "### Verdict" in target.read_text()


def test_cli_tables_show_every_section(pair_ws, run_cli):
    code, out, _ = run_cli("compare", "a", "b", "--class", "negative", "--align", "epoch")
    assert code == 0
    for heading in ("significance", "metrics", "config diff", "per class", "confusion A", "disagreements, gold negative"):
        assert heading in out
    assert "b is better than a" in out


@pytest.mark.parametrize("argv,message", [
    (("compare", "a", "nope"), "no run 'nope'"),
    (("compare", "a"), "at least two runs"),
    (("compare", "a", "b", "--class", "neutral"), "no class 'neutral'"),
])
def test_cli_errors_are_one_line_and_exit_2(pair_ws, run_cli, argv, message):
    code, out, err = run_cli(*argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


# ------------------------------------------------------------------------------------------ damaged runs (fuzzing)
def test_a_malformed_prediction_record_refuses_the_test_with_a_reason(ws):
    """Found by tests/fuzz: a predictions.jsonl record whose id was a list raised TypeError (unhashable)."""
    make_run(ws, "a", minute=1, records=predictions_for([a for a, _ in PATTERN]))
    records = predictions_for([b for _, b in PATTERN])
    records[0]["id"] = []
    records[1]["scores"] = ["not", "a", "mapping"]
    make_run(ws, "b", minute=2, records=records)
    c = compare_names(ws, "a", "b")
    assert c.pairs[0].refused and "malformed record" in c.pairs[0].refused


def test_a_garbled_evaluation_in_run_json_falls_back_to_the_predictions(ws):
    """Found by tests/fuzz: per_class scores, a confusion matrix or data.eval of the wrong type raised."""
    make_run(ws, "a", minute=1, records=predictions_for([a for a, _ in PATTERN]))
    run_b = make_run(ws, "b", minute=2, records=predictions_for([b for _, b in PATTERN]))
    path = ws / "runs" / run_b / "run.json"
    info = json.loads(path.read_text())
    info["evaluation"]["per_class"]["positive"] = {"precision": "high", "support": "many"}
    info["evaluation"]["confusion_matrix"] = [[1, 2], "x"]
    info["data"]["eval"] = ["not", "an", "object"]
    path.write_text(json.dumps(info))
    c = compare_names(ws, "a", "b")
    positive = next(r for r in c.per_class if r.label == "positive")
    assert positive.support[1] == 20 and sum(map(sum, c.confusion[1].matrix)) == N
