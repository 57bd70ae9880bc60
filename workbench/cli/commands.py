"""The command functions: each calls ``workbench.core`` and prints (rich tables or ``--json``). No logic here.

Heavy libraries are imported inside the command functions so ``--help`` and the TUI start fast.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from workbench.cli import report
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


# ------------------------------------------------------------------------------------------ train
def cmd_train(args) -> int:
    from workbench.cli.flags import build_config
    from workbench.core.runs import RunStore
    from workbench.core.training.launcher import create_run, launch_worker

    cfg = build_config(args)  # create_run makes paths absolute; a saved config keeps them as given
    if args.group_by_length is True and cfg.dp_epsilon is not None:
        # Without the flag a DP run just turns length grouping off (a default must not make --dp-epsilon fail).
        raise WorkbenchError("--group-by-length cannot be combined with --dp-epsilon: differential privacy needs "
                             "Poisson-sampled batches, which length grouping would replace.")
    if args.save_config:
        cfg.save(args.save_config)
    if not cfg.data:
        raise WorkbenchError("no training data: pass --data PATH (or set data: in --config).")
    console = _console()
    store = RunStore(args.workspace)
    with console.status("checking data and model…") if not args.json else _nullcontext():
        cfg.check()
        if args.queue:
            from workbench.core.training.launcher import queue_run

            (run, position), proc = queue_run(store, cfg), None
        else:
            run = create_run(store, cfg)  # start_run's two steps, so that the note comes before the launch
        if not args.json:
            _print_memory_estimate(console, cfg, task=run.task)  # the task the data resolved to
            _print_skipped_rows(console, run.info.get("data"))  # the rows this run will not see
        if not args.queue:
            proc = launch_worker(run)
    if run.info.get("privacy") and not args.json:
        from workbench.core.training.privacy import PrivacyPlan

        console.print(PrivacyPlan.from_record(run.info["privacy"]).describe())
    if proc is None:  # --queue
        _print_queued(console, [(run, position)], as_json=args.json)
        return 0
    if args.detach:
        if args.json:
            _print_json({"id": run.id, "name": run.name, "run_dir": str(run.path), "pid": proc.pid, "status": "queued"})
        else:
            console.print(f"started run [bold]{run.id}[/] (pid {proc.pid}); it keeps training if you close this terminal.")
            console.print(f"  follow: sft-workbench runs show {run.id}   stop: sft-workbench runs stop {run.id}")
        return 0
    return follow_run(store, run.id, proc, console, as_json=args.json)


def _print_skipped_rows(console, data: dict[str, Any] | None) -> None:
    """The note of each split whose unusable rows were skipped (run.json ``data.<split>.skipped``)."""
    for split in ("train", "eval"):
        skipped = ((data or {}).get(split) or {}).get("skipped")
        if skipped:
            console.print(f"[yellow]note:[/] {skipped['note']}; --strict refuses such data instead.")


def _print_memory_estimate(console, cfg, task: str | None = None) -> None:
    """The estimated peak memory per device, with a warning when it will not fit the GPU (or, on CPU, the RAM)."""
    from workbench.core.memory import estimate_for_run

    try:
        est, gpu_bytes = estimate_for_run(cfg, task)
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
    elif not gpu_bytes:
        import psutil

        ram = psutil.virtual_memory().total
        if est.total > 0.9 * ram:
            console.print(f"[yellow]warning:[/] that is more than 90% of this machine's {ram / 2**30:.0f} GiB of RAM; "
                          "lower --batch-size, --eval-batch-size or --max-length (the kernel kills a process that "
                          "runs out of memory).")


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
                progress.update(bar, total=prog.get("max_steps"), completed=prog.get("step") or 0,
                                info=("stopping… " if stopping else "") + "  ".join(report.progress_info(last)))
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
        report.print_run(console, summary)
    return 0 if summary["status"] in ("completed", "stopped") else 1


# ------------------------------------------------------------------------------------------ runs
def cmd_runs_list(args) -> int:
    from workbench.core.runs import broken_summary

    from workbench.core.queue import RunQueue

    store = _store(args)
    readable, broken = store.scan()  # broken: directories whose run.json cannot be read, listed last
    positions = RunQueue(store.workspace).positions()
    runs = [{**r.summary(), "queue_position": positions.get(r.id)} for r in readable]
    if args.json:
        _print_json(runs + [broken_summary(path, reason) for path, reason in broken])
        return 0
    if not runs and not broken:
        _console().print("no runs yet; start one with `sft-workbench train --data PATH`.")
        return 0
    report.print_runs(_console(), runs, broken)
    return 0


def _print_queued(console, queued, *, as_json: bool) -> None:
    if as_json:
        _print_json([{"id": run.id, "name": run.name, "run_dir": str(run.path), "status": "queued",
                      "queue_position": position} for run, position in queued])
        return
    for run, position in queued:
        console.print(f"queued run [bold]{run.id}[/] at position {position}; the queue runner starts it when a device is free.")
    console.print("  see: sft-workbench queue list   follow: sft-workbench runs show RUN")


def cmd_runs_queue(args) -> int:
    from workbench.core.config import RunConfig
    from workbench.core.training.launcher import queue_run

    store = _store(args)
    # Every config is checked before any is queued: one bad file queues nothing.
    configs = []
    for path in args.configs:
        cfg = RunConfig.load(path)  # relative data paths: from the current directory, as for `train --config`
        if not cfg.data:
            raise WorkbenchError(f"{path}: no training data (set data: in the config).")
        configs.append(cfg.check())
    queued = [queue_run(store, cfg) for cfg in configs]
    _print_queued(_console(), queued, as_json=args.json)
    return 0


def cmd_runs_show(args) -> int:
    summary = _store(args).get(args.run).summary()
    if args.json:
        _print_json(summary)
    else:
        report.print_run(_console(), summary)
    return 0


def cmd_runs_stop(args) -> int:
    from workbench.core.queue import stop_run

    store = _store(args)
    run, dequeued = stop_run(store, args.run)
    if dequeued:  # never started: it left the queue, marked stopped
        _console().print(f"run {run.name} had not started; it left the queue.")
        return 0
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
    from workbench.core.tasks import get_task

    run = _store(args).get(args.run)
    task = get_task(run.task)
    # A language model's loss is averaged per batch, so the run's own eval batch size reproduces its figure.
    batch_size = int(run.config.get("eval_batch_size") or 16) if task.capabilities.playground == "generate" else args.batch_size
    result = task.evaluate(run, args.data, text_column=args.text_column, label_column=args.label_column,
                           batch_size=batch_size)
    if args.json:
        _print_json(result)
        return 0
    console = _console()
    report.print_all(console, task.eval_report(result, title=f"{run.name} on {args.data}"))
    if result.get("skipped"):
        console.print(f"[yellow]note:[/] {result['skipped']['note']}.")
    return 0


# ------------------------------------------------------------------------------------------ compare
def cmd_compare(args) -> int:
    from workbench.core.compare import compare_runs, render_markdown, render_rich

    store = _store(args)
    compared = [store.get(ref) for ref in args.runs]
    cmp = compare_runs(compared, align=args.align, seed=args.seed)
    if args.gold is not None:
        cmp.disagreements = cmp.disagreements_for(gold=args.gold)  # also validates the class name
    samples = _sample_generations(compared)
    if args.json:
        data = cmp.to_dict()
        if samples:
            data["samples"] = samples
        text = json.dumps(data, indent=2, default=str) + "\n"
    elif args.markdown:
        text = render_markdown(cmp, top=args.top, gold=args.gold) + report.samples_markdown(cmp, samples)
    else:
        text = None
    if args.out:
        try:
            with open(expand_user(args.out), "w", encoding="utf-8") as fh:
                if text is None:  # the tables, as plain text: colours mean nothing in a file
                    from rich.console import Console

                    file_console = Console(file=fh, width=140, no_color=True, force_terminal=False)
                    for part in [*render_rich(cmp, top=args.top, gold=args.gold), *report.samples_rich(cmp, samples)]:
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
        for part in [*render_rich(cmp, top=args.top, gold=args.gold), *report.samples_rich(cmp, samples)]:
            console.print(part)
            console.print()
    return 0


def _sample_generations(runs) -> list[dict[str, Any]]:
    """Runs that record sample generations (causal-LM SFT): them side by side, per prompt (else nothing)."""
    from workbench.core.tasks import find_task

    task = next((t for t in map(find_task, (r.task for r in runs)) if t is not None and t.capabilities.samples), None)
    return task.sample_generations([r.info for r in runs]) if task is not None else []


# ------------------------------------------------------------------------------------------ datasets
def cmd_datasets_inspect(args) -> int:
    from workbench.core.tasks import inspect_source

    report = inspect_source(args.path, text_column=args.text_column, label_column=args.label_column,
                            model=None if args.no_tokenizer else args.model, max_length=args.max_length,
                            strict=args.strict)
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
    from workbench.core.tasks import task_or_default

    words = task_or_default(report["task"]).words
    table = Table(box=None, header_style="bold")
    for col in ("split", words.examples, words.counts.lower(), "tokens p50/p95/max", "> max_length", "duplicates"):
        table.add_column(col)
    for split, info in report["splits"].items():
        tl = info.get("token_length") or {}
        table.add_row(split, str(info["rows"]), ", ".join(f"{k}: {v}" for k, v in info["label_counts"].items()),
                      f"{tl.get('p50', 0):.0f}/{tl.get('p95', 0):.0f}/{tl.get('max', 0)}" if tl else "—",
                      str(info.get("over_max_length", "—")), str(info["duplicates"]))
    console.print(table)
    for split, info in report["splits"].items():
        if "passages" in info:  # question answering
            windows = (f"; {info['windows']:,} windows at max_length {report['max_length']}, doc_stride "
                       f"{report['doc_stride']} ({info['multi_window']:,} questions need more than one)"
                       if "windows" in info else "")
            console.print(f"{split}: {info['passages']:,} passages; gold answers per question "
                          + ", ".join(f"{k}: {n:,}" for k, n in info["answers_per_question"].items()) + windows)
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
    from workbench.core.tasks import get_task

    report.print_export(console, get_task(run.task), run, manifest)
    return 0


def _predict_lm(args, export_dir, task) -> int:
    """Generate from a causal-LM export with onnxruntime alone; one prompt streams token by token."""
    from workbench.core.inference import iter_texts

    if args.max_new_tokens < 1:
        raise WorkbenchError("--max-new-tokens must be at least 1.")
    if args.temperature < 0 or not 0 < args.top_p <= 1:
        raise WorkbenchError("--temperature must be 0 or more and --top-p in (0, 1].")
    gen = task.open_predictor(export_dir, int8=args.int8)
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


def _read_passage(args) -> str:
    if args.context is not None and args.context_file:
        raise WorkbenchError("give --context or --context-file, not both.")
    if args.context_file:
        path = expand_user(args.context_file)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise WorkbenchError(f"context file not found: {path}") from None
        except UnicodeDecodeError:
            raise WorkbenchError(f"{path.name} is not UTF-8 text.") from None
        except OSError as exc:
            raise WorkbenchError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if args.context is None:
        raise WorkbenchError("a question needs a passage: give --context TEXT or --context-file F.")
    return args.context


def _predict_qa(args, export_dir, task) -> int:
    """Answer questions about passages with onnxruntime alone: ``--question … --context-file F`` or ``--file``
    with question and context columns (streamed in batches)."""
    from workbench.core.inference import batched
    from workbench.core.tasks.question_answering.predict import iter_questions

    if args.texts:
        raise WorkbenchError("a question-answering export takes --question Q with --context/--context-file, or --file; "
                             "not TEXT arguments.")
    if args.file and (args.question or args.context is not None or args.context_file):
        raise WorkbenchError("give --file, or --question with --context/--context-file, not both.")
    if args.batch_size < 1:
        raise WorkbenchError("--batch-size must be at least 1.")
    reader = task.open_predictor(export_dir, int8=args.int8)
    if not args.file:
        passage = _read_passage(args)
        items = [{"question": q, "context": passage} for q in args.question]
        preds = reader.predict(items, batch_size=args.batch_size)
        if args.json:
            _print_json([{k: v for k, v in p.items() if k != "context"} for p in preds])
            return 0
        _console().print(task.predictions_table([p["question"] for p in preds], preds, reader))
        return 0
    row = 0
    for batch in batched(iter_questions(args.file, args.text_column, args.context_column), args.batch_size):
        lines = [task.prediction_header] if row == 0 and not args.json else []
        for pred in reader.predict(batch, batch_size=args.batch_size):
            row += 1
            if args.json:
                out = {k: v for k, v in pred.items() if k not in ("context", "n_best")}
                lines.append(json.dumps({"row": row, **out, "n_best": pred["n_best"][:3]}, ensure_ascii=False))
            else:
                lines.append(task.prediction_line(row, pred["question"], pred))
        print("\n".join(lines), flush=True)
    return 0


def _stdout_closed() -> int:
    """`sft-workbench predict … | head` closed the pipe: stop quietly, like other Unix tools."""
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


# Batches per window that ``predict --file`` sorts by length: most of a full sort's saving in padding, with one
# window of texts in memory (2,048 at the default batch of 32).
SORT_WINDOW_BATCHES = 64


def cmd_predict(args) -> int:
    # Torch-free on purpose: only onnxruntime, tokenizers and numpy get imported on this path.
    from workbench.core.inference import batched, iter_texts, read_manifest
    from workbench.core.tasks import get_task

    export_dir = _export_dir(args, args.export_dir)
    task = get_task(read_manifest(export_dir).get("task"))
    answers = task.capabilities.playground == "answer"
    if not answers and (args.question or args.context is not None or args.context_file or args.context_column):
        raise WorkbenchError(f"--question, --context, --context-file and --context-column are for question-answering "
                             f"exports; {export_dir.name} is a {task.title} model.")
    if answers and not (args.question or args.file):
        raise WorkbenchError("nothing to answer: give --question Q with --context TEXT or --context-file F, or --file PATH "
                             "with question and context columns.")
    if answers:
        try:
            return _predict_qa(args, export_dir, task)
        except BrokenPipeError:
            return _stdout_closed()
    if args.texts and args.file:
        raise WorkbenchError("give TEXT arguments or --file, not both.")
    if not args.texts and not args.file:
        raise WorkbenchError("nothing to predict: give one or more TEXT arguments or --file PATH.")
    if task.capabilities.playground == "generate":
        try:
            return _predict_lm(args, export_dir, task)
        except BrokenPipeError:
            return _stdout_closed()
    if args.batch_size < 1:
        raise WorkbenchError("--batch-size must be at least 1.")
    predictor = task.open_predictor(export_dir, int8=args.int8)
    try:
        if args.file:
            # Stream a window of SORT_WINDOW_BATCHES batches at a time: the predictor cuts each window into batches of
            # similar length (little padding), and its lines are written, in input order, as soon as it is scored.
            row = 0
            for batch in batched(iter_texts(args.file, args.text_column), args.batch_size * SORT_WINDOW_BATCHES):
                # The header waits for the first batch, so a bad file or column gives only the error line.
                lines = [task.prediction_header] if row == 0 and not args.json else []
                for text, pred in zip(batch, predictor.predict(batch, batch_size=args.batch_size)):
                    row += 1
                    if args.json:
                        lines.append(json.dumps({"row": row, "text": text, **pred}, ensure_ascii=False))
                    else:
                        lines.append(task.prediction_line(row, text, pred))
                print("\n".join(lines), flush=True)
            return 0
        preds = predictor.predict(args.texts, batch_size=args.batch_size)
        if args.json:
            _print_json([{"text": t, **p} for t, p in zip(args.texts, preds)])
            return 0
        _console().print(task.predictions_table(args.texts, preds, predictor))
        return 0
    except BrokenPipeError:
        return _stdout_closed()


def cmd_bench(args) -> int:
    from workbench.core.bench import BenchSettings, bench_export
    from workbench.core.inference import read_manifest
    from workbench.core.tasks import get_task

    console = _console()
    export_dir = _export_dir(args, args.export_dir)
    with (console.status("benchmarking…") if not args.json else _nullcontext()) as status:
        result = bench_export(export_dir, BenchSettings(threads=args.threads), progress=None if args.json else status.update)
    if args.json:
        _print_json(result)
        return 0
    report.print_bench(console, get_task(read_manifest(export_dir).get("task")), result)
    return 0


# ------------------------------------------------------------------------------------------ app
def cmd_app(args) -> int:
    from workbench.ui.app import make_app

    make_app(args.workspace).run()
    return 0


# ------------------------------------------------------------------------------------------ queue
def _queue(args):
    from workbench.core.queue import RunQueue

    return RunQueue(args.workspace)


def cmd_queue_list(args) -> int:
    queue = _queue(args)
    data = queue.describe()
    if args.json:
        _print_json(data)
        return 0
    report.print_queue(_console(), data)
    return 0


def cmd_queue_pause(args) -> int:
    _queue(args).set_paused(True)
    _console().print("queue paused: nothing new starts; running runs carry on (`sft-workbench queue resume`).")
    return 0


def cmd_queue_resume(args) -> int:
    queue = _queue(args)
    queue.set_paused(False)
    pid = queue.ensure_runner()
    _console().print("queue resumed" + (f"; runner started (pid {pid})." if pid else "."))
    return 0


def cmd_queue_start(args) -> int:
    queue = _queue(args)
    if args.parallel is not None:
        queue.set_parallel(args.parallel)
    pid = queue.ensure_runner()
    runner = queue.runner()
    if pid:
        _console().print(f"queue runner started (pid {pid}).")
    elif runner is not None:
        _console().print(f"the queue runner is running (pid {runner.get('pid')}).")
    else:
        _console().print("the queue is empty: no runner needed.")
    return 0


def cmd_queue_move(args) -> int:
    position = _queue(args).move(args.entry, args.position)
    _console().print(f"moved {args.entry} to position {position}.")
    return 0


def cmd_queue_remove(args) -> int:
    entry = _queue(args).remove(args.entry)
    _console().print(f"took {entry['kind']} {entry['id']} out of the queue.")
    return 0


def cmd_queue_clear(args) -> int:
    queue = _queue(args)
    if not args.yes:
        if not sys.stdin.isatty():
            raise WorkbenchError("refusing to empty the queue without confirmation; pass --yes.")
        if input(f"take {len(queue.read().waiting)} waiting entries out of the queue? [y/N] ").strip().lower() not in ("y", "yes"):
            print("kept.")
            return 1
    removed = queue.clear()
    _console().print(f"took {len(removed)} waiting entries out of the queue; running runs carry on.")
    return 0


# ------------------------------------------------------------------------------------------ sweeps
def _sweeps(args):
    from workbench.core.sweeps import SweepStore

    return SweepStore(args.workspace)


def cmd_sweep(args) -> int:
    from workbench.cli.flags import build_config
    from workbench.core.sweeps import parse_param

    if not args.param:
        raise WorkbenchError("a sweep needs at least one --param NAME=VALUES (or: sweep list | show | stop | resume | extend).")
    params = [parse_param(text) for text in args.param]
    cfg = build_config(args)
    record = _sweeps(args).create(cfg, params, search=args.search, trials=args.trials, pruner=args.pruner,
                                  metric=args.metric, name=cfg.name, seed=args.sweep_seed)
    if args.json:
        _print_json(record)
        return 0
    console = _console()
    console.print(f"sweep [bold]{record['id']}[/]: {record['trials_planned']} trials ({record['search']}), "
                  f"optimising validation {record['metric']} ({record['direction']}), pruner {record['pruner']}; queued.")
    console.print(f"  follow: sft-workbench sweep show {record['id']}   stop: sft-workbench sweep stop {record['id']}")
    return 0


def cmd_sweep_list(args) -> int:
    records = _sweeps(args).list()
    if args.json:
        _print_json([{k: r[k] for k in ("id", "name", "status", "created", "search", "trials_planned", "metric", "direction")}
                     | {"trials": len(r["trials"])} for r in records])
        return 0
    if not records:
        _console().print("no sweeps yet; start one with `sft-workbench sweep --config base.yaml --param lr=1e-5,3e-5`.")
        return 0
    report.print_sweeps(_console(), records)
    return 0


def cmd_sweep_show(args) -> int:
    results = _sweeps(args).results(args.sweep)
    if args.json:
        _print_json(results)
    elif args.markdown:
        sys.stdout.write(report.sweep_markdown(results))
    else:
        report.print_sweep(_console(), results)
    return 0


def cmd_sweep_stop(args) -> int:
    record = _sweeps(args).stop(args.sweep)
    if args.json:
        _print_json(record)
    else:
        _console().print(f"sweep {record['name']} stopped: no new trials; running trials save a checkpoint and stop.")
    return 0


def cmd_sweep_resume(args) -> int:
    record = _sweeps(args).resume(args.sweep)
    if args.json:
        _print_json(record)
    else:
        _console().print(f"sweep {record['name']} is back in the queue ({len(record['trials'])} of "
                         f"{record['trials_planned']} trials asked).")
    return 0


def cmd_sweep_extend(args) -> int:
    record = _sweeps(args).resume(args.sweep, more_trials=args.more_trials)
    if args.json:
        _print_json(record)
    else:
        _console().print(f"sweep {record['name']}: {record['trials_planned']} trials planned; queued.")
    return 0
