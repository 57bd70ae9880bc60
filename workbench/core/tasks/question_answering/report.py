"""Extractive QA reports: the tables the CLI prints and the screens show (rich renderables)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from workbench.core.format import megabytes, number
from workbench.core.report import signed


def export_report(manifest: dict[str, Any]) -> list[Any]:
    """An export's validation: per engine, exact match and F1, the F1 change, answer agreement with PyTorch, the
    largest start/end logit difference and the file size."""
    report = manifest.get("validation") or {}
    sizes = manifest.get("sizes_bytes") or {}
    size_of = {"onnx-fp32": sizes.get("model.onnx"), "onnx-int8": sizes.get("model.int8.onnx")}
    table = Table(box=None, header_style="bold", padding=(0, 1), pad_edge=False)
    for col in ("engine", "EM", "F1", "Δ F1 pts", "agree", "max|Δlogit|", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right", no_wrap=True)
    for e in report.get("engines") or []:
        diff = e.get("max_abs_logit_diff")
        table.add_row(e["engine"], number(e.get("exact_match")), number(e.get("f1")), signed(e.get("f1_delta_points")),
                      number(e.get("answer_agreement")), "—" if diff is None else f"{diff:.1e}",
                      megabytes(size_of.get(e["engine"])))
    return [Text(f"validated on {report.get('rows', '?')} questions ({report.get('windows', '?')} windows) of "
                 f"{report.get('data', '?')}", style="dim"), table]


def eval_report(report: dict[str, Any], *, title: str) -> list[Any]:
    """``sft-workbench eval``: SQuAD exact match and F1."""
    skipped = f", {report['skipped']['count']} unusable skipped" if report.get("skipped") else ""
    return [Text.assemble((title, "bold"), f" ({report['rows']} questions, {report.get('passages', '?')} passages{skipped}): "
                          "exact match ", (f"{report['exact_match']:.4f}", "bold"), "  F1 ", (f"{report['f1']:.4f}", "bold"),
                          f"  (SQuAD scale: EM {100 * report['exact_match']:.2f}, F1 {100 * report['f1']:.2f})")]


def prediction_line(row: int, text: str, pred: dict[str, Any]) -> str:
    """``predict --file`` without --json: one tab-separated line per question."""
    return f"{row}\t{pred['answer'] or '—'}\t{pred['score']:.4f}\t{' '.join(pred['question'].split())}"


def predictions_table(texts, preds, labels=None) -> Table:
    """``predict --question``: each question's answer, its character span and score, and the runner-up."""
    table = Table(box=None, header_style="bold")
    for col in ("question", "answer", "chars", "score", "next best"):
        table.add_column(col, overflow="fold", justify="right" if col == "score" else "left")
    for pred in preds:
        runner = pred["n_best"][1] if len(pred.get("n_best") or []) > 1 else None
        table.add_row(Text(pred["question"]), Text(pred["answer"] or "—", style="bold"), f"{pred['start']}-{pred['end']}",
                      f"{pred['score']:.4f}", Text(f"{runner['text']} ({runner['score']:.2f})") if runner else "—")
    return table
