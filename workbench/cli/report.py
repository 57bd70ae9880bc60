"""What the CLI prints about runs and their results: progress, run summaries, and each task's evaluation,
export, prediction, benchmark and sample-generation report (rich tables; ``--json`` bypasses this module).

What differs per task comes from the task (``Task.eval_report``, ``export_report``, ``bench_report``, …);
this module prints it with the parts every task shares.
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
        status = f"{r['status']} #{r['queue_position']}" if r.get("queue_position") else str(r["status"])
        table.add_row(Text(status, style=STATUS_STYLE.get(r["status"], "")), Text(str(r["name"])),
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
    privacy = s.get("privacy")
    for k, v in (s.get("metrics") or {}).items():
        if not (privacy and k in ("epsilon", "delta")):  # the privacy row says them
            rows.append((k, fmt(v)))
    if privacy:
        rows.append(("privacy", privacy_text(privacy)))
    if s.get("timings"):
        rows.append(("time", timings_text(s["timings"])))
    if s.get("error"):
        rows.append(("error", Text(str(s["error"]), style="red")))
    if s.get("can_resume"):
        rows.append(("resume", f"sft-workbench runs resume {s['id']}"))
    for k, v in rows:
        table.add_row(Text(str(k)), v if isinstance(v, Text) else Text(v if isinstance(v, str) else fmt(v)))
    console.print(table)


def timings_text(timings: dict[str, Any]) -> str:
    """Where a run's time went, largest phase first: ``184 s in the worker: training steps 162, startup 10.1, …``."""
    phases = sorted(((k, v) for k, v in (timings.get("phases") or {}).items() if v >= 0.05), key=lambda kv: -kv[1])
    parts = ", ".join(f"{k.replace('_', ' ')} {v:.0f}" if v >= 10 else f"{k.replace('_', ' ')} {v:.1f}" for k, v in phases)
    return f"{timings.get('worker_wall_s', 0):.0f} s in the worker: {parts}"


def privacy_text(privacy: dict[str, Any]) -> str:
    """A private run's guarantee in one line: ``ε 7.98 of 8 spent, δ 1e-05 (noise multiplier 0.812, PRV,
    clipping 1)``; ``clipping 1, head apart`` where the head's gradient was clipped separately (``--dp-clipping head``)."""
    spent = privacy.get("epsilon")
    head = f"ε {fmt(spent, 2)} of {privacy.get('target_epsilon'):g} spent" if spent is not None else f"target ε {privacy.get('target_epsilon'):g}"
    apart = ", head apart" if privacy.get("clipping") == "head" else ""
    return (f"{head}, δ {privacy.get('delta'):.0e} (noise multiplier {fmt(privacy.get('noise_multiplier'), 3)}, "
            f"{str(privacy.get('accountant', '')).upper()}, clipping {privacy.get('max_grad_norm'):g}{apart})")


# ------------------------------------------------------------------------------------------ task reports
def print_all(console, parts) -> None:
    """Print a task's report renderables (``Task.eval_report`` and friends) one after another."""
    for part in parts:
        console.print(part)


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
def print_export(console, task, run, manifest: dict[str, Any]) -> None:
    """An export's summary: the task's validation tables, fused ops, warnings, and what to run next."""
    from rich.text import Text

    from workbench.core.format import megabytes

    print_all(console, task.export_report(manifest))
    if manifest.get("optimization"):
        fused = ", ".join(f"{k} {v}" for k, v in manifest["optimization"]["fused_ops"].items()) or "none"
        console.print(f"fused ops: {fused}")
    for warning in manifest.get("warnings") or []:
        console.print(Text.assemble(("warning: ", "yellow"), warning))
    q = manifest.get("quantization") or {}
    if q:
        console.print(f"int8: dynamic, per_channel={q['per_channel']}, reduce_range={q['reduce_range']}")
    console.print(Text.assemble(("exported ", "green"), f"{run.name} → ", (str(manifest["path"]), "bold"),
                                f" ({megabytes((manifest.get('sizes_bytes') or {}).get('model.onnx'))})"))
    console.print(f"  try it:   sft-workbench predict {manifest['path']} {task.example_input}")
    console.print(f"  speed:    sft-workbench bench {manifest['path']}")


# ------------------------------------------------------------------------------------------ bench
def print_bench(console, task, result: dict[str, Any]) -> None:
    """The task's benchmark table (latency and throughput; causal LMs: prefill and decode), and the notes."""
    from rich.text import Text

    print_all(console, task.bench_report(result))
    for note in result.get("notes") or []:
        console.print(Text.assemble(("note: ", "yellow"), note))
    console.print("saved under \"benchmark\" in the export's manifest.json")


def print_queue(console, data: dict[str, Any]) -> None:
    """``queue list``: the runner, then the entries in order (started first, then waiting by position)."""
    from rich.table import Table
    from rich.text import Text

    runner = data.get("runner")
    state = "paused" if data["paused"] else "active"
    console.print(f"queue {state}, {data['parallel']} at a time; runner "
                  + (f"running (pid {runner.get('pid')}, since {runner.get('started')})" if runner else "not running"))
    if not data["entries"]:
        console.print("the queue is empty; add runs with `sft-workbench train --queue` or `sft-workbench runs queue CONFIG…`.")
        return
    table = Table(box=None, header_style="bold")
    for col in ("#", "kind", "status", "name", "id", "attempts", "devices"):
        table.add_column(col)
    for e in data["entries"]:
        table.add_row(str(e["position"] or "▶"), e["kind"], Text(str(e["status"]), style=STATUS_STYLE.get(e["status"], "")),
                      Text(str(e["name"] or "—")), Text(e["id"]), str(e["attempts"] or "—"),
                      ",".join(map(str, e["devices"])) if e.get("devices") else "—")
    console.print(table)


def print_sweeps(console, records: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold")
    for col in ("status", "name", "id", "search", "trials", "metric", "created"):
        table.add_column(col)
    for r in records:
        table.add_row(r["status"], Text(r["name"]), Text(r["id"]), r["search"], f"{len(r['trials'])}/{r['trials_planned']}",
                      f"{r['metric']} ({'max' if r['direction'] == 'maximize' else 'min'})", age(r["created"]))
    console.print(table)


def _param_text(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def sweep_verdict(results: dict[str, Any]) -> str:
    """"Is the best really better?": the paired test of the best trial against the runner-up, in words."""
    pair = results.get("best_vs_runner_up")
    if not pair:
        return "best vs runner-up: needs two completed trials."
    return (f"best (trial {pair['best_trial']}) vs runner-up (trial {pair['runner_up_trial']}) on the validation "
            f"split: {pair['verdict']}")


def print_sweep(console, results: dict[str, Any]) -> None:
    """``sweep show``: the trials ranked, the verdict on the best two, parameter importance."""
    from rich.table import Table
    from rich.text import Text

    console.print(Text.assemble((results["name"], "bold"), f"  {results['id']}  {results['status']}  {results['search']}, "
                                f"{results['asked']}/{results['trials_planned']} trials asked, pruner {results['pruner']}"))
    console.print("search space: " + "; ".join(_param_describe(p) for p in results["params"]))
    names = [p["name"] for p in results["params"]]
    table = Table(box=None, header_style="bold")
    for col in ("rank", "trial", *names, results["metric"], "status", "epochs run", "time", "run"):
        table.add_column(col)
    for row in results["trials"]:
        table.add_row(str(row["rank"] or "—"), str(row["trial"]), *(_param_text(row["params"].get(n)) for n in names),
                      fmt(row["value"]), Text(row["status"], style=STATUS_STYLE.get(row["status"], "")),
                      fmt(row["epoch"], 2), f"{row['seconds']:.0f} s" if row["seconds"] is not None else "—",
                      Text(row["run_id"]))
    console.print(table)
    console.print(sweep_verdict(results))
    imp = results.get("importance") or {}
    if imp.get("values"):
        console.print("parameter importance (Optuna, fANOVA): "
                      + ", ".join(f"{k} {v:.2f}" for k, v in imp["values"].items()))
    elif imp.get("reason"):
        console.print(f"[dim]parameter importance: {imp['reason']}[/]")
    if results.get("error"):
        console.print(Text(f"error: {results['error']}", style="red"))


def _param_describe(p: dict[str, Any]) -> str:
    if p.get("values") is not None:
        return f"{p['name']} ∈ {{{', '.join(map(_param_text, p['values']))}}}"
    return f"{p['name']} ∈ [{p['low']:g}, {p['high']:g}]{' log' if p.get('log') else ''}"


def sweep_markdown(results: dict[str, Any]) -> str:
    """``sweep show --markdown``: the ranked table and the verdict, to paste into an issue or a pull request."""
    names = [p["name"] for p in results["params"]]
    head = ["rank", "trial", *names, f"validation {results['metric']}", "status", "epochs run", "time (s)", "run"]
    lines = [f"## Sweep {results['name']} (`{results['id']}`)", "",
             f"{results['search']} search, {results['asked']}/{results['trials_planned']} trials, pruner "
             f"{results['pruner']}; search space: " + "; ".join(_param_describe(p) for p in results["params"]), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in results["trials"]:
        cells = [str(row["rank"] or "—"), str(row["trial"]), *(_param_text(row["params"].get(n)) for n in names),
                 fmt(row["value"]), row["status"], fmt(row["epoch"], 2),
                 f"{row['seconds']:.0f}" if row["seconds"] is not None else "—", f"`{row['run_id']}`"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", sweep_verdict(results)]
    imp = results.get("importance") or {}
    if imp.get("values"):
        lines += ["", "Parameter importance (Optuna, fANOVA): " + ", ".join(f"{k} {v:.2f}" for k, v in imp["values"].items())]
    return "\n".join(lines) + "\n"
