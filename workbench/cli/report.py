"""What the CLI prints about runs and their results: progress, run summaries, and each task's evaluation,
export, prediction, benchmark and sample-generation report (rich tables; ``--json`` bypasses this module).

The per-task branches (on task names and on the metrics a task reports) all live here, so that they can
later be replaced by renderables the tasks provide.
"""

from __future__ import annotations

import time
from typing import Any

STATUS_STYLE = {"running": "green", "queued": "cyan", "completed": "bold", "stopped": "yellow", "failed": "red",
                "crashed": "red", "broken": "red"}


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def mb(size: Any) -> str:
    return "—" if size is None else f"{size / 1e6:.1f} MB"


def age(iso: str | None) -> str:
    from workbench.core.runs import parse_iso

    ts = parse_iso(iso)
    if ts is None:
        return "—"
    secs = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{int(secs // size)}{unit} ago"
    return f"{int(secs)}s ago"


# ------------------------------------------------------------------------------------------ runs
def progress_info(last: dict[str, Any]) -> list[str]:
    """The progress bar's text from the last event of each kind: train loss, the task's eval metric, speed."""
    info = []
    if "train" in last:
        info.append(f"loss {last['train']['loss']:.4f}")
    if "eval" in last and "accuracy" not in last["eval"] and "f1" in last["eval"]:
        info.append(f"eval F1 {last['eval']['f1']:.4f}")  # token classification: entity F1
    elif "eval" in last and "perplexity" in last["eval"] and "accuracy" not in last["eval"]:
        info.append(f"eval ppl {last['eval']['perplexity']:.2f}")  # causal-lm-sft
    elif "eval" in last:
        info.append(f"eval acc {last['eval'].get('accuracy', float('nan')):.4f}")
    if "train" in last and last["train"].get("samples_per_s"):
        info.append(f"{last['train']['samples_per_s']:.0f} samples/s")
    return info


def print_runs(console, runs: list[dict[str, Any]], broken: list[tuple[Any, str]]) -> None:
    """``runs list``: one row per run summary, then the directories whose run.json cannot be read."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold")
    for col in ("status", "name", "id", "task", "model", "step", "accuracy", "macro-F1", "started"):
        table.add_column(col)
    for r in runs:
        m = r["metrics"] or {}
        step = f"{r['step']}/{r['max_steps']}" if r.get("max_steps") else fmt(r.get("step"))
        # Token classification: token accuracy and entity F1 in those two columns.
        # Text(), not markup: names, ids and models come from run.json and may hold brackets.
        table.add_row(Text(str(r["status"]), style=STATUS_STYLE.get(r["status"], "")), Text(str(r["name"])),
                      Text(str(r["id"])), Text(str(r["task"])), Text(str(r["model"])), Text(step),
                      fmt(m.get("accuracy", m.get("token_accuracy"))), fmt(m.get("macro_f1", m.get("f1"))),
                      age(r["created"]))
    for path, reason in broken:
        table.add_row("[red]broken[/]", "—", Text(path.name), "—", "—", "—", "—", "—", "—")
    console.print(table)
    for path, reason in broken:
        console.print(Text.assemble(("broken: ", "red"), reason))


def print_run(console, s: dict[str, Any]) -> None:
    """One run's summary (``runs show``, and the end of a foreground ``train``)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    # Values are Text, never markup: they come from run.json (a name, an error message) and may hold brackets.
    rows = [("id", s["id"]), ("name", s["name"]), ("status", Text(str(s["status"]), style=STATUS_STYLE.get(s["status"], ""))),
            ("task", s["task"]), ("model", s["model"]), ("run dir", s["run_dir"]), ("pid", s["pid"]),
            ("progress", f"step {s['step']}/{s['max_steps']}, epoch {fmt(s['epoch'], 2)}" if s.get("max_steps") else "—"),
            ("created", s["created"]), ("finished", s["finished"])]
    for k, v in (s.get("metrics") or {}).items():
        rows.append((k, fmt(v)))
    if s.get("error"):
        rows.append(("error", Text(str(s["error"]), style="red")))
    if s.get("can_resume"):
        rows.append(("resume", f"sft-workbench runs resume {s['id']}"))
    for k, v in rows:
        table.add_row(Text(str(k)), v if isinstance(v, Text) else Text(v if isinstance(v, str) else fmt(v)))
    console.print(table)


# ------------------------------------------------------------------------------------------ eval
def print_eval(console, name: str, data: str, report: dict[str, Any]) -> None:
    """An evaluation report of a classification or token-classification run."""
    from rich.table import Table

    if report.get("task") == "token-classification":
        print_ner_report(console, name, data, report)
        return
    console.print(f"[bold]{name}[/] on {data} ({report['rows']} rows): "
                  f"accuracy [bold]{report['accuracy']:.4f}[/]  macro-F1 [bold]{report['macro_f1']:.4f}[/]")
    console.print(per_class_table(report, "label"))
    cm = Table(title="confusion matrix (rows gold, columns predicted)", box=None, header_style="bold")
    cm.add_column("")
    for label in report["labels"]:
        cm.add_column(label, justify="right")
    for label, row in zip(report["labels"], report["confusion_matrix"]):
        cm.add_row(label, *map(str, row))
    console.print(cm)


def per_class_table(report: dict[str, Any], first: str):
    """Precision, recall, F1 and support per class (or entity type) of an evaluation report."""
    from rich.table import Table

    per = Table(box=None, header_style="bold")
    for col in (first, "precision", "recall", "F1", "support"):
        per.add_column(col, justify="left" if col == first else "right")
    for label, m in report["per_class"].items():
        per.add_row(label, fmt(m["precision"]), fmt(m["recall"]), fmt(m["f1"]), str(m["support"]))
    return per


def print_ner_report(console, name: str, data: str, report: dict[str, Any]) -> None:
    """Entity-level precision/recall/F1, overall and per entity type (token classification)."""
    console.print(f"[bold]{name}[/] on {data} ({report['rows']} sentences): entity F1 [bold]{report['f1']:.4f}[/]  "
                  f"precision {report['precision']:.4f}  recall {report['recall']:.4f}  "
                  f"token accuracy {report['token_accuracy']:.4f}")
    console.print(per_class_table(report, "entity type"))


def print_sft_eval(console, name: str, data: str, report: dict[str, Any]) -> None:
    """A causal-lm-sft evaluation: eval loss, perplexity and greedy samples."""
    console.print(f"[bold]{name}[/] on {data} ({report['rows']} rows, {report['response_tokens']} response tokens): "
                  f"eval loss [bold]{report['eval_loss']:.4f}[/]  perplexity [bold]{report['perplexity']:.2f}[/]")
    for i, s in enumerate(report["samples"], 1):
        console.print(f"[bold]{i}.[/] {' '.join(s['prompt'].split())[:100]}")
        console.print(f"   [dim]reference[/] {' '.join(s['reference'].split())[:100]}")
        console.print(f"   [dim]generated[/] [green]{' '.join(s['generated'].split())[:100]}[/]")


# ------------------------------------------------------------------------------------------ compare
def samples_rich(cmp, samples) -> list[Any]:
    """causal-lm-sft runs compared: their sample generations side by side (nothing for other tasks)."""
    if not samples:
        return []
    from rich.table import Table

    table = Table(title="sample generations (greedy, held-out prompts)", box=None, header_style="bold", show_lines=True)
    table.add_column("prompt / reference", overflow="fold", ratio=2)
    for r in cmp.runs:
        table.add_column(f"{r.letter} {r.name}", overflow="fold", ratio=2)
    for row in samples:
        table.add_row(f"{' '.join(row['prompt'].split())[:160]}\n[dim]{' '.join(str(row['reference']).split())[:160]}[/]",
                      *("—" if g is None else (' '.join(g.split())[:200] or "(empty)") for g in row["generated"]))
    return [table]


def samples_markdown(cmp, samples) -> str:
    if not samples:
        return ""
    cell = lambda t: " ".join(str(t).split()).replace("|", "\\|")[:200] or "(empty)"  # noqa: E731
    lines = ["", "### Sample generations", "", "| prompt | reference | " + " | ".join(f"{r.letter} {r.name}" for r in cmp.runs) + " |",
             "|" + " --- |" * (2 + len(cmp.runs))]
    for row in samples:
        lines.append(f"| {cell(row['prompt'])} | {cell(row['reference'])} | "
                     + " | ".join("—" if g is None else cell(g) for g in row["generated"]) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ export
def print_export(console, run, manifest: dict[str, Any]) -> None:
    """An export's summary: parity per engine on real data, sizes, and what to run next."""
    if manifest.get("task") == "causal-lm-sft":
        print_lm_export(console, run, manifest)
        return
    from rich.table import Table

    if manifest.get("task") == "token-classification":
        print_ner_export(console, manifest)
        return
    report = manifest["validation"]
    sizes = manifest["sizes_bytes"]
    table = Table(title=f"validation on {report['rows']} rows of {report['data']}", box=None, header_style="bold")
    for col in ("engine", "accuracy", "macro-F1", "Δ accuracy (pts)", "label agreement", "max |Δ logit|", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    size_of = {"onnx-fp32": sizes.get("model.onnx"), "onnx-int8": sizes.get("model.int8.onnx")}
    for e in report["engines"]:
        diff = e.get("max_abs_logit_diff")
        table.add_row(e["engine"], fmt(e["accuracy"]), fmt(e["macro_f1"]), fmt(e.get("accuracy_delta_points"), 2),
                      fmt(e.get("label_agreement")), "—" if diff is None else f"{diff:.2e}", mb(size_of.get(e["engine"])))
    console.print(table)
    opt = manifest["optimization"]
    fused = ", ".join(f"{k} {v}" for k, v in opt["fused_ops"].items()) or "none"
    console.print(f"fused ops: {fused}")
    for warning in manifest.get("warnings") or []:
        console.print(f"[yellow]warning:[/] {warning}")
    if manifest.get("quantization"):
        q = manifest["quantization"]
        console.print(f"int8: dynamic, per_channel={q['per_channel']}, reduce_range={q['reduce_range']}")
    console.print(f"[green]exported[/] {run.name} → [bold]{manifest['path']}[/]")
    console.print(f"  try it:   sft-workbench predict {manifest['path']} \"some text\"")
    console.print(f"  speed:    sft-workbench bench {manifest['path']}")


def print_ner_export(console, manifest: dict[str, Any]) -> None:
    """The export summary of a token-classification model: entity F1 and parity per engine."""
    from rich.table import Table

    report, sizes = manifest["validation"], manifest["sizes_bytes"]
    table = Table(title=f"validation on {report['rows']} sentences of {report['data']}", box=None, header_style="bold")
    for col in ("engine", "entity F1", "Δ F1 (pts)", "tag agreement", "max |Δ logit|", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    size_of = {"onnx-fp32": sizes.get("model.onnx"), "onnx-int8": sizes.get("model.int8.onnx")}
    for e in report["engines"]:
        diff = e.get("max_abs_logit_diff")
        table.add_row(e["engine"], fmt(e["f1"]), fmt(e.get("f1_delta_points"), 2), fmt(e.get("tag_agreement")),
                      "—" if diff is None else f"{diff:.2e}", mb(size_of.get(e["engine"])))
    console.print(table)
    console.print(f"[green]exported[/] {manifest['source_run']['name']} → [bold]{manifest['path']}[/]")
    console.print(f"  try it:   sft-workbench predict {manifest['path']} \"Angela Merkel visited Paris\"")


def print_lm_export(console, run, manifest) -> None:
    """The causal-LM export summary: greedy parity per prompt."""
    from rich.table import Table

    v = manifest["validation"]
    table = Table(title=f"greedy parity PyTorch vs ONNX on {v['prompts']} prompts of {v['data']}", box=None, header_style="bold")
    for col in ("prompt", "identical", "new tokens", "ONNX generation"):
        table.add_column(col, overflow="fold")
    for r in v["rows"]:
        table.add_row(" ".join(r["prompt"].split())[:40], "yes" if r["identical"] else "[red]no[/]", str(len(r["onnx_ids"])),
                      " ".join(r["text"].split())[:60])
    console.print(table)
    from workbench.core.lm_export import quality_table

    quality = quality_table(manifest)
    if quality is not None:
        console.print(quality)
    if v.get("int8_greedy_identical") is not None:
        console.print(f"int8 greedy generations identical to PyTorch on {v['int8_greedy_identical']} of {v['prompts']} prompts "
                      "(int8 is judged on perplexity)")
    console.print(f"max |Δ logit| on the prompt pass: {v['max_abs_logit_diff_prompt']:.2e}"
                  + ("; LoRA adapter merged into the base weights" if manifest.get("lora") else ""))
    console.print(f"[green]exported[/] {run.name} → [bold]{manifest['path']}[/] ({mb(manifest['sizes_bytes'].get('model.onnx'))})")
    console.print(f"  try it:   sft-workbench predict {manifest['path']} \"your prompt\"")


# ------------------------------------------------------------------------------------------ predict
# ``predict --file``: a header (before the first batch's lines) and one tab-separated line per row.
ENTITIES_HEADER = "row\tentities\ttext"
LABELS_HEADER = "row\tlabel\tscore\ttext"


def entities_line(row: int, pred: dict[str, Any]) -> str:
    ents = "; ".join(f"{e['text']} ({e['type']})" for e in pred["entities"]) or "—"
    return f"{row}\t{ents}\t{' '.join(pred['text'].split())}"


def label_line(row: int, text: str, pred: dict[str, Any]) -> str:
    return f"{row}\t{pred['label']}\t{pred['scores'][pred['label']]:.4f}\t{' '.join(text.split())}"


def entities_table(preds: list[dict[str, Any]]):
    """Token classification: each text's entity spans, their type, characters and score."""
    from rich.table import Table
    from rich.text import Text

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


def labels_table(texts: list[str], preds: list[dict[str, Any]], labels: list[str]):
    """Text classification: each text's label, with every label's score when there are a few (else the top one's)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold")
    table.add_column("text", overflow="fold")
    table.add_column("label")
    show_all = len(labels) <= 6
    for label in labels if show_all else ["score"]:
        table.add_column(label, justify="right")
    for text, p in zip(texts, preds):
        scores = [p["scores"][l] for l in labels] if show_all else [p["scores"][p["label"]]]
        table.add_row(Text(text), Text(p["label"], style="bold"), *(f"{s:.4f}" for s in scores))
    return table


# ------------------------------------------------------------------------------------------ bench
def print_bench(console, result: dict[str, Any]) -> None:
    """Latency and throughput per engine (causal LMs: prefill and decode), and the notes."""
    from rich.table import Table

    if result.get("kind") == "causal-lm":
        from workbench.core.lm_export import bench_table

        console.print(bench_table(result))
        for note in result["notes"]:
            console.print(f"[yellow]note:[/] {note}")
        console.print("saved under \"benchmark\" in the export's manifest.json")
        return
    st = result["settings"]
    table = Table(title=f"{st['threads']} thread(s), seq {st['seq_len']}: latency at batch {st['latency_batch']}, "
                        f"throughput at batch {st['throughput_batch']}", box=None, header_style="bold")
    for col in ("engine", "p50 ms", "p95 ms", "samples/s", "speed-up p50", "speed-up throughput", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    for name, row in result["engines"].items():
        table.add_row(name, fmt(row["p50_ms"], 2), fmt(row["p95_ms"], 2), fmt(row["throughput_per_s"], 1),
                      f"{row['speedup_p50']:.2f}×" if "speedup_p50" in row else "—",
                      f"{row['speedup_throughput']:.2f}×" if "speedup_throughput" in row else "—", mb(row["size_bytes"]))
    console.print(table)
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    console.print("saved under \"benchmark\" in the export's manifest.json")
