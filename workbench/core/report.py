"""Rich renderables shared by the tasks' reports (the CLI prints them, the screens show them)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from workbench.core.format import MISSING, megabytes, number



def signed(value: Any, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:+.{digits}f}"


def per_class_table(report: dict[str, Any], first: str) -> Table:
    """Precision, recall, F1 and support per class (or entity type) of an evaluation report."""
    per = Table(box=None, header_style="bold")
    for col in (first, "precision", "recall", "F1", "support"):
        per.add_column(col, justify="left" if col == first else "right")
    for label, m in report["per_class"].items():
        per.add_row(label, number(m["precision"]), number(m["recall"]), number(m["f1"]), str(m["support"]))
    return per


def encoder_bench_report(result: dict[str, Any]) -> list[Any]:
    """``bench`` of an encoder export (classifier, tagger): latency at batch 1, throughput at batch 32, per engine."""
    st = result.get("settings") or {}
    table = Table(box=None, header_style="bold", padding=(0, 1), pad_edge=False)
    for col in ("engine", "p50 ms", "p95 ms", "samples/s", "×p50", "×thr", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right", no_wrap=True)
    for name, row in (result.get("engines") or {}).items():
        table.add_row(name, number(row.get("p50_ms"), 2), number(row.get("p95_ms"), 2),
                      number(row.get("throughput_per_s"), 1),
                      f"{row['speedup_p50']:.2f}×" if "speedup_p50" in row else MISSING,
                      f"{row['speedup_throughput']:.2f}×" if "speedup_throughput" in row else MISSING,
                      megabytes(row.get("size_bytes")))
    return [Text(f"{st.get('threads')} thread(s), seq {st.get('seq_len')}: latency at batch {st.get('latency_batch')}, "
                 f"throughput at batch {st.get('throughput_batch')}", style="dim"), table]
