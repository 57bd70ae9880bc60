"""Command line: a parser whose ``train`` flags are generated from ``RunConfig`` (``flags.py``), command
functions that call ``workbench.core`` (``commands.py``) and the per-task printers (``report.py``).

Heavy libraries are imported inside the command functions so ``--help`` and the TUI start fast.
"""

from __future__ import annotations

import argparse
import sys

from workbench import __version__
from workbench.cli import commands
from workbench.cli.flags import add_config_flags, build_config
from workbench.core.errors import WorkbenchError

__all__ = ["build_config", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """Argument errors read like every other error: one line, exit code 2."""

    def error(self, message: str):
        from workbench.core.errors import shown

        # shown(): an argument holding a line break ("unrecognized arguments: a<newline>b") stays on one line.
        self.exit(2, f"error: {shown(message, 300)} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sft-workbench", description="A terminal workbench for supervised fine-tuning.")
    parser.add_argument("--version", action="version", version=f"sft-workbench {__version__}")
    parser.add_argument("--workspace", "-w", default=None, help="workspace folder holding runs/ and exports/ (default: $SFT_WORKBENCH_HOME or the current directory)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def common(p, json_flag=True):
        p.add_argument("--workspace", "-w", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print JSON for scripts")
        return p

    t = common(sub.add_parser("train", help="fine-tune a model on a data set"))
    add_config_flags(t)  # one flag per RunConfig field
    t.add_argument("--config", help="YAML config file (flags override its values)")
    t.add_argument("--save-config", metavar="FILE", help="write the effective config as YAML")
    launch = t.add_mutually_exclusive_group()
    launch.add_argument("--detach", "-d", action="store_true", help="return at once; training continues in the background")
    launch.add_argument("--queue", action="store_true",
                        help="put the run at the end of the workspace's queue (started when a device is free) and return")
    t.set_defaults(func=commands.cmd_train)

    runs = sub.add_parser("runs", help="list, show, stop, resume or delete runs")
    rsub = runs.add_subparsers(dest="runs_command", required=True)
    common(rsub.add_parser("list", help="all runs, newest first")).set_defaults(func=commands.cmd_runs_list)
    p = common(rsub.add_parser("show", help="one run"))
    p.add_argument("run")
    p.set_defaults(func=commands.cmd_runs_show)
    p = common(rsub.add_parser("stop", help="stop a running run cleanly (saves a checkpoint)"), json_flag=False)
    p.add_argument("run")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="wait up to SECONDS for it to stop")
    p.set_defaults(func=commands.cmd_runs_stop)
    p = common(rsub.add_parser("resume", help="continue a stopped or crashed run from its last checkpoint"))
    p.add_argument("run")
    p.add_argument("--detach", "-d", action="store_true")
    p.set_defaults(func=commands.cmd_runs_resume)
    p = common(rsub.add_parser("queue", help="queue runs from YAML configs; the queue runner starts them one per device"))
    p.add_argument("configs", nargs="+", metavar="RUN_CONFIG", help="YAML run configs (as written by `train --save-config`)")
    p.set_defaults(func=commands.cmd_runs_queue)
    p = common(rsub.add_parser("delete", help="delete a run directory"), json_flag=False)
    p.add_argument("run")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="also delete a running run (its worker is terminated)")
    p.set_defaults(func=commands.cmd_runs_delete)

    q = sub.add_parser("queue", help="the run queue: list, pause, resume, reorder or empty it")
    qsub = q.add_subparsers(dest="queue_command")
    common(q)
    q.set_defaults(func=commands.cmd_queue_list)
    common(qsub.add_parser("list", help="queued and running entries, in order, and the runner")).set_defaults(func=commands.cmd_queue_list)
    common(qsub.add_parser("pause", help="start nothing new (running runs carry on)"), json_flag=False).set_defaults(func=commands.cmd_queue_pause)
    common(qsub.add_parser("resume", help="start queued runs again"), json_flag=False).set_defaults(func=commands.cmd_queue_resume)
    p = common(qsub.add_parser("start", help="start the queue runner if it is not running"), json_flag=False)
    p.add_argument("--parallel", type=int, metavar="K", help="runs at a time on a machine with K GPUs, one GPU each (CPU: 1)")
    p.set_defaults(func=commands.cmd_queue_start)
    p = common(qsub.add_parser("move", help="move a waiting run (or sweep) to a position (1 = next)"), json_flag=False)
    p.add_argument("entry", metavar="RUN")
    p.add_argument("position", type=int)
    p.set_defaults(func=commands.cmd_queue_move)
    p = common(qsub.add_parser("remove", help="take a waiting run (or sweep) out of the queue"), json_flag=False)
    p.add_argument("entry", metavar="RUN")
    p.set_defaults(func=commands.cmd_queue_remove)
    p = common(qsub.add_parser("clear", help="take every waiting entry out of the queue (running runs carry on)"), json_flag=False)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=commands.cmd_queue_clear)

    s = sub.add_parser("sweep", help="hyper-parameter sweeps through Optuna, run by the queue",
                       description="Create a sweep: sft-workbench sweep --config base.yaml --param lr=1e-5,3e-5 "
                                   "--param epochs=2,3 (grid), or --search random|tpe --trials N with ranges "
                                   "(--param lr=log:1e-5..3e-4). Or: sweep list | show | stop | resume | extend.")
    common(s)
    add_config_flags(s)
    s.add_argument("--config", help="the base YAML run config (flags override its values)")
    s.add_argument("--param", action="append", default=[], metavar="NAME=VALUES",
                   help="a setting to vary: NAME=V1,V2,… or NAME=LOW..HIGH or NAME=log:LOW..HIGH (repeatable)")
    s.add_argument("--search", choices=("grid", "random", "tpe"), default="grid", help="sampler (default: grid)")
    s.add_argument("--trials", type=int, metavar="N", help="trials to run (grid: default every combination)")
    s.add_argument("--pruner", choices=("median", "halving", "none"), default="median",
                   help="stop hopeless trials early: Optuna's median or successive-halving pruner (default: median)")
    s.add_argument("--metric", help="what to optimise on the validation split: the task's main metric (default) or loss")
    s.add_argument("--sweep-seed", type=int, default=0, metavar="N", help="sampler seed (default: 0)")
    s.set_defaults(func=commands.cmd_sweep)
    ssub = s.add_subparsers(dest="sweep_command")
    common(ssub.add_parser("list", help="all sweeps, newest first")).set_defaults(func=commands.cmd_sweep_list)
    p = ssub.add_parser("show", help="a sweep's trials ranked, the best against the runner-up, parameter importance")
    common(p, json_flag=False)
    p.add_argument("sweep")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    p.set_defaults(func=commands.cmd_sweep_show)
    p = common(ssub.add_parser("stop", help="start no new trials and stop the running ones (they save a checkpoint)"))
    p.add_argument("sweep")
    p.set_defaults(func=commands.cmd_sweep_stop)
    p = common(ssub.add_parser("resume", help="put a stopped sweep back in the queue (stopped trials resume first)"))
    p.add_argument("sweep")
    p.set_defaults(func=commands.cmd_sweep_resume)
    p = common(ssub.add_parser("extend", help="add trials to a sweep (and queue it again)"))
    p.add_argument("sweep")
    p.add_argument("--trials", type=int, required=True, metavar="N", dest="more_trials", help="trials to add")
    p.set_defaults(func=commands.cmd_sweep_extend)

    e = common(sub.add_parser("eval", help="evaluate a run's model on a data set"))
    e.add_argument("run")
    e.add_argument("--data", required=True)
    e.add_argument("--text-column")
    e.add_argument("--label-column")
    e.add_argument("--batch-size", type=int, default=64)
    e.set_defaults(func=commands.cmd_eval)

    c = common(sub.add_parser("compare", help="compare runs side by side, with significance tests"), json_flag=False)
    c.add_argument("runs", nargs="+", metavar="RUN", help="two or more runs (id, id prefix or name); the first is the baseline A")
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the whole comparison as JSON")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown report (for a pull request)")
    c.add_argument("--align", choices=("step", "epoch"), default="step", help="x axis of the curves (default: step)")
    c.add_argument("--out", metavar="FILE", help="write the output to FILE instead of the terminal")
    c.add_argument("--top", type=int, default=10, metavar="N", help="disagreements to show (default: 10; --json has all)")
    c.add_argument("--class", dest="gold", metavar="LABEL", help="only disagreements whose gold label is LABEL")
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    c.set_defaults(func=commands.cmd_compare)

    d = sub.add_parser("datasets", help="inspect data sets")
    dsub = d.add_subparsers(dest="datasets_command", required=True)
    p = common(dsub.add_parser("inspect", help="rows, columns, labels, token lengths and health warnings"))
    p.add_argument("path")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--model", default="default", help="tokenizer for token-length statistics")
    p.add_argument("--max-length", type=int, default=None, help="default: the task's (128; 384 for question answering)")
    p.add_argument("--no-tokenizer", action="store_true", help="skip token-length statistics")
    p.add_argument("--strict", action="store_true",
                   help="refuse the data if any row cannot be used, as `train --strict` would (default: rows that "
                        "cannot be used are skipped and named while they are at most 1%% of a split)")
    p.set_defaults(func=commands.cmd_datasets_inspect)

    x = common(sub.add_parser("export", help="export a run's model to ONNX (optionally int8), validated on real data"))
    x.add_argument("run", help="run id, id prefix or name")
    x.add_argument("--int8", action="store_true", help="also write model.int8.onnx (dynamic int8 quantisation)")
    x.add_argument("--opset", type=int, default=17, metavar="N", help="ONNX opset (default: 17)")
    x.add_argument("--out", metavar="DIR", help="export directory (default: <workspace>/exports/<run name>)")
    x.add_argument("--force", action="store_true", help="replace an existing export directory")
    x.add_argument("--data", metavar="PATH", help="validate on this labelled data instead of the run's eval split")
    x.add_argument("--max-int8-drop", type=float, default=None, metavar="POINTS",
                   help="fail if int8 accuracy (NER: entity F1; QA: F1) falls more than POINTS below PyTorch (default: 1.0); "
                        "for a causal LM, the allowed rise of perplexity in percent (default: 5)")
    x.set_defaults(func=commands.cmd_export)

    p = common(sub.add_parser("predict", help="classify or tag texts, answer questions about a passage, or generate from a causal-LM export (onnxruntime only, no torch)"))
    p.add_argument("export_dir", metavar="EXPORT_DIR", help="export directory (or its name under <workspace>/exports)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--file", metavar="F", help="a .csv/.tsv/.jsonl/.txt file, streamed in batches (--json: JSON lines)")
    p.add_argument("--text-column", metavar="C", help="the text column of a CSV/JSONL file (question answering: the question column)")
    p.add_argument("--question", action="append", metavar="Q", help="question answering: a question about the passage (repeatable)")
    p.add_argument("--context", metavar="TEXT", help="question answering: the passage the answer is looked for in")
    p.add_argument("--context-file", metavar="F", help="question answering: a UTF-8 text file holding the passage")
    p.add_argument("--context-column", metavar="C", help="question answering: the passage column of --file")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="texts per batch (default: 32)")
    p.add_argument("--int8", action="store_true", help="use model.int8.onnx instead of model.onnx")
    p.add_argument("--max-new-tokens", type=int, default=128, metavar="N", help="causal LM: tokens to generate at most (default: 128)")
    p.add_argument("--temperature", type=float, default=0.0, help="causal LM: sampling temperature; 0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0, help="causal LM: nucleus sampling mass (default: 1.0)")
    p.add_argument("--seed", type=int, default=None, help="causal LM: sampling seed")
    p.set_defaults(func=commands.cmd_predict)

    b = common(sub.add_parser("bench", help="PyTorch vs ONNX fp32 vs ONNX int8 latency and throughput on this CPU"))
    b.add_argument("export_dir", metavar="EXPORT_DIR", help="export directory (or its name under <workspace>/exports)")
    b.add_argument("--threads", type=int, metavar="N", help="threads for every engine (default: all available cores)")
    b.set_defaults(func=commands.cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argument errors
        return int(exc.code or 0)
    if not hasattr(args, "func"):
        args.func = commands.cmd_app
    try:
        return args.func(args) or 0
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

