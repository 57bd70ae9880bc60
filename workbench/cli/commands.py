"""The command functions: each calls ``workbench.core`` and prints (rich tables or ``--json``). No logic here.

Heavy libraries are imported inside the command functions so ``--help`` and the TUI start fast.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.paths import expand_user


def _console():
    from rich.console import Console

    return Console()


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _store(args):
    from workbench.core.runs import RunStore

    return RunStore(args.workspace)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# ------------------------------------------------------------------------------------------ train
def cmd_train(args) -> int:
    from workbench.cli.flags import build_config
    from workbench.core.runs import RunStore
    from workbench.core.training.launcher import start_run

    cfg = build_config(args)  # start_run makes paths absolute; a saved config keeps them as given
    if args.save_config:
        cfg.save(args.save_config)
    if not cfg.data:
        raise WorkbenchError("no training data: pass --data PATH (or set data: in --config).")
    console = _console()
    store = RunStore(args.workspace)
    with console.status("checking data and model…") if not args.json else _nullcontext():
        cfg.check()
        if not args.json:
            _print_memory_estimate(console, cfg)
        run, proc = start_run(store, cfg)
    if args.detach:
        if args.json:
            _print_json({"id": run.id, "name": run.name, "run_dir": str(run.path), "pid": proc.pid, "status": "queued"})
        else:
            console.print(f"started run [bold]{run.id}[/] (pid {proc.pid}); it keeps training if you close this terminal.")
            console.print(f"  follow: sft-workbench runs show {run.id}   stop: sft-workbench runs stop {run.id}")
        return 0
    return follow_run(store, run.id, proc, console, as_json=args.json)


def _print_memory_estimate(console, cfg) -> None:
    """The estimated peak memory per device, with a warning when it will not fit the GPU."""
    from workbench.core.memory import estimate_for_run

    try:
        est, gpu_bytes = estimate_for_run(cfg)
    except WorkbenchError:
        return  # start_run reports the model problem itself
    except Exception as exc:  # an estimate must never block a launch
        console.print(f"[dim]memory estimate unavailable: {str(exc).splitlines()[0][:120]}[/]")
        return
    where = "GPU" if gpu_bytes else "RAM (CPU training)"
    console.print(f"estimated peak {where} memory: {est.describe()}")
    if gpu_bytes and est.total > 0.9 * gpu_bytes:
        console.print(f"[yellow]warning:[/] that is more than 90% of the GPU's {gpu_bytes / 2**30:.0f} GiB; lower "
                      "--batch-size or --max-length, or pass --auto-find-batch-size.")


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def follow_run(store, run_id: str, proc, console, *, as_json: bool = False) -> int:
    """Show a progress bar until the worker ends; Ctrl-C asks the worker to stop and save a checkpoint."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from workbench.core.runs import MetricsTail, exit_problem

    launched = time.time()
    run = store.get(run_id)
    tail = MetricsTail(run.metrics_path)
    last: dict[str, Any] = {}
    stopping = False
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=console, disable=as_json, transient=False)
    with progress:
        bar = progress.add_task(run.name, total=None, info="starting…")
        while True:
            try:
                for event in tail.read_new():
                    last[event.get("kind")] = event
                run.reload()
                prog = run.info.get("progress") or {}
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
                progress.update(bar, total=prog.get("max_steps"), completed=prog.get("step") or 0,
                                info=("stopping… " if stopping else "") + "  ".join(info))
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
            except KeyboardInterrupt:
                if stopping:
                    console.print("left the run going in the background; stop it with `sft-workbench runs stop`.")
                    return 130
                stopping = True
                store.request_stop(run)
                console.print("stop requested: saving a checkpoint (Ctrl-C again to leave it running)…")
    run = store.get(run_id)
    problem = exit_problem(run, proc.returncode, launched)  # e.g. torchrun died before the worker recorded anything
    if problem:
        raise WorkbenchError(problem)
    summary = run.summary()
    if as_json:
        _print_json(summary)
    else:
        _print_run(console, summary)
    return 0 if summary["status"] in ("completed", "stopped") else 1


# ------------------------------------------------------------------------------------------ runs
def _age(iso: str | None) -> str:
    from workbench.core.runs import parse_iso

    ts = parse_iso(iso)
    if ts is None:
        return "—"
    secs = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{int(secs // size)}{unit} ago"
    return f"{int(secs)}s ago"


STATUS_STYLE = {"running": "green", "queued": "cyan", "completed": "bold", "stopped": "yellow", "failed": "red",
                "crashed": "red", "broken": "red"}


def cmd_runs_list(args) -> int:
    from rich.table import Table
    from rich.text import Text

    from workbench.core.runs import broken_summary

    readable, broken = _store(args).scan()  # broken: directories whose run.json cannot be read, listed last
    runs = [r.summary() for r in readable]
    if args.json:
        _print_json(runs + [broken_summary(path, reason) for path, reason in broken])
        return 0
    if not runs and not broken:
        _console().print("no runs yet; start one with `sft-workbench train --data PATH`.")
        return 0
    table = Table(box=None, header_style="bold")
    for col in ("status", "name", "id", "task", "model", "step", "accuracy", "macro-F1", "started"):
        table.add_column(col)
    for r in runs:
        m = r["metrics"] or {}
        step = f"{r['step']}/{r['max_steps']}" if r.get("max_steps") else _fmt(r.get("step"))
        # Token classification: token accuracy and entity F1 in those two columns.
        # Text(), not markup: names, ids and models come from run.json and may hold brackets.
        table.add_row(Text(str(r["status"]), style=STATUS_STYLE.get(r["status"], "")), Text(str(r["name"])),
                      Text(str(r["id"])), Text(str(r["task"])), Text(str(r["model"])), Text(step),
                      _fmt(m.get("accuracy", m.get("token_accuracy"))), _fmt(m.get("macro_f1", m.get("f1"))),
                      _age(r["created"]))
    for path, reason in broken:
        table.add_row("[red]broken[/]", "—", Text(path.name), "—", "—", "—", "—", "—", "—")
    console = _console()
    console.print(table)
    for path, reason in broken:
        console.print(Text.assemble(("broken: ", "red"), reason))
    return 0


def _print_run(console, s: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    # Values are Text, never markup: they come from run.json (a name, an error message) and may hold brackets.
    rows = [("id", s["id"]), ("name", s["name"]), ("status", Text(str(s["status"]), style=STATUS_STYLE.get(s["status"], ""))),
            ("task", s["task"]), ("model", s["model"]), ("run dir", s["run_dir"]), ("pid", s["pid"]),
            ("progress", f"step {s['step']}/{s['max_steps']}, epoch {_fmt(s['epoch'], 2)}" if s.get("max_steps") else "—"),
            ("created", s["created"]), ("finished", s["finished"])]
    for k, v in (s.get("metrics") or {}).items():
        rows.append((k, _fmt(v)))
    if s.get("error"):
        rows.append(("error", Text(str(s["error"]), style="red")))
    if s.get("can_resume"):
        rows.append(("resume", f"sft-workbench runs resume {s['id']}"))
    for k, v in rows:
        table.add_row(Text(str(k)), v if isinstance(v, Text) else Text(v if isinstance(v, str) else _fmt(v)))
    console.print(table)


def cmd_runs_show(args) -> int:
    summary = _store(args).get(args.run).summary()
    if args.json:
        _print_json(summary)
    else:
        _print_run(_console(), summary)
    return 0


def cmd_runs_stop(args) -> int:
    store = _store(args)
    run = store.request_stop(args.run)
    console = _console()
    if args.wait:
        deadline = time.time() + args.wait
        while time.time() < deadline and store.get(run.id).is_active:
            time.sleep(0.5)
        console.print(f"run {run.name}: {store.get(run.id).status}")
    else:
        console.print(f"stop requested for {run.name}; it saves a checkpoint and stops at the next step.")
    return 0


def cmd_runs_resume(args) -> int:
    from workbench.core.training.launcher import resume_run

    store = _store(args)
    run, proc = resume_run(store, args.run)
    if args.detach:
        _console().print(f"resuming run {run.id} from {run.last_checkpoint().name} (pid {proc.pid}).")
        return 0
    return follow_run(store, run.id, proc, _console(), as_json=args.json)


def cmd_runs_delete(args) -> int:
    store = _store(args)
    run = store.get(args.run)
    if not args.yes:
        if not sys.stdin.isatty():
            raise WorkbenchError("refusing to delete without confirmation; pass --yes.")
        answer = input(f"delete run {run.name} ({run.path})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept.")
            return 1
    store.delete(run, force=args.force)
    _console().print(f"deleted run {run.name}.")
    return 0


# ------------------------------------------------------------------------------------------ eval
def cmd_eval(args) -> int:
    from workbench.core.evaluation import evaluate_run

    run = _store(args).get(args.run)
    if run.task == "causal-lm-sft":
        return _eval_sft(args, run)
    report = evaluate_run(run, args.data, text_column=args.text_column, label_column=args.label_column,
                          batch_size=args.batch_size)
    if args.json:
        _print_json(report)
        return 0
    from rich.table import Table

    console = _console()
    if report.get("task") == "token-classification":
        _print_ner_report(console, run.name, args.data, report)
        return 0
    console.print(f"[bold]{run.name}[/] on {args.data} ({report['rows']} rows): "
                  f"accuracy [bold]{report['accuracy']:.4f}[/]  macro-F1 [bold]{report['macro_f1']:.4f}[/]")
    console.print(_per_class_table(report, "label"))
    cm = Table(title="confusion matrix (rows gold, columns predicted)", box=None, header_style="bold")
    cm.add_column("")
    for label in report["labels"]:
        cm.add_column(label, justify="right")
    for label, row in zip(report["labels"], report["confusion_matrix"]):
        cm.add_row(label, *map(str, row))
    console.print(cm)
    return 0


def _per_class_table(report: dict[str, Any], first: str):
    """Precision, recall, F1 and support per class (or entity type) of an evaluation report."""
    from rich.table import Table

    per = Table(box=None, header_style="bold")
    for col in (first, "precision", "recall", "F1", "support"):
        per.add_column(col, justify="left" if col == first else "right")
    for label, m in report["per_class"].items():
        per.add_row(label, _fmt(m["precision"]), _fmt(m["recall"]), _fmt(m["f1"]), str(m["support"]))
    return per


def _print_ner_report(console, name: str, data: str, report: dict[str, Any]) -> None:
    """Entity-level precision/recall/F1, overall and per entity type (token classification)."""
    console.print(f"[bold]{name}[/] on {data} ({report['rows']} sentences): entity F1 [bold]{report['f1']:.4f}[/]  "
                  f"precision {report['precision']:.4f}  recall {report['recall']:.4f}  "
                  f"token accuracy {report['token_accuracy']:.4f}")
    console.print(_per_class_table(report, "entity type"))


def _eval_sft(args, run) -> int:
    """eval for a causal-lm-sft run: eval loss, perplexity and greedy samples."""
    from workbench.core.tasks.causal_lm_sft import evaluate

    # The run's eval batch size: the Trainer averages per-batch losses, so this reproduces the run's own figure.
    report = evaluate(run, args.data, batch_size=int(run.config.get("eval_batch_size") or 16))
    if args.json:
        _print_json(report)
        return 0
    console = _console()
    console.print(f"[bold]{run.name}[/] on {args.data} ({report['rows']} rows, {report['response_tokens']} response tokens): "
                  f"eval loss [bold]{report['eval_loss']:.4f}[/]  perplexity [bold]{report['perplexity']:.2f}[/]")
    for i, s in enumerate(report["samples"], 1):
        console.print(f"[bold]{i}.[/] {' '.join(s['prompt'].split())[:100]}")
        console.print(f"   [dim]reference[/] {' '.join(s['reference'].split())[:100]}")
        console.print(f"   [dim]generated[/] [green]{' '.join(s['generated'].split())[:100]}[/]")
    return 0


# ------------------------------------------------------------------------------------------ compare
def cmd_compare(args) -> int:
    from workbench.core.compare import compare_runs, render_markdown, render_rich

    store = _store(args)
    compared = [store.get(ref) for ref in args.runs]
    cmp = compare_runs(compared, align=args.align, seed=args.seed)
    if args.gold is not None:
        cmp.disagreements = cmp.disagreements_for(gold=args.gold)  # also validates the class name
    samples = _sft_samples(compared)
    if args.json:
        data = cmp.to_dict()
        if samples:
            data["samples"] = samples
        text = json.dumps(data, indent=2, default=str) + "\n"
    elif args.markdown:
        text = render_markdown(cmp, top=args.top, gold=args.gold) + _samples_markdown(cmp, samples)
    else:
        text = None
    if args.out:
        try:
            with open(expand_user(args.out), "w", encoding="utf-8") as fh:
                if text is None:  # the tables, as plain text: colours mean nothing in a file
                    from rich.console import Console

                    file_console = Console(file=fh, width=140, no_color=True, force_terminal=False)
                    for part in [*render_rich(cmp, top=args.top, gold=args.gold), *_samples_rich(cmp, samples)]:
                        file_console.print(part)
                        file_console.print()
                else:
                    fh.write(text)
        except OSError as exc:
            raise WorkbenchError(f"cannot write {args.out}: {exc.strerror or exc}.") from None
        print(f"wrote {args.out}", file=sys.stderr)
    elif text is not None:
        sys.stdout.write(text)
    else:
        console = _console()
        for part in [*render_rich(cmp, top=args.top, gold=args.gold), *_samples_rich(cmp, samples)]:
            console.print(part)
            console.print()
    return 0


def _sft_samples(runs) -> list[dict[str, Any]]:
    """causal-lm-sft runs: their sample generations side by side, per prompt (empty for other tasks)."""
    if not any(r.task == "causal-lm-sft" for r in runs):
        return []
    from workbench.core.sft_samples import side_by_side

    return side_by_side([r.info for r in runs])


def _samples_rich(cmp, samples) -> list[Any]:
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


def _samples_markdown(cmp, samples) -> str:
    if not samples:
        return ""
    cell = lambda t: " ".join(str(t).split()).replace("|", "\\|")[:200] or "(empty)"  # noqa: E731
    lines = ["", "### Sample generations", "", "| prompt | reference | " + " | ".join(f"{r.letter} {r.name}" for r in cmp.runs) + " |",
             "|" + " --- |" * (2 + len(cmp.runs))]
    for row in samples:
        lines.append(f"| {cell(row['prompt'])} | {cell(row['reference'])} | "
                     + " | ".join("—" if g is None else cell(g) for g in row["generated"]) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ datasets
def cmd_datasets_inspect(args) -> int:
    from workbench.core.datasets import inspect_source

    report = inspect_source(args.path, text_column=args.text_column, label_column=args.label_column,
                            model=None if args.no_tokenizer else args.model, max_length=args.max_length)
    if args.json:
        for split in report["splits"].values():
            split.pop("token_lengths", None)
        _print_json(report)
        return 0
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{report['path']}[/]  task {report['task']}  text column [bold]{report['text_column']}[/]"
                  f"  label column [bold]{report['label_column'] or '—'}[/]")
    console.print("columns: " + ", ".join(f"{c} ({t})" for c, t in report["columns"].items()))
    table = Table(box=None, header_style="bold")
    for col in ("split", "rows", "labels", "tokens p50/p95/max", "> max_length", "duplicates"):
        table.add_column(col)
    for split, info in report["splits"].items():
        tl = info.get("token_length") or {}
        table.add_row(split, str(info["rows"]), ", ".join(f"{k}: {v}" for k, v in info["label_counts"].items()),
                      f"{tl.get('p50', 0):.0f}/{tl.get('p95', 0):.0f}/{tl.get('max', 0)}" if tl else "—",
                      str(info.get("over_max_length", "—")), str(info["duplicates"]))
    console.print(table)
    for w in report["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")
    if not report["warnings"]:
        console.print("[green]no warnings[/]")
    return 0


# ------------------------------------------------------------------------------------------ export
def _export_dir(args, ref: str):
    """An export directory given as a path, or by name under the workspace's exports/ folder."""
    from workbench.paths import Workspace

    path = expand_user(ref)
    if not path.exists() and "/" not in ref:
        named = Workspace.resolve(args.workspace).exports_dir / ref
        if named.exists():
            return named
    return path


def _mb(size: Any) -> str:
    return "—" if size is None else f"{size / 1e6:.1f} MB"


def cmd_export(args) -> int:
    from workbench.core.export import export_run

    store = _store(args)
    run = store.get(args.run)
    console = _console()
    with (console.status("exporting…") if not args.json else _nullcontext()) as status:
        manifest = export_run(run, out=args.out, workspace=store.workspace, int8=args.int8, opset=args.opset,
                              force=args.force, data=args.data, max_int8_drop=args.max_int8_drop,
                              progress=None if args.json else status.update)
    if args.json:
        _print_json(manifest)
        return 0
    if manifest.get("task") == "causal-lm-sft":
        return _print_lm_export(console, run, manifest)
    from rich.table import Table

    if manifest.get("task") == "token-classification":
        _print_ner_export(console, manifest)
        return 0
    report = manifest["validation"]
    sizes = manifest["sizes_bytes"]
    table = Table(title=f"validation on {report['rows']} rows of {report['data']}", box=None, header_style="bold")
    for col in ("engine", "accuracy", "macro-F1", "Δ accuracy (pts)", "label agreement", "max |Δ logit|", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    size_of = {"onnx-fp32": sizes.get("model.onnx"), "onnx-int8": sizes.get("model.int8.onnx")}
    for e in report["engines"]:
        diff = e.get("max_abs_logit_diff")
        table.add_row(e["engine"], _fmt(e["accuracy"]), _fmt(e["macro_f1"]), _fmt(e.get("accuracy_delta_points"), 2),
                      _fmt(e.get("label_agreement")), "—" if diff is None else f"{diff:.2e}", _mb(size_of.get(e["engine"])))
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
    return 0


def _print_ner_export(console, manifest: dict[str, Any]) -> None:
    """The export summary of a token-classification model: entity F1 and parity per engine."""
    from rich.table import Table

    report, sizes = manifest["validation"], manifest["sizes_bytes"]
    table = Table(title=f"validation on {report['rows']} sentences of {report['data']}", box=None, header_style="bold")
    for col in ("engine", "entity F1", "Δ F1 (pts)", "tag agreement", "max |Δ logit|", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    size_of = {"onnx-fp32": sizes.get("model.onnx"), "onnx-int8": sizes.get("model.int8.onnx")}
    for e in report["engines"]:
        diff = e.get("max_abs_logit_diff")
        table.add_row(e["engine"], _fmt(e["f1"]), _fmt(e.get("f1_delta_points"), 2), _fmt(e.get("tag_agreement")),
                      "—" if diff is None else f"{diff:.2e}", _mb(size_of.get(e["engine"])))
    console.print(table)
    console.print(f"[green]exported[/] {manifest['source_run']['name']} → [bold]{manifest['path']}[/]")
    console.print(f"  try it:   sft-workbench predict {manifest['path']} \"Angela Merkel visited Paris\"")


def _predict_entities(args, export_dir) -> int:
    """``predict`` for a token-classification export: entity spans per text (torch-free)."""
    from workbench.core.inference import batched, iter_texts
    from workbench.core.ner_inference import OnnxTagger

    tagger = OnnxTagger(export_dir, int8=args.int8)
    if args.file:
        row = 0
        for batch in batched(iter_texts(args.file, args.text_column), args.batch_size):
            lines = ["row\tentities\ttext"] if row == 0 and not args.json else []
            for pred in tagger.predict(batch, batch_size=args.batch_size):
                row += 1
                if args.json:
                    lines.append(json.dumps({"row": row, **pred}, ensure_ascii=False))
                else:
                    ents = "; ".join(f"{e['text']} ({e['type']})" for e in pred["entities"]) or "—"
                    lines.append(f"{row}\t{ents}\t{' '.join(pred['text'].split())}")
            print("\n".join(lines), flush=True)
        return 0
    preds = tagger.predict(args.texts, batch_size=args.batch_size)
    if args.json:
        _print_json(preds)
        return 0
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
    _console().print(table)
    return 0


def _print_lm_export(console, run, manifest) -> int:
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
    console.print(f"[green]exported[/] {run.name} → [bold]{manifest['path']}[/] ({_mb(manifest['sizes_bytes'].get('model.onnx'))})")
    console.print(f"  try it:   sft-workbench predict {manifest['path']} \"your prompt\"")
    return 0


def _predict_lm(args, export_dir) -> int:
    """Generate from a causal-LM export with onnxruntime alone; one prompt streams token by token."""
    from workbench.core.inference import iter_texts
    from workbench.core.lm_inference import OnnxGenerator

    if args.max_new_tokens < 1:
        raise WorkbenchError("--max-new-tokens must be at least 1.")
    if args.temperature < 0 or not 0 < args.top_p <= 1:
        raise WorkbenchError("--temperature must be 0 or more and --top-p in (0, 1].")
    gen = OnnxGenerator(export_dir, int8=args.int8)
    prompts = iter_texts(args.file, args.text_column) if args.file else args.texts
    settings = {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature, "top_p": args.top_p, "seed": args.seed}
    for i, prompt in enumerate(prompts, 1):
        if args.json:
            print(json.dumps({"row": i, "prompt": prompt, "generated": gen.generate(prompt, **settings)}, ensure_ascii=False), flush=True)
            continue
        if args.file or len(args.texts) > 1:
            print(f"### {i}: {' '.join(prompt.split())[:80]}", flush=True)
        for piece in gen.stream(prompt, **settings):
            sys.stdout.write(piece)
            sys.stdout.flush()
        print(flush=True)
    return 0


def _stdout_closed() -> int:
    """`sft-workbench predict … | head` closed the pipe: stop quietly, like other Unix tools."""
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def cmd_predict(args) -> int:
    # Torch-free on purpose: only onnxruntime, tokenizers and numpy get imported on this path.
    from workbench.core.inference import OnnxClassifier, batched, iter_texts, read_manifest

    if args.texts and args.file:
        raise WorkbenchError("give TEXT arguments or --file, not both.")
    if not args.texts and not args.file:
        raise WorkbenchError("nothing to predict: give one or more TEXT arguments or --file PATH.")
    export_dir = _export_dir(args, args.export_dir)
    task = read_manifest(export_dir).get("task")
    if task == "causal-lm-sft":
        try:
            return _predict_lm(args, export_dir)
        except BrokenPipeError:
            return _stdout_closed()
    if args.batch_size < 1:
        raise WorkbenchError("--batch-size must be at least 1.")
    if task == "token-classification":
        try:
            return _predict_entities(args, export_dir)
        except BrokenPipeError:
            return _stdout_closed()
    clf = OnnxClassifier(export_dir, int8=args.int8)
    try:
        if args.file:
            # Stream: one batch in memory at a time, each written (and flushed) as soon as it is scored.
            row = 0
            for batch in batched(iter_texts(args.file, args.text_column), args.batch_size):
                # The header waits for the first batch, so a bad file or column gives only the error line.
                lines = ["row\tlabel\tscore\ttext"] if row == 0 and not args.json else []
                for text, pred in zip(batch, clf.predict(batch, batch_size=args.batch_size)):
                    row += 1
                    if args.json:
                        lines.append(json.dumps({"row": row, "text": text, **pred}, ensure_ascii=False))
                    else:
                        lines.append(f"{row}\t{pred['label']}\t{pred['scores'][pred['label']]:.4f}\t{' '.join(text.split())}")
                print("\n".join(lines), flush=True)
            return 0
        preds = clf.predict(args.texts, batch_size=args.batch_size)
        if args.json:
            _print_json([{"text": t, **p} for t, p in zip(args.texts, preds)])
            return 0
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, header_style="bold")
        table.add_column("text", overflow="fold")
        table.add_column("label")
        show_all = len(clf.labels) <= 6
        for label in clf.labels if show_all else ["score"]:
            table.add_column(label, justify="right")
        for text, p in zip(args.texts, preds):
            scores = [p["scores"][l] for l in clf.labels] if show_all else [p["scores"][p["label"]]]
            table.add_row(Text(text), Text(p["label"], style="bold"), *(f"{s:.4f}" for s in scores))
        _console().print(table)
        return 0
    except BrokenPipeError:
        return _stdout_closed()


def cmd_bench(args) -> int:
    from workbench.core.bench import BenchSettings, bench_export

    console = _console()
    with (console.status("benchmarking…") if not args.json else _nullcontext()) as status:
        result = bench_export(_export_dir(args, args.export_dir), BenchSettings(threads=args.threads),
                              progress=None if args.json else status.update)
    if args.json:
        _print_json(result)
        return 0
    from rich.table import Table

    if result.get("kind") == "causal-lm":
        from workbench.core.lm_export import bench_table

        console.print(bench_table(result))
        for note in result["notes"]:
            console.print(f"[yellow]note:[/] {note}")
        console.print("saved under \"benchmark\" in the export's manifest.json")
        return 0
    st = result["settings"]
    table = Table(title=f"{st['threads']} thread(s), seq {st['seq_len']}: latency at batch {st['latency_batch']}, "
                        f"throughput at batch {st['throughput_batch']}", box=None, header_style="bold")
    for col in ("engine", "p50 ms", "p95 ms", "samples/s", "speed-up p50", "speed-up throughput", "size"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    for name, row in result["engines"].items():
        table.add_row(name, _fmt(row["p50_ms"], 2), _fmt(row["p95_ms"], 2), _fmt(row["throughput_per_s"], 1),
                      f"{row['speedup_p50']:.2f}×" if "speedup_p50" in row else "—",
                      f"{row['speedup_throughput']:.2f}×" if "speedup_throughput" in row else "—", _mb(row["size_bytes"]))
    console.print(table)
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    console.print("saved under \"benchmark\" in the export's manifest.json")
    return 0


# ------------------------------------------------------------------------------------------ app
def cmd_app(args) -> int:
    from workbench.ui.app import make_app

    make_app(args.workspace).run()
    return 0
