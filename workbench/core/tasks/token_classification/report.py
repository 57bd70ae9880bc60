"""Token classification reports: the tables the CLI prints and the screens show (rich renderables)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from workbench.core.format import megabytes, number
from workbench.core.report import per_class_table, signed


def export_report(manifest: dict[str, Any]) -> list[Any]:
    """An export's validation: per engine, entity F1/P/R, the F1 change, word-tag agreement with PyTorch, the
    largest logit difference and the file size."""
    report = manifest.get("validation") or {}
    sizes = manifest.get("sizes_bytes") or {}
    size_of = {"onnx-fp32": sizes.get("model.onnx"), "onnx-int8": sizes.get("model.int8.onnx")}
    table = Table(box=None, header_style="bold", padding=(0, 1), pad_edge=False)
    for col in ("engine", "entity F1", "P", "R", "Δ pts", "agree", "max|Δlogit|", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right", no_wrap=True)
    for e in report.get("engines") or []:
        diff = e.get("max_abs_logit_diff")
        table.add_row(e["engine"], number(e.get("f1")), number(e.get("precision")), number(e.get("recall")),
                      signed(e.get("f1_delta_points")), number(e.get("tag_agreement")),
                      "—" if diff is None else f"{diff:.1e}", megabytes(size_of.get(e["engine"])))
    return [Text(f"validated on {report.get('rows', '?')} sentences of {report.get('data', '?')}", style="dim"), table]


def eval_report(report: dict[str, Any], *, title: str) -> list[Any]:
    """``sft-workbench eval``: entity-level precision/recall/F1, overall and per entity type."""
    head = Text.assemble((title, "bold"), f" ({report['rows']} sentences): entity F1 ", (f"{report['f1']:.4f}", "bold"),
                         f"  precision {report['precision']:.4f}  recall {report['recall']:.4f}  "
                         f"token accuracy {report['token_accuracy']:.4f}")
    return [head, per_class_table(report, "entity type")]


def prediction_line(row: int, text: str, pred: dict[str, Any]) -> str:
    """``predict --file`` without --json: one tab-separated line per text."""
    ents = "; ".join(f"{e['text']} ({e['type']})" for e in pred["entities"]) or "—"
    return f"{row}\t{ents}\t{' '.join(pred['text'].split())}"


def predictions_table(texts, preds, labels=None) -> Table:
    """``predict TEXT…``: each text's entities with their character spans and scores."""
    table = Table(box=None, header_style="bold")
    for col in ("text", "entity", "type", "chars", "score"):
        table.add_column(col, overflow="fold", justify="right" if col == "score" else "left")
    for pred in preds:
        if not pred["entities"]:
            table.add_row(Text(pred["text"]), "—", "", "", "")
        for k, e in enumerate(pred["entities"]):
            table.add_row(Text(pred["text"] if k == 0 else ""), Text(e["text"], style="bold"), e["type"],
                          f"{e['start']}-{e['end']}", f"{e['score']:.4f}")
    return table
