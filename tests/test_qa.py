"""Extractive question answering: loaders and bad rows, windows and offsets, the official EM/F1, the span
search, training through the CLI, eval, export parity, torch-free predict and compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import QA_TRAIN_FLAGS as TRAIN_FLAGS, REPO, SAMPLE_DATA, SHARED_DATASETS
from workbench.core.datasets import read_source
from workbench.core.errors import WorkbenchError
from workbench.core.tasks import infer_task, load_for_training
from workbench.core.tasks.question_answering import data as qa_data, squad


QA = SAMPLE_DATA / "qa"


def squad_file(path, paragraphs, title="T"):
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": title, "paragraphs": paragraphs}]}), encoding="utf-8")
    return path


def para(context, *qas):
    return {"context": context, "qas": [{"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": s}]}
                                        for i, (q, a, s) in enumerate(qas)]}


@pytest.fixture(scope="session")
def window_tokenizer():
    from transformers import AutoTokenizer

    from workbench.core.models import embedded_model_dir

    return AutoTokenizer.from_pretrained(str(embedded_model_dir()))


# ------------------------------------------------------------------------------------------ loaders
def test_squad_json_with_several_gold_answers_is_recognised_and_normalised():
    raw = read_source(QA / "dev.json")
    assert infer_task(list(raw["train"].columns)) == "question-answering"
    df, skipped = qa_data.normalise(raw["train"], split="dev", source="dev.json")
    assert skipped is None and len(df) == 12 and df["title"].tolist()[0] == "Bridges"
    several = df[df["answer_texts"].map(len) > 1]
    assert len(several) == 2
    for _, row in df.iterrows():  # every gold answer sits at its offset
        for text, start in zip(row["answer_texts"], row["answer_starts"]):
            assert row["context"][start:start + len(text)] == text


def test_a_folder_of_squad_files_gives_train_and_dev_splits():
    data = load_for_training(str(QA))
    assert data.schema.task == "question-answering" and data.eval_split_origin == "file"
    assert len(data.train) == 36 and len(data.eval) == 12
    assert set(data.train.column_names) == set(qa_data.COLUMNS)


def test_flat_rows_in_jsonl_csv_and_parquet(tmp_path):
    import pandas as pd

    context = "Faust is a tragic play by Goethe, published in 1808."
    rows = [{"question": "Who wrote Faust?", "context": context, "answers": {"text": ["Goethe"], "answer_start": [26]}},
            {"question": "When was it published?", "context": context, "answers": {"text": ["1808"], "answer_start": [47]}}]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pd.DataFrame(rows).to_parquet(tmp_path / "rows.parquet")
    pd.DataFrame({"question": [r["question"] for r in rows], "context": [context] * 2,
                  "answer": ["Goethe", "1808"], "answer_start": ["26", "47"]}).to_csv(tmp_path / "rows.csv", index=False)
    for name in ("rows.jsonl", "rows.parquet", "rows.csv"):
        raw = read_source(tmp_path / name)["train"]
        assert infer_task(list(raw.columns)) == "question-answering", name
        df, _ = qa_data.normalise(raw, split="train", source=name)
        assert df["answer_texts"].tolist() == [["Goethe"], ["1808"]] and df["answer_starts"].tolist() == [[26], [47]], name


def test_the_dev_split_holds_out_whole_passages(tmp_path):
    paragraphs = []
    for i in range(30):
        context = f"Passage {i} says the answer is word{i} today."
        paragraphs.append({"context": context, "qas": [
            {"id": f"{i}a", "question": f"What is {i}?", "answers": [{"text": f"word{i}", "answer_start": context.index(f"word{i}")}]},
            {"id": f"{i}b", "question": "Which passage?", "answers": [{"text": "Passage", "answer_start": 0}]}]})
    data = load_for_training(str(squad_file(tmp_path / "train.json", paragraphs)), dev_fraction=0.2)
    assert data.eval_split_origin == "held-out from train"
    assert set(data.train["context"]).isdisjoint(data.eval["context"])
    assert len(data.eval) == 12 and len(data.train) == 48  # 6 of 30 passages, with both their questions


@pytest.mark.parametrize("mutate, message", [
    (lambda qa, p: qa["answers"][0].update(answer_start=3), r"question q0 \(article 1, paragraph 1\): the answer 'Goethe' is not at offset 3"),
    (lambda qa, p: qa.update(question="  "), r"question q0 .*: the question is empty"),
    (lambda qa, p: p.update(context=""), r"the passage \(context\) is empty"),
    (lambda qa, p: qa.update(is_impossible=True, answers=[]), r"unanswerable question\(s\) \(SQuAD 2.0 style"),
])
def test_bad_rows_are_one_clear_error_naming_the_row(tmp_path, cli, mutate, message):
    p = para("Faust is a tragic play by Goethe.", ("Who wrote Faust?", "Goethe", 26))
    mutate(p["qas"][0], p)
    path = squad_file(tmp_path / "train.json", [p, para("Another passage here.", ("What is here?", "passage", 8))])
    with pytest.raises(WorkbenchError, match=message):
        load_for_training(str(path))
    code, out, err = cli("train", "--data", str(path), "--max-steps", "1")
    assert code != 0 and err.startswith("error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_context_column_and_missing_answers(tmp_path, cli):
    (tmp_path / "q.csv").write_text("question,text\nWho?,Someone\n", encoding="utf-8")
    with pytest.raises(WorkbenchError, match="has no context column"):
        qa_data.normalise(read_source(tmp_path / "q.csv")["train"], split="train", source="q.csv")
    (tmp_path / "n.csv").write_text("question,context\nWho?,Someone did it\n", encoding="utf-8")
    code, _, err = cli("train", "--data", str(tmp_path / "n.csv"), "--task", "question-answering", "--max-steps", "1")
    assert code != 0 and "has no answers" in err and len(err.strip().splitlines()) == 1


def test_a_few_unusable_rows_in_a_large_file_are_skipped_and_counted(tmp_path):
    context = "The quick brown fox jumps over the lazy dog."
    qas = [("What jumps?", "fox", 16)] * 999 + [("What jumps?", "cat", 16)]
    paragraphs = [{"context": context, "qas": [{"id": str(i), "question": q, "answers": [{"text": a, "answer_start": s}]}
                                               for i, (q, a, s) in enumerate(qas)]}]
    df, skipped = qa_data.normalise(pd_frame(squad_file(tmp_path / "big.json", paragraphs)), split="train", source="big.json")
    assert skipped.count == 1 and skipped.rows == ["question 999 (article 1, paragraph 1)"] and len(df) == 999
    many = [{"context": context, "qas": [{"id": str(i), "question": "What jumps?",
                                          "answers": [{"text": "cat" if i % 50 == 0 else "fox", "answer_start": 16}]}
                                         for i in range(1000)]}]
    # 2% is more than the 1% of a split that the shared rule skips (datasets.BadRows; tests/test_bad_rows.py).
    with pytest.raises(WorkbenchError, match=r"20 of 1,000 questions in train cannot be used \(question 0 .*; and 15 more\)"):
        qa_data.normalise(pd_frame(squad_file(tmp_path / "bad.json", many)), split="train", source="bad.json")


def pd_frame(path):
    return read_source(path)["train"]


def test_inspect_reports_questions_passages_and_windows(cli, tmp_path):
    code, out, err = cli("datasets", "inspect", str(QA), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["task"] == "question-answering" and report["max_length"] == 384 and report["doc_stride"] == 128
    dev = report["splits"]["dev"]
    assert dev["questions"] == 12 and dev["passages"] == 3 and dev["answers_per_question"] == {"1": 10, "2": 2}
    assert dev["windows"] == 12 and dev["multi_window"] == 0 and sum(dev["label_counts"].values()) == 12
    code, out, _ = cli("datasets", "inspect", str(QA), "--max-length", "48", "--json")
    dev = json.loads(out)["splits"]["dev"]
    assert dev["multi_window"] > 0 and dev["windows"] > 12
    assert any("need more than one window at max_length 48" in w for w in json.loads(out)["warnings"])


# ------------------------------------------------------------------------------------------ windows and offsets
def test_windows_match_transformers_overflow_and_map_offsets_into_the_passage(window_tokenizer):
    context = " ".join(f"word{i}" for i in range(120))
    tok = squad.window_tokenizer(window_tokenizer, max_length=48, stride=12)
    windows = squad.make_windows(tok, ["Which word?"], [context])
    enc = window_tokenizer(["Which word?"], [context], truncation="only_second", max_length=48, stride=12,
                           return_overflowing_tokens=True)
    assert windows.input_ids == enc["input_ids"] and windows.per_example == [len(enc["input_ids"])] and len(windows) > 3
    for offsets in windows.offsets:  # passage tokens only, pointing into the passage
        spans = [o for o in offsets if o is not None]
        assert spans and all(context[a:b] and not context[a:b].isspace() for a, b in spans)
        assert offsets[0] is None  # [CLS]


def test_an_answer_split_across_two_windows_is_labelled_only_where_it_is_whole(window_tokenizer):
    context = " ".join(f"w{i}" for i in range(60))
    tok = squad.window_tokenizer(window_tokenizer, max_length=32, stride=8)
    windows = squad.make_windows(tok, ["Where?"], [context])
    # An answer of tokens that straddle the end of the first window's passage part.
    first = [o for o in windows.offsets[0] if o is not None]
    start_char, end_char = first[-2][0], windows.offsets[1][[k for k, o in enumerate(windows.offsets[1]) if o is not None][0] + 8][1]
    assert end_char > first[-1][1]  # really beyond the first window
    positions = [squad.answer_positions(o, start_char, end_char) for o in windows.offsets]
    assert positions[0] == (0, 0)  # cut off in window 0: labelled [CLS]
    s, e = positions[1]
    assert s > 0 and context[windows.offsets[1][s][0]:windows.offsets[1][e][1]] == context[start_char:end_char]


def test_an_answer_at_the_very_end_of_the_passage(window_tokenizer):
    context = "The bridge was designed by Clara Voss"
    tok = squad.window_tokenizer(window_tokenizer, max_length=64, stride=16)
    windows = squad.make_windows(tok, ["Who designed it?"], [context])
    start = context.index("Clara Voss")
    s, e = squad.answer_positions(windows.offsets[0], start, len(context))
    assert context[windows.offsets[0][s][0]:windows.offsets[0][e][1]] == "Clara Voss"
    # The span search finds it when the logits point there, and not the [SEP] after it.
    n = len(windows.input_ids[0])
    start_logits, end_logits = np.full(n, -5.0), np.full(n, -5.0)
    start_logits[s], end_logits[e], end_logits[n - 1] = 5.0, 5.0, 9.0
    best = squad.best_spans([start_logits], [end_logits], windows, [context])[0]
    assert best["text"] == "Clara Voss" and (best["start"], best["end"]) == (start, len(context))


def test_long_questions_are_cut_so_the_passage_keeps_its_room(window_tokenizer):
    question = " ".join(["why"] * 200)
    tok = squad.window_tokenizer(window_tokenizer, max_length=64, stride=16)
    windows = squad.make_windows(tok, [question], ["a short passage about nothing"])
    assert windows.questions_cut == 1 and max(len(ids) for ids in windows.input_ids) <= 64
    assert squad.check_window_settings(64, 60) and squad.check_window_settings(384, 128) is None


# ------------------------------------------------------------------------------------------ scores and spans
@pytest.mark.parametrize("prediction, gold, em, f1", [
    ("The Denver Broncos", "Denver Broncos", 1.0, 1.0),          # articles dropped
    ("denver broncos!", "Denver Broncos", 1.0, 1.0),             # case and punctuation
    ("Broncos", "Denver Broncos", 0.0, 2 / 3),                   # P 1, R 1/2
    ("the Denver Broncos won", "Denver Broncos", 0.0, 0.8),      # P 2/3, R 1
    ("Carolina Panthers", "Denver Broncos", 0.0, 0.0),
    ("", "Denver Broncos", 0.0, 0.0),
    ("a", "an", 1.0, 0.0),                                       # both normalise to nothing: EM 1, F1 0 (official)
])
def test_official_squad_normalisation_em_and_f1(prediction, gold, em, f1):
    assert squad.exact_match(prediction, gold) == em
    assert squad.f1(prediction, gold) == pytest.approx(f1)


def test_best_over_several_golds_and_corpus_scores():
    assert squad.best_over_golds("Broncos", ["Denver Broncos", "Broncos"]) == (1.0, 1.0)
    scores = squad.squad_scores(["Broncos", "x"], [["Denver Broncos"], ["x", "y"]])
    assert scores == {"exact_match": pytest.approx(50.0), "f1": pytest.approx(100 * (2 / 3 + 1) / 2)}


def test_span_search_respects_the_maximum_answer_length_and_compares_windows(window_tokenizer):
    context = " ".join(f"t{i}" for i in range(80))
    tok = squad.window_tokenizer(window_tokenizer, max_length=40, stride=10)
    windows = squad.make_windows(tok, ["q?"], [context])
    logits = lambda: [np.full(len(ids), -3.0) for ids in windows.input_ids]
    starts, ends = logits(), logits()
    inside = lambda w: [k for k, o in enumerate(windows.offsets[w]) if o is not None]
    a, b = inside(0)[0], inside(0)[-1]
    starts[0][a], ends[0][b] = 8.0, 8.0             # a long span (more tokens than the limit)
    w = len(windows) - 1
    c = inside(w)[2]
    starts[w][c], ends[w][c + 1] = 4.0, 4.0           # a short one in the last window
    best = squad.best_spans(starts, ends, windows, [context], max_answer_tokens=b - a)[0]
    assert best["start"] == windows.offsets[w][c][0]  # the long span is over the limit
    loose = squad.best_spans(starts, ends, windows, [context], max_answer_tokens=b - a + 1)[0]
    assert loose["start"] == windows.offsets[0][a][0] and loose["score"] > best["score"] - 1
    assert 0 < best["score"] <= 1 and best["n_best"][0]["text"] == best["text"]
    assert abs(sum(c["score"] for c in best["n_best"]) - 1) < 1e-6


# ------------------------------------------------------------------------------------------ training end to end
def test_training_records_em_f1_and_per_question_predictions(qa_trained):
    from workbench.core.runs import RunStore

    ws, code = qa_trained
    assert code == 0
    run = RunStore(ws).get("qa-tiny")
    assert run.status == "completed" and run.task == "question-answering"
    assert set(run.metrics) >= {"exact_match", "f1", "eval_loss"} and 0 <= run.metrics["f1"] <= 1
    assert run.config["max_length"] == 64 and run.config["doc_stride"] == 16
    records = run.read_predictions()
    assert len(records) == 12 and {"id", "question", "golds", "predicted", "score", "exact_match", "f1"} <= set(records[0])
    assert np.mean([r["f1"] for r in records]) == pytest.approx(run.metrics["f1"])
    assert np.mean([r["exact_match"] for r in records]) == pytest.approx(run.metrics["exact_match"])
    evals = [e for e in run.read_metrics() if e.get("kind") == "eval"]
    assert evals and all("f1" in e and "exact_match" in e for e in evals)


def test_eval_scores_another_file_with_the_same_figures(qa_trained, cli):
    from workbench.core.runs import RunStore

    ws, _ = qa_trained
    code, out, err = cli("--workspace", str(ws), "eval", "qa-tiny", "--data", str(QA / "dev.json"), "--json")
    assert code == 0, err
    report = json.loads(out)
    run = RunStore(ws).get("qa-tiny")
    assert report["rows"] == 12 and report["f1"] == pytest.approx(run.metrics["f1"])
    code, out, _ = cli("--workspace", str(ws), "eval", "qa-tiny", "--data", str(QA / "dev.json"))
    assert code == 0 and "SQuAD scale" in " ".join(out.split())


def test_the_defaults_are_the_bert_squad_recipe():
    from workbench.core.config import RunConfig
    from workbench.core.tasks import apply_task_defaults

    cfg = apply_task_defaults(RunConfig(data="x"), "question-answering")
    assert (cfg.max_length, cfg.doc_stride) == (384, 128)
    assert apply_task_defaults(RunConfig(data="x"), "text-classification").max_length == 128
    assert apply_task_defaults(RunConfig(data="x", max_length=256), "question-answering").max_length == 256


def test_a_stride_too_large_for_the_windows_is_refused_before_a_run_exists(cli, workspace):
    code, _, err = cli("train", "--data", str(QA), "--max-length", "64", "--doc-stride", "60", "--max-steps", "1")
    assert code != 0 and "doc_stride 60 is too large for max_length 64" in err
    assert not list((workspace / "runs").glob("*")) if (workspace / "runs").exists() else True


# ------------------------------------------------------------------------------------------ export and predict
@pytest.fixture(scope="module")
def qa_export(qa_trained):
    from workbench.cli import main

    ws, code = qa_trained
    assert code == 0
    export_dir = ws / "exports" / "qa-tiny"
    if not export_dir.exists():
        assert main(["--workspace", str(ws), "export", "qa-tiny", "--int8", "--max-int8-drop", "100", "--json"]) == 0
    return ws, export_dir


def test_export_has_start_end_logits_validated_against_pytorch(qa_export):
    from workbench.core.runs import RunStore

    ws, export_dir = qa_export
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["task"] == "question-answering" and manifest["labels"] == []
    assert [o["name"] for o in manifest["outputs"]] == ["start_logits", "end_logits"]
    assert all(o["shape"] == ["batch", "sequence"] for o in manifest["outputs"])
    engines = {e["engine"]: e for e in manifest["validation"]["engines"]}
    assert engines["onnx-fp32"]["max_abs_logit_diff"] <= 1e-4 and engines["onnx-fp32"]["answer_agreement"] == 1.0
    assert engines["onnx-fp32"]["f1"] == pytest.approx(engines["pytorch"]["f1"])
    # PyTorch's figure here is the run's own: same model, same windows, same span search.
    assert engines["pytorch"]["f1"] == pytest.approx(RunStore(ws).get("qa-tiny").metrics["f1"])
    assert "onnx-int8" in engines and manifest["decoding"]["doc_stride"] == 16
    assert "extractive question answering" in (export_dir / "README.md").read_text()


def test_predict_answers_a_question_about_a_passage_file(qa_export, cli, tmp_path):
    ws, export_dir = qa_export
    passage = tmp_path / "passage.txt"
    passage.write_text("The Tamsin Bridge was designed by Clara Voss and opened in 1998.", encoding="utf-8")
    code, out, err = cli("predict", str(export_dir), "--question", "Who designed it?", "--question", "When?",
                         "--context-file", str(passage), "--json")
    assert code == 0, err
    preds = json.loads(out)
    text = passage.read_text()
    assert [p["question"] for p in preds] == ["Who designed it?", "When?"]
    for p in preds:
        assert text[p["start"]:p["end"]] == p["answer"] and p["answer"] and 0 < p["score"] <= 1
    # The same answers as the run's PyTorch model gives (the Playground's reader).
    from workbench.core.runs import RunStore
    from workbench.core.tasks import get_task

    reader = get_task("question-answering").open_run_predictor(RunStore(ws).get("qa-tiny"))
    torch_preds = reader.predict([{"question": p["question"], "context": text} for p in preds])
    assert [p["answer"] for p in torch_preds] == [p["answer"] for p in preds]


def test_predict_file_with_question_and_context_columns(qa_export, cli, tmp_path):
    ws, export_dir = qa_export
    rows = tmp_path / "q.jsonl"
    rows.write_text(json.dumps({"question": "Who?", "context": "Clara Voss designed it."}) + "\n"
                    + json.dumps({"question": "What?", "context": "A bridge."}) + "\n", encoding="utf-8")
    code, out, err = cli("predict", str(export_dir), "--file", str(rows))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "row\tanswer\tscore\tquestion" and len(lines) == 3 and lines[1].endswith("\tWho?")
    code, out, _ = cli("predict", str(export_dir), "--file", str(rows), "--json")
    assert [json.loads(line)["row"] for line in out.strip().splitlines()] == [1, 2]


@pytest.mark.parametrize("argv, message", [
    (["--question", "", "--context", "some passage"], "question 1 is empty"),
    (["--question", "Who?", "--context", "  "], "the passage of question 1 is empty"),
    (["--question", "Who?"], "a question needs a passage"),
    (["some text"], "nothing to answer"),
    (["--question", "Who?", "--context-file", "/nonexistent/p.txt"], "context file not found"),
])
def test_predict_bad_inputs_are_one_error_line(qa_export, cli, argv, message):
    _, export_dir = qa_export
    code, out, err = cli("predict", str(export_dir), *argv)
    assert code != 0 and message in err and err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_predict_is_torch_free(qa_export):
    _, export_dir = qa_export
    code = f"""
import json, sys
from workbench.core.inference import open_predictor
reader = open_predictor({str(export_dir)!r}, int8=True)
preds = reader.predict([{{"question": "Who designed it?", "context": "Clara Voss designed the bridge."}}])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "datasets", "sklearn", "seqeval"))
print(json.dumps({{"heavy": heavy, "answer": preds[0]["answer"]}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and isinstance(result["answer"], str)


def test_a_question_flag_on_a_classifier_export_is_refused(tmp_path, cli):
    export = tmp_path / "clf"
    export.mkdir()
    (export / "manifest.json").write_text(json.dumps({"task": "text-classification", "labels": ["a", "b"]}))
    code, _, err = cli("predict", str(export), "--question", "Who?", "--context", "x")
    assert code != 0 and "are for question-answering exports" in err


# ------------------------------------------------------------------------------------------ compare
def test_compare_pairs_two_qa_runs_on_per_question_f1(qa_trained, tiny_model_dir, capsys):
    from workbench.cli import main
    from workbench.core.compare import compare_runs
    from workbench.core.runs import RunStore

    ws, _ = qa_trained
    assert main(["--workspace", str(ws), "train", "--data", str(QA), "--model", str(tiny_model_dir), *TRAIN_FLAGS[:-6],
                 "--max-steps", "8", "--name", "qa-short", "--json"]) == 0
    capsys.readouterr()
    store = RunStore(ws)
    comparison = compare_runs([store.get("qa-tiny"), store.get("qa-short")], n_boot=500)
    test = comparison.pairs[0]
    assert test.refused is None and test.measure == "qa_f1" and test.n == 12
    a, b = (store.get(n).metrics for n in ("qa-tiny", "qa-short"))
    assert test.f1_a == pytest.approx(a["f1"], rel=1e-5) and test.f1_b == pytest.approx(b["f1"], rel=1e-5)
    assert test.diff_pt == pytest.approx(100 * (b["f1"] - a["f1"]), abs=1e-3) and test.ci_low_pt <= test.diff_pt <= test.ci_high_pt
    assert 0 < test.p_value <= 1 and 0 < test.p_exact_match <= 1 and " F1" in test.verdict
    labels = [m.label for m in comparison.metrics]
    assert "exact match" in labels and "F1" in labels and "entity F1" not in labels  # NER's rows stay with NER runs
    for d in comparison.disagreements:  # question, passage excerpt and both answers
        assert "‖" in d.input and all(p is not None for p in d.predictions)
    assert main(["--workspace", str(ws), "compare", "qa-tiny", "qa-short", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "per-question F1 difference" in out and "exact match" in out


# ------------------------------------------------------------------------------------------ real data
@pytest.mark.skipif(not (SHARED_DATASETS / "squad_v1.1").is_dir(), reason="shared data sets not on this machine")
def test_the_real_squad_files_load_without_a_skipped_question():
    raw = read_source(SHARED_DATASETS / "squad_v1.1" / "dev-v1.1.json")
    df, skipped = qa_data.normalise(raw["train"], split="dev", source="dev-v1.1.json")
    assert len(df) == 10570 and skipped is None and df["answer_texts"].map(len).max() >= 3


def test_paired_mean_stats_is_the_mean_difference_with_a_sign_flip_test():
    from workbench.core.compare.stats import paired_mean_stats

    rng = np.random.default_rng(1)
    a = rng.random(400)
    diff, low, high, p = paired_mean_stats(a, a + 0.1, n_boot=2000)
    assert diff == pytest.approx(0.1) and low <= 0.1 <= high and p < 0.01
    diff, low, high, p = paired_mean_stats(a, a, n_boot=2000)
    assert diff == 0 and p == 1.0
