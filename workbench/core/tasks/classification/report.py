"""Text classification reports: the tables the CLI prints and the screens show (rich renderables)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from workbench.core.format import megabytes, number
from workbench.core.report import per_class_table, signed


def export_report(manifest: dict[str, Any]) -> list[Any]:
    """An export's validation: per engine, accuracy, macro-F1, the accuracy change, label agreement with PyTorch,
    the largest logit difference and the file size."""
    report = manifest.get("validation") or {}
    sizes = manifest.get("sizes_bytes") or {}
    size_of = {"onnx-fp32": sizes.get("model.onnx"), "onnx-int8": sizes.get("model.int8.onnx")}
    table = Table(box=None, header_style="bold", padding=(0, 1), pad_edge=False)
    for col in ("engine", "acc", "macro-F1", "Δ pts", "agree", "max|Δlogit|", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right", no_wrap=True)
    for e in report.get("engines") or []:
        diff = e.get("max_abs_logit_diff")
        table.add_row(e["engine"], number(e.get("accuracy")), number(e.get("macro_f1")),
                      signed(e.get("accuracy_delta_points")), number(e.get("label_agreement")),
                      "—" if diff is None else f"{diff:.1e}", megabytes(size_of.get(e["engine"])))
    return [Text(f"validated on {report.get('rows', '?')} rows of {report.get('data', '?')}", style="dim"), table]


def eval_report(report: dict[str, Any], *, title: str) -> list[Any]:
    """``sft-workbench eval``: the headline figures, per-class scores and the confusion matrix."""
    head = Text.assemble((title, "bold"), f" ({report['rows']} rows): accuracy ", (f"{report['accuracy']:.4f}", "bold"),
                         "  macro-F1 ", (f"{report['macro_f1']:.4f}", "bold"))
    cm = Table(title="confusion matrix (rows gold, columns predicted)", box=None, header_style="bold")
    cm.add_column("")
    for label in report["labels"]:
        cm.add_column(label, justify="right")
    for label, row in zip(report["labels"], report["confusion_matrix"]):
        cm.add_row(label, *map(str, row))
    return [head, per_class_table(report, "label"), cm]


def prediction_line(row: int, text: str, pred: dict[str, Any]) -> str:
    return f"{row}\t{pred['label']}\t{pred['scores'][pred['label']]:.4f}\t{' '.join(text.split())}"


def predictions_table(texts, preds, labels) -> Table:
    """Each text's label, with every label's score when there are a few (else the top one's)."""
    table = Table(box=None, header_style="bold")
    table.add_column("text", overflow="fold")
    table.add_column("label")
    show_all = len(labels) <= 6
    for label in labels if show_all else ["score"]:
        table.add_column(label, justify="right")
    for text, p in zip(texts, preds):
        scores = [p["scores"][lab] for lab in labels] if show_all else [p["scores"][p["label"]]]
        table.add_row(Text(text), Text(p["label"], style="bold"), *(f"{s:.4f}" for s in scores))
    return table
