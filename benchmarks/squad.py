"""SQuAD v1.1 extractive QA with the workbench's defaults, against a plain Hugging Face Trainer written the way
transformers' ``run_qa.py`` example does it.

Data: ../shared/datasets/squad_v1.1. Training on the 44-article train subset (11,877 questions); the best epoch
is chosen on the workbench's held-out 10% of those passages (the default with no eval data), never on the
official dev set (10,570 questions), which only scores the final models.

    python benchmarks/squad.py workbench                 # train with the defaults, score on dev (PyTorch, ONNX int8)
    python benchmarks/squad.py baseline --budget-s 1800  # run_qa-style Trainer given that wall-time budget
    python benchmarks/squad.py report                    # the side-by-side table from the saved rows

Rows are saved in ``--out`` as they finish, so the two halves can run one after the other without competing
for the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED  # noqa: E402

DATA = SHARED / "squad_v1.1"
TRAIN = DATA / "train-subset-44-articles.json"
DEV = DATA / "dev-v1.1.json"
OUT = REPO / "benchmarks" / "results" / "squad_cpu.json"
TARGET_F1 = 0.70


def load(out: Path) -> dict:
    return json.loads(out.read_text()) if out.is_file() else {"target_f1": TARGET_F1, "rows": {}}


def save(out: Path, doc: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")


def cli(*argv: str) -> tuple[dict, float]:
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "workbench", *argv, "--json"], capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        raise SystemExit(f"sft-workbench {' '.join(argv)} failed: {(proc.stderr or proc.stdout)[-1500:]}")
    return json.loads(proc.stdout[proc.stdout.index("{"):]), wall


def dev_subset(n: int, seed: int = 0) -> list[int]:
    """A seeded sample of dev question indices (all of them when ``n`` is 0)."""
    import numpy as np

    from workbench.core.datasets import read_source
    from workbench.core.tasks.question_answering.data import normalise

    total = len(normalise(read_source(DEV)["train"], split="dev", source=str(DEV))[0])
    return list(range(total)) if not n or n >= total else sorted(np.random.default_rng(seed).permutation(total)[:n].tolist())


def onnx_dev_scores(export_dir: Path, *, int8: bool) -> dict:
    """EM/F1 of an export on the whole dev set, torch-free (OnnxReader), with its wall time."""
    from workbench.core.datasets import read_source
    from workbench.core.tasks.question_answering.data import normalise
    from workbench.core.tasks.question_answering.evaluate import score_answers
    from workbench.core.tasks.question_answering.predict import OnnxReader

    df, _ = normalise(read_source(DEV)["train"], split="dev", source=str(DEV))
    reader = OnnxReader(export_dir, int8=int8)
    start = time.time()
    preds = reader.predict([{"question": q, "context": c} for q, c in zip(df["question"], df["context"])], batch_size=64)
    wall = time.time() - start
    return {**score_answers([p["answer"] for p in preds], df["answer_texts"].tolist()), "questions": len(df),
            "wall_s": round(wall, 1), "answers": [p["answer"] for p in preds]}


def cmd_workbench(args) -> int:
    import tempfile

    from workbench.core.telemetry import host_record

    doc = load(args.out)
    ws = Path(args.workspace or tempfile.mkdtemp(prefix="squad-bench-"))
    print(f"training with the defaults in {ws} …", flush=True)
    summary, train_wall = cli("--workspace", str(ws), "train", "--data", str(TRAIN), "--name", "squad-defaults")
    run_dir = Path(summary["run_dir"])
    run = json.loads((run_dir / "run.json").read_text())
    if run.get("status") != "completed":
        raise SystemExit(f"the run did not complete: {run.get('status')} {run.get('error')}")
    print("scoring on the official dev set (PyTorch)…", flush=True)
    report, eval_wall = cli("--workspace", str(ws), "eval", run_dir.name, "--data", str(DEV))
    print("exporting (fp32 + int8, validated on the held-out split)…", flush=True)
    manifest, export_wall = cli("--workspace", str(ws), "export", run_dir.name, "--int8")
    export_dir = Path(manifest["path"])
    print("scoring the int8 export on the official dev set (onnxruntime)…", flush=True)
    int8 = onnx_dev_scores(export_dir, int8=True)
    int8.pop("answers")
    train = run.get("train_summary") or {}
    per_epoch = [{"epoch": e["epoch"], "exact_match": e.get("exact_match"), "f1": e.get("f1")}
                 for e in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if e.get("kind") == "eval"]
    doc["rows"]["workbench"] = {
        "what": "sft-workbench train --data train-subset-44-articles.json (all defaults), then eval on dev-v1.1.json",
        "config": {k: run["config"].get(k) for k in ("epochs", "lr", "batch_size", "max_length", "doc_stride", "precision",
                                                      "group_by_length", "warmup_ratio", "weight_decay")},
        "precision": run.get("precision"), "attention": run.get("attention"),
        "train_windows": None, "train_questions": (run.get("data") or {}).get("train", {}).get("rows"),
        "selection_questions": (run.get("data") or {}).get("eval", {}).get("rows"),
        "selection": {"metrics": run.get("metrics"), "best": run.get("best_metric"), "per_epoch": per_epoch},
        "dev": {"exact_match": report["exact_match"], "f1": report["f1"], "questions": report["rows"], "wall_s": round(eval_wall, 1)},
        "dev_onnx_int8": int8,
        "export_validation": manifest.get("validation"),
        "train_process_wall_s": round(train_wall, 1), "train_runtime_s": train.get("train_runtime"),
        "train_samples_per_s": train.get("train_samples_per_second"),
        "export_wall_s": round(export_wall, 1), "run_dir": str(run_dir), "export_dir": str(export_dir),
    }
    doc.setdefault("hosts", {})["workbench"] = host_record()
    save(args.out, doc)
    print(json.dumps(doc["rows"]["workbench"], indent=2))
    return 0


# ------------------------------------------------------------------------------------------ the baseline
def squad_rows(path: Path, keep: set[int] | None = None) -> dict[str, list]:
    """SQuAD JSON flattened the way ``load_dataset("squad")`` gives it (id, question, context, answers)."""
    rows: dict[str, list] = {"id": [], "question": [], "context": [], "answers": []}
    k = 0
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                if keep is None or k in keep:
                    rows["id"].append(qa["id"])
                    rows["question"].append(qa["question"])
                    rows["context"].append(para["context"])
                    rows["answers"].append({"text": [a["text"] for a in qa["answers"]],
                                            "answer_start": [a["answer_start"] for a in qa["answers"]]})
                k += 1
    return rows


def write_subset(path: Path, keep: set[int], out: Path) -> None:
    """The dev questions ``keep`` (indices in file order) as a SQuAD JSON file."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    k = 0
    for article in doc["data"]:
        for para in article["paragraphs"]:
            qas = []
            for qa in para["qas"]:
                if k in keep:
                    qas.append(qa)
                k += 1
            para["qas"] = qas
        article["paragraphs"] = [p for p in article["paragraphs"] if p["qas"]]
    doc["data"] = [a for a in doc["data"] if a["paragraphs"]]
    out.write_text(json.dumps(doc), encoding="utf-8")


def baseline_process(args) -> int:
    """The run_qa.py recipe with a plain Trainer: features padded to max_seq_length (run_qa's default
    pad_to_max_length=True), default_data_collator, fp32 (no --bf16), the Trainer's own sampler; its
    postprocess_qa_predictions (n_best 20 start and end indexes per feature, max_answer_length 30); the official
    EM/F1. Same model, lr, batch size and windows as the workbench run; trained for as many steps as fit in
    ``--budget-s`` (steps/s measured on a probe first) or for ``--epochs``."""
    import collections

    import numpy as np
    from datasets import Dataset
    from transformers import (AutoModelForQuestionAnswering, AutoTokenizer, Trainer, TrainingArguments,
                              default_data_collator, set_seed)

    from workbench.core.models import resolve_model
    from workbench.core.tasks.question_answering.squad import squad_scores

    started = time.time()
    path = resolve_model("default").path
    tokenizer = AutoTokenizer.from_pretrained(path)
    max_len, stride = args.max_length, args.doc_stride
    train_raw = Dataset.from_dict(squad_rows(TRAIN))

    def prepare_train_features(examples):  # run_qa.py, unchanged in substance
        examples["question"] = [q.lstrip() for q in examples["question"]]
        tok = tokenizer(examples["question"], examples["context"], truncation="only_second", max_length=max_len,
                        stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
        sample_mapping = tok.pop("overflow_to_sample_mapping")
        offset_mapping = tok.pop("offset_mapping")
        tok["start_positions"], tok["end_positions"] = [], []
        for i, offsets in enumerate(offset_mapping):
            input_ids = tok["input_ids"][i]
            cls_index = input_ids.index(tokenizer.cls_token_id)
            sequence_ids = tok.sequence_ids(i)
            answers = examples["answers"][sample_mapping[i]]
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            token_start = 0
            while sequence_ids[token_start] != 1:
                token_start += 1
            token_end = len(input_ids) - 1
            while sequence_ids[token_end] != 1:
                token_end -= 1
            if not (offsets[token_start][0] <= start_char and offsets[token_end][1] >= end_char):
                tok["start_positions"].append(cls_index)
                tok["end_positions"].append(cls_index)
            else:
                while token_start < len(offsets) and offsets[token_start][0] <= start_char:
                    token_start += 1
                tok["start_positions"].append(token_start - 1)
                while offsets[token_end][1] >= end_char:
                    token_end -= 1
                tok["end_positions"].append(token_end + 1)
        return tok

    train_ds = train_raw.map(prepare_train_features, batched=True, remove_columns=train_raw.column_names)
    per_epoch = -(-len(train_ds) // args.batch_size)

    def trainer_for(model, max_steps: int, epochs: float) -> Trainer:
        targs = TrainingArguments(output_dir=args.scratch, per_device_train_batch_size=args.batch_size,
                                  learning_rate=args.lr, num_train_epochs=epochs, max_steps=max_steps,
                                  warmup_steps=args.warmup_ratio, weight_decay=args.weight_decay, seed=42,
                                  save_strategy="no", eval_strategy="no", logging_steps=50, report_to="none",
                                  disable_tqdm=True, use_cpu=True)
        return Trainer(model=model, args=targs, train_dataset=train_ds, data_collator=default_data_collator,
                       processing_class=tokenizer)

    set_seed(42)
    steps, probe = -1, None
    if args.budget_s:
        # Probe the step time (steps 3-10 of a throwaway model), then train as many steps as fit in what is left.
        model = AutoModelForQuestionAnswering.from_pretrained(path)
        probe_trainer = trainer_for(model, 10, 1)
        marks = []

        from transformers import TrainerCallback

        class Clock(TrainerCallback):
            def on_step_end(self, *_a, **_k):
                marks.append(time.time())

        probe_trainer.add_callback(Clock())
        probe_trainer.train()
        step_s = (marks[-1] - marks[1]) / (len(marks) - 2)
        eval_allowance = 0.0
        left = args.budget_s - (time.time() - started) - eval_allowance
        steps = max(1, int(left / step_s))
        probe = {"step_s": round(step_s, 3), "steps_fitting_budget": steps, "steps_per_epoch": per_epoch,
                 "epochs_fitting_budget": round(steps / per_epoch, 3)}
        print(f"probe: {step_s:.2f} s/step → {steps} steps ({steps / per_epoch:.2f} epochs) fit the budget", flush=True)
        del model, probe_trainer
        set_seed(42)
    model = AutoModelForQuestionAnswering.from_pretrained(path)
    trainer = trainer_for(model, steps, args.epochs)
    t0 = time.time()
    out = trainer.train()
    train_s = time.time() - t0
    train_wall = time.time() - started

    # Evaluation as run_qa.py does it: validation features padded to max_length, trainer.predict, post-processing.
    keep = set(json.loads(args.dev_subset)) if args.dev_subset else None
    dev_raw = Dataset.from_dict(squad_rows(DEV, keep))

    def prepare_validation_features(examples):
        examples["question"] = [q.lstrip() for q in examples["question"]]
        tok = tokenizer(examples["question"], examples["context"], truncation="only_second", max_length=max_len,
                        stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
        sample_mapping = tok.pop("overflow_to_sample_mapping")
        tok["example_id"] = []
        for i in range(len(tok["input_ids"])):
            sequence_ids = tok.sequence_ids(i)
            tok["example_id"].append(examples["id"][sample_mapping[i]])
            tok["offset_mapping"][i] = [o if sequence_ids[k] == 1 else None for k, o in enumerate(tok["offset_mapping"][i])]
        return tok

    dev_features = dev_raw.map(prepare_validation_features, batched=True, remove_columns=dev_raw.column_names)
    t0 = time.time()
    predictions = trainer.predict(dev_features.remove_columns(["example_id", "offset_mapping"]))
    start_logits, end_logits = predictions.predictions[:2]
    features_per_example = collections.defaultdict(list)
    for i, example_id in enumerate(dev_features["example_id"]):
        features_per_example[example_id].append(i)
    answers = []
    offsets_all = dev_features["offset_mapping"]
    for example in dev_raw:
        best, best_score = "", -1e9
        for fi in features_per_example[example["id"]]:
            s_idx = np.argsort(start_logits[fi])[-1:-21:-1]
            e_idx = np.argsort(end_logits[fi])[-1:-21:-1]
            offsets = offsets_all[fi]
            for si in s_idx:
                for ei in e_idx:
                    if si >= len(offsets) or ei >= len(offsets) or offsets[si] is None or offsets[ei] is None:
                        continue
                    if ei < si or ei - si + 1 > 30:
                        continue
                    score = start_logits[fi][si] + end_logits[fi][ei]
                    if score > best_score:
                        best_score, best = score, example["context"][offsets[si][0]:offsets[ei][1]]
        answers.append(best)
    eval_s = time.time() - t0
    scores = squad_scores(answers, [a["text"] for a in dev_raw["answers"]])
    result = {"train_windows": len(train_ds), "steps": out.global_step, "epochs": round(out.global_step / per_epoch, 3),
              "probe": probe, "train_runtime_s": round(train_s, 1), "train_samples_per_s": round(out.global_step * args.batch_size / train_s, 2),
              "train_process_wall_s": round(train_wall, 1), "dev_eval_s": round(eval_s, 1),
              "dev": {"exact_match": scores["exact_match"] / 100, "f1": scores["f1"] / 100, "questions": len(answers),
                      "windows": len(dev_features)}}
    Path(args.result).write_text(json.dumps(result))
    return 0


def cmd_baseline(args) -> int:
    import tempfile

    from workbench.core.telemetry import host_record

    doc = load(args.out)
    wb = doc["rows"].get("workbench")
    if wb is None:
        raise SystemExit("run `python benchmarks/squad.py workbench` first: the baseline gets its settings and budget.")
    cfg = wb["config"]
    budget = args.budget_s if args.budget_s is not None else wb["train_process_wall_s"]
    keep = dev_subset(args.dev_questions, seed=0)
    with tempfile.TemporaryDirectory(prefix="squad-baseline-") as scratch:
        result = Path(scratch) / "result.json"
        cmd = [sys.executable, __file__, "_baseline-process", "--scratch", scratch, "--result", str(result),
               "--lr", str(cfg["lr"]), "--batch-size", str(cfg["batch_size"]), "--max-length", str(cfg["max_length"]),
               "--doc-stride", str(cfg["doc_stride"]), "--warmup-ratio", str(cfg["warmup_ratio"]),
               "--weight-decay", str(cfg["weight_decay"]), "--epochs", str(cfg["epochs"]),
               "--budget-s", str(budget), "--dev-subset", json.dumps(keep)]
        start = time.time()
        subprocess.run(cmd, check=True)
        wall = time.time() - start
        row = json.loads(result.read_text())
        # The workbench run scored on the same dev questions (sft-workbench eval on a subset file).
        subset_file = Path(scratch) / "dev-subset.json"
        write_subset(DEV, set(keep), subset_file)
        report, eval_wall = cli("--workspace", str(Path(wb["run_dir"]).parents[1]), "eval", Path(wb["run_dir"]).name,
                                "--data", str(subset_file))
    row.update(what="plain transformers Trainer, the run_qa.py recipe (pad to max_length, fp32, default collator and "
                    "sampler, run_qa post-processing), given the workbench run's wall time as its budget",
               budget_s=round(budget, 1), process_wall_s=round(wall, 1),
               config={k: cfg[k] for k in ("lr", "batch_size", "max_length", "doc_stride", "warmup_ratio", "weight_decay")})
    doc["rows"]["baseline"] = row
    wb["dev_subset"] = {"exact_match": report["exact_match"], "f1": report["f1"], "questions": report["rows"],
                        "wall_s": round(eval_wall, 1)}
    doc["dev_subset"] = {"questions": len(keep), "how": f"a seeded random sample (numpy default_rng(0)) of the {len(keep)} "
                                                      "dev questions both systems are scored on; the workbench also on all of dev"}
    doc.setdefault("hosts", {})["baseline"] = host_record()
    save(args.out, doc)
    print(json.dumps(row, indent=2))
    return 0


def cmd_checkpoint(args) -> int:
    """Score the workbench run's checkpoint at ``--step`` (a copy kept before rotation removed it) on the dev
    subset, with the wall time the training process had taken to write it: the workbench at the baseline's budget."""
    import datetime as dt

    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from workbench.core.datasets import read_source
    from workbench.core.tasks.question_answering.data import normalise
    from workbench.core.tasks.question_answering.evaluate import predict_spans, score_answers
    from workbench.core.tasks.question_answering.train import WindowSettings

    doc = load(args.out)
    wb = doc["rows"]["workbench"]
    run_dir = Path(wb["run_dir"])
    run = json.loads((run_dir / "run.json").read_text())
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    saved = next(e for e in events if e.get("kind") == "checkpoint" and e.get("step") == args.step)
    parse = lambda t: dt.datetime.fromisoformat(t).timestamp()
    # The process started before the run was created (data checks): that lead is the whole-process wall time
    # minus the run's own created → finished span.
    lead = wb["train_process_wall_s"] - (parse(run["finished"]) - parse(run["created"]))
    at_s = saved["time"] - parse(run["created"]) + lead
    keep = set(dev_subset(args.dev_questions, seed=0))
    df, _ = normalise(read_source(DEV)["train"], split="dev", source=str(DEV))
    df = df.iloc[sorted(keep)]
    torch.set_num_threads(os.cpu_count() or 1)
    model = AutoModelForQuestionAnswering.from_pretrained(args.checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "model")
    spans = predict_spans(model, tokenizer, df["question"].tolist(), df["context"].tolist(),
                          WindowSettings.of_run(run["config"]), batch_size=64)
    scores = score_answers([s["text"] for s in spans], df["answer_texts"].tolist())
    wb[f"checkpoint_{args.step}"] = {"epoch": saved.get("epoch"), "process_wall_s_when_saved": round(at_s, 1),
                                     "dev_subset": {**scores, "questions": len(df)}}
    save(args.out, doc)
    print(json.dumps(wb[f"checkpoint_{args.step}"], indent=2))
    return 0


def cmd_report(args) -> int:
    """The side-by-side table of the saved rows (Markdown)."""
    doc = load(args.out)
    wb, base = doc["rows"].get("workbench"), doc["rows"].get("baseline")
    pct = lambda v: "—" if v is None else f"{100 * v:.2f}"
    print("| system | trained | wall time (train process) | samples/s | dev-subset EM / F1 | dev EM / F1 |")
    print("|---|---|---|---|---|---|")
    if wb:
        cfg = wb["config"]
        for key, ck in sorted((k, v) for k, v in wb.items() if k.startswith("checkpoint_")):
            print(f"| workbench, its epoch-{ck['epoch']:.0f} checkpoint | {ck['epoch']:.2f} epochs | "
                  f"{ck['process_wall_s_when_saved']:,.0f} s (when saved) | {wb['train_samples_per_s']} | "
                  f"{pct(ck['dev_subset']['exact_match'])} / {pct(ck['dev_subset']['f1'])} | — |")
        sub = wb.get("dev_subset") or {}
        print(f"| workbench defaults ({cfg['epochs']:g} epochs, lr {cfg['lr']:g}, {wb['precision']}) | {cfg['epochs']:g} epochs | "
              f"{wb['train_process_wall_s']:,.0f} s | {wb['train_samples_per_s']} | {pct(sub.get('exact_match'))} / "
              f"{pct(sub.get('f1'))} | {pct(wb['dev']['exact_match'])} / {pct(wb['dev']['f1'])} |")
        q = wb.get("dev_onnx_int8") or {}
        print(f"| … its ONNX int8 export | | | | | {pct(q.get('exact_match'))} / {pct(q.get('f1'))} |")
    if base:
        print(f"| run_qa.py-style Trainer (fp32, padded to {base['config']['max_length']}) | {base['epochs']:.2f} epochs "
              f"({base['steps']} steps) | {base['train_process_wall_s']:,.0f} s | {base['train_samples_per_s']} | "
              f"{pct(base['dev']['exact_match'])} / {pct(base['dev']['f1'])} | — |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("workbench")
    w.add_argument("--workspace")
    w.set_defaults(func=cmd_workbench)
    b = sub.add_parser("baseline")
    b.add_argument("--budget-s", type=float, default=None, help="default: the workbench run's whole-process train time")
    b.add_argument("--dev-questions", type=int, default=2000, help="dev questions both are scored on (0: all)")
    b.set_defaults(func=cmd_baseline)
    c = sub.add_parser("checkpoint")
    c.add_argument("checkpoint", help="a copy of the run's checkpoint directory")
    c.add_argument("--step", type=int, required=True)
    c.add_argument("--dev-questions", type=int, default=2000, help="the dev subset (as `baseline` uses)")
    c.set_defaults(func=cmd_checkpoint)
    r = sub.add_parser("report")
    r.set_defaults(func=cmd_report)
    for p in (w, b, c, r):
        p.add_argument("--out", type=Path, default=OUT)
    bp = sub.add_parser("_baseline-process")
    for name, kind in (("--scratch", str), ("--result", str), ("--lr", float), ("--batch-size", int), ("--max-length", int),
                       ("--doc-stride", int), ("--warmup-ratio", float), ("--weight-decay", float), ("--epochs", float),
                       ("--budget-s", float), ("--dev-subset", str)):
        bp.add_argument(name, type=kind)
    bp.set_defaults(func=baseline_process)
    args = parser.parse_args()
    if not TRAIN.is_file():
        print(f"skipped: {DATA} not found (the shared data sets are not on this machine)")
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
