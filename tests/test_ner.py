"""Token classification: loaders, IOB handling, label alignment, seqeval metrics, CLI training end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import SAMPLE_DATA, SHARED_DATASETS
from workbench.core.datasets import read_source
from workbench.core.tasks import load_for_training
from workbench.core.errors import WorkbenchError
from workbench.core.tasks.token_classification.spans import iob1_to_iob2, tags_to_spans
from workbench.core.tasks.token_classification import data as tc_data, train as tc_train, evaluate as tc_evaluate
from sft_helpers import tiny_gpt2_dir  # noqa: F401  (fixture)

NER = SAMPLE_DATA / "ner"
CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ loaders
def test_conll_file_with_docstart_and_extra_columns(tmp_path):
    df = read_source(write(tmp_path / "train.conll", CONLL))["train"]
    assert df["tokens"].tolist() == [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"], ["BRUSSELS", "1996-08-22"]]
    assert df["tags"].tolist() == [["B-ORG", "O", "B-MISC", "O", "O"], ["B-PER", "I-PER"], ["B-LOC", "O"]]


def test_conll_folder_of_txt_split_files_trains_on_train_and_evaluates_on_dev(tmp_path):
    write(tmp_path / "train.txt", CONLL)
    write(tmp_path / "valid.txt", "Paris NNP B-NP B-LOC\nfell VBD B-VP O\n")
    data = load_for_training(str(tmp_path))
    assert data.schema.task == "token-classification"
    assert data.schema.labels == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert len(data.train) == 3 and data.eval["tokens"] == [["Paris", "fell"]]
    assert data.eval_split_origin == "file" and data.fingerprint("dev")


@pytest.mark.parametrize("text, message", [
    ("EU B-ORG\nrejects\n", r"line 2: 'rejects' has no tag"),
    ("EU NNP B-ORG\nrejects O\n", r"line 2 has 2 columns, the lines before it 3"),
    ("EU NNP B-ORG\nrejects VBZ PERSON\n", r"line 2: 'PERSON' is not an IOB tag"),
    ("-DOCSTART- -X- O\n\n\n", r"has no sentences"),
])
def test_conll_errors_name_the_line(tmp_path, text, message):
    path = write(tmp_path / "bad.conll", text)
    with pytest.raises(WorkbenchError, match=message):
        load_for_training(str(path))


def test_jsonl_with_tokens_and_tags_infers_the_task_and_holds_out_dev():
    data = load_for_training(str(NER / "train.jsonl"), seed=3)
    assert data.schema.task == "token-classification" and data.schema.labels[0] == "O"
    assert len(data.train) == 135 and len(data.eval) == 15 and data.eval_split_origin == "held-out from train"
    assert set(map(tuple, data.train["tokens"])).isdisjoint(map(tuple, data.eval["tokens"]))
    again = load_for_training(str(NER / "train.jsonl"), seed=3)
    assert again.eval["tokens"] == data.eval["tokens"]  # the seed fixes the split


def test_jsonl_ner_tags_column_and_parquet(tmp_path):
    import pandas as pd

    rows = [{"tokens": ["Ann", "smiled"], "ner_tags": ["B-PER", "O"]}, {"tokens": ["Oslo"], "ner_tags": ["B-LOC"]}]
    data = load_for_training(str(write_jsonl(tmp_path / "a.jsonl", rows)), eval_data=str(write_jsonl(tmp_path / "b.jsonl", rows)))
    assert data.train["tags"] == [["B-PER", "O"], ["B-LOC"]]
    pd.DataFrame(rows).to_parquet(tmp_path / "c.parquet")
    assert load_for_training(str(tmp_path / "c.parquet"), eval_data=str(tmp_path / "b.jsonl")).train["tokens"][0] == ["Ann", "smiled"]


@pytest.mark.parametrize("rows, message", [
    # A bad row of one or two is more than the 1% of a split that may be skipped (tests/test_bad_rows.py).
    ([{"tokens": ["a", "b"], "tags": ["O"]}], r"1 of 1 rows in train cannot be used \(row 1: 2 tokens but 1 tags\)"),
    ([{"tokens": ["a"], "tags": ["B-X"]}, {"tokens": [], "tags": []}], r"row 2: an empty sentence"),
    ([{"tokens": ["a"], "tags": [3]}], r"tags are numbers"),
    ([{"tokens": "a b", "tags": ["O", "O"]}], r"must be lists"),
    ([{"tokens": ["a"], "tags": ["O"]}, {"tokens": ["b"], "tags": ["O"]}], r"no entities"),
])
def test_jsonl_errors(tmp_path, rows, message):
    with pytest.raises(WorkbenchError, match=message):
        load_for_training(str(write_jsonl(tmp_path / "t.jsonl", rows)), eval_data=str(write_jsonl(tmp_path / "d.jsonl", rows)))


def test_iob1_input_is_converted_to_iob2(tmp_path):
    # IOB1: I- starts an entity; B- only separates two adjacent entities of one type.
    rows = [{"tokens": ["Peter", "Blackburn", "met", "Anna", "Bob", "in", "Paris"],
             "tags": ["I-PER", "I-PER", "O", "I-PER", "B-PER", "O", "I-LOC"]}]
    data = load_for_training(str(write_jsonl(tmp_path / "t.jsonl", rows)), eval_data=str(write_jsonl(tmp_path / "d.jsonl", rows)))
    assert data.train["tags"][0] == ["B-PER", "I-PER", "O", "B-PER", "B-PER", "O", "B-LOC"]
    assert data.tag_scheme.startswith("IOB1")
    assert data.schema.labels == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_iob_helpers():
    iob2 = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]
    assert iob1_to_iob2(iob2) == iob2  # valid IOB2 is left alone
    assert tags_to_spans(iob2, "a b c d e f".split()) == [
        {"type": "PER", "start": 0, "end": 2, "text": "a b"},
        {"type": "LOC", "start": 3, "end": 4, "text": "d"},
        {"type": "LOC", "start": 4, "end": 6, "text": "e f"},
    ]
    # conlleval: an I- that does not continue an entity of its type starts one.
    assert tags_to_spans(["O", "I-ORG", "I-PER"]) == [{"type": "ORG", "start": 1, "end": 2}, {"type": "PER", "start": 2, "end": 3}]


# ------------------------------------------------------------------------------------------ alignment
def test_first_word_piece_gets_the_label_others_are_ignored():
    from transformers import AutoTokenizer

    from workbench.core.models import embedded_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    words = ["Schwarzenegger", "visited", "Reykjavik", "."]
    enc = tokenizer(words, is_split_into_words=True)
    assert tokenizer.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "schwarz", "##ene", "##gger", "visited", "reykjavik", ".", "[SEP]"]
    # labels: B-PER=7, O=0, B-LOC=1
    assert tc_train.align_labels(enc.word_ids(), [7, 0, 1, 0]) == [-100, 7, -100, -100, 0, 1, 0, -100]


def test_tokenize_aligns_a_whole_split():
    from datasets import Dataset
    from transformers import AutoTokenizer

    from workbench.core.config import RunConfig
    from workbench.core.models import embedded_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    data = load_for_training(str(NER))
    ds = Dataset.from_dict({"tokens": [["Schwarzenegger", "visited", "Reykjavik"]], "tags": [["B-PER", "O", "B-LOC"]]})
    out = tc_train.tokenize(ds, tokenizer, data, RunConfig(data="x", max_length=4))
    assert out[0]["labels"] == [-100, 7, -100, -100]  # truncated: [CLS] schwarz ##ene [SEP]
    assert len(out[0]["input_ids"]) == 4
    assert out[0]["token_type_ids"] == [0, 1, 1, 0]  # the uncased model is told "Schwarzenegger" is capitalised


# ------------------------------------------------------------------------------------------ capitalisation
def test_case_type_ids_mark_every_piece_of_a_capitalised_word():
    from workbench.core.tasks.token_classification.spans import case_type_ids

    words = ["NATO", "met", "in", "Paris", "on", "1996-08-22", "."]
    word_ids = [None, 0, 0, 1, 2, 3, 4, 5, 5, 5, 6, None, None]  # two pieces for NATO, padding at the end
    assert case_type_ids(words, word_ids) == [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


def test_case_types_only_for_uncased_tokenizers_with_two_token_types(tiny_gpt2_dir):
    from transformers import AutoTokenizer

    from workbench.core.models import embedded_model_dir

    uncased = str(embedded_model_dir())
    assert tc_train.folds_case(AutoTokenizer.from_pretrained(uncased)) and tc_train.case_types_for(uncased)
    assert not tc_train.folds_case(AutoTokenizer.from_pretrained(str(tiny_gpt2_dir)))  # byte-level BPE keeps case
    assert not tc_train.case_types_for(str(tiny_gpt2_dir))  # and has no token types at all


def test_encode_words_puts_capitalisation_into_padded_tensors():
    from transformers import AutoTokenizer

    from workbench.core.models import embedded_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    sentences = [["EU", "rejects", "German", "call"], ["peace"]]
    enc = tc_train.encode_words(tokenizer, sentences, max_length=16, case_types=True, padding=True, return_tensors="pt")
    assert enc["token_type_ids"].tolist() == [[0, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]]
    plain = tc_train.encode_words(tokenizer, sentences, max_length=16, case_types=False, padding=True, return_tensors="pt")
    assert plain["token_type_ids"].sum() == 0 and plain["input_ids"].tolist() == enc["input_ids"].tolist()


# ------------------------------------------------------------------------------------------ metrics
def test_seqeval_metrics_on_a_hand_checked_example():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"], ["B-MISC", "I-MISC"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "O", "B-LOC"], ["B-MISC", "O"]]
    # gold entities: PER(0-2) LOC(3) | ORG(0) PER(2) | MISC(0-2)     → 5
    # predicted:     PER(0-2)        | ORG(0) LOC(2) | MISC(0-1)     → 4, of which PER(0-2) and ORG(0) are right
    report = tc_evaluate.ner_report(gold, pred)
    assert report["precision"] == pytest.approx(2 / 4)
    assert report["recall"] == pytest.approx(2 / 5)
    assert report["f1"] == pytest.approx(2 * 0.5 * 0.4 / (0.5 + 0.4))
    assert report["token_accuracy"] == pytest.approx(6 / 9)
    per = report["per_class"]
    assert per["PER"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert per["ORG"] == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1})
    assert per["LOC"]["f1"] == 0.0 and per["MISC"]["f1"] == 0.0 and per["MISC"]["support"] == 1


def test_trainer_metrics_hook_reads_only_first_pieces():
    import numpy as np
    from transformers import EvalPrediction

    data = load_for_training(str(NER))  # labels O B-LOC I-LOC B-MISC I-MISC B-ORG I-ORG B-PER I-PER
    hook = tc_evaluate.metrics_hook(data)
    label_ids = np.array([[-100, 7, -100, 8, 0, -100]])
    logits = np.full((1, 6, 9), -5.0)
    for pos, label in enumerate([0, 7, 3, 8, 0, 0]):  # the ignored piece at 2 predicts B-MISC: must not count
        logits[0, pos, label] = 5.0
    out = hook(EvalPrediction(predictions=logits, label_ids=label_ids))
    assert out["f1"] == 1.0 and out["f1_PER"] == 1.0 and out["token_accuracy"] == 1.0


# ------------------------------------------------------------------------------------------ CLI end to end
@pytest.fixture
def ner_run(ner_trained):
    return ner_trained


def test_cli_train_writes_ner_metrics_and_predictions(ner_run):
    from workbench.core.runs import RunStore

    ws, code = ner_run
    assert code == 0
    run = RunStore(ws).get("ner-tiny")
    assert run.status == "completed" and run.task == "token-classification"
    assert set(run.metrics) == {"f1", "precision", "recall", "token_accuracy", "eval_loss"}
    assert run.info["best_metric"]["name"] == "f1"
    assert run.metrics["f1"] > 0.5  # the templated sample data is learnable in 40 steps (measured 0.88)
    assert set(run.info["evaluation"]["per_class"]) == {"LOC", "MISC", "ORG", "PER"}
    evals = [e for e in run.read_metrics() if e["kind"] == "eval"]
    assert len(evals) >= 2 and {"f1", "precision", "recall", "f1_PER", "f1_LOC", "f1_ORG", "f1_MISC"} <= evals[-1].keys()
    config = json.loads((run.model_dir / "config.json").read_text())
    assert config["id2label"]["0"] == "O" and len(config["id2label"]) == 9
    assert config["case_type_ids"] is True  # uncased tokenizer: capitals travel in the token type ids

    preds = run.read_predictions()
    dev = [json.loads(line) for line in (NER / "dev.jsonl").read_text().splitlines()]
    assert len(preds) == len(dev) == 40
    for rec, row in zip(preds, dev):  # input order, every word predicted
        assert rec["tokens"] == row["tokens"] and rec["gold_tags"] == row["tags"]
        assert len(rec["predicted_tags"]) == len(row["tokens"])
        assert rec["gold_spans"] == tags_to_spans(row["tags"], row["tokens"])
        assert rec["correct"] == (rec["gold_tags"] == rec["predicted_tags"])
    recomputed = tc_evaluate.ner_report([r["gold_tags"] for r in preds], [r["predicted_tags"] for r in preds])
    assert recomputed["f1"] == pytest.approx(run.metrics["f1"])


def test_cli_eval_and_runs_show_report_entity_metrics(ner_run, capsys):
    from workbench.cli import main
    from workbench.core.runs import RunStore

    ws, _ = ner_run
    run = RunStore(ws).get("ner-tiny")
    assert main(["--workspace", str(ws), "eval", "ner-tiny", "--data", str(NER / "dev.jsonl"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 40 and report["f1"] == pytest.approx(run.metrics["f1"])
    assert set(report["per_class"]) == {"LOC", "MISC", "ORG", "PER"}
    assert main(["--workspace", str(ws), "eval", "ner-tiny", "--data", str(NER / "dev.jsonl")]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the header wraps where the data path's length puts it
    assert "entity F1" in out and "PER" in out
    assert main(["--workspace", str(ws), "runs", "show", "ner-tiny", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["task"] == "token-classification" and "f1" in shown["metrics"]


def test_cli_rejects_ragged_ner_data_without_a_run(cli, tmp_path, workspace, tiny_model_dir):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"tokens": ["a", "b"], "tags": ["B-PER"]}] * 3)
    code, out, err = cli("train", "--data", str(bad), "--model", str(tiny_model_dir))
    assert code == 2 and err.startswith("error: ") and "2 tokens but 1 tags" in err and len(err.strip().splitlines()) == 1
    assert not list((workspace / "runs").glob("*/run.json"))


@pytest.mark.skipif(not (SHARED_DATASETS / "conll2003").is_dir(), reason="../shared/datasets is not on this machine")
def test_conll2003_loads_train_and_test():
    folder = SHARED_DATASETS / "conll2003"
    data = load_for_training(str(folder / "train.txt"), eval_data=str(folder / "test.txt"))
    assert (len(data.train), len(data.eval)) == (14041, 3453)
    assert data.schema.labels == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert tc_data.entity_counts(data.eval["tags"]) == {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}


def test_task_defaults_fill_only_what_the_user_left_empty():
    from workbench.core.config import TASK_DEPENDENT_DEFAULTS, RunConfig
    from workbench.core.tasks import apply_task_defaults, get_task

    assert RunConfig().lr is None  # "the task's default"
    assert apply_task_defaults(RunConfig(data="x"), "token-classification").lr == get_task("token-classification").defaults["lr"] == 2e-4
    assert apply_task_defaults(RunConfig(data="x", lr=3e-5), "token-classification").lr == 3e-5
    # Asking for the shared value explicitly is honoured too (it used to be taken for "untouched").
    assert apply_task_defaults(RunConfig(data="x", lr=5e-5), "token-classification").lr == 5e-5
    assert apply_task_defaults(RunConfig(data="x"), "text-classification").lr == TASK_DEPENDENT_DEFAULTS["lr"] == 5e-5
    assert apply_task_defaults(RunConfig(data="x"), "causal-lm-sft").lr == 5e-5


def test_an_ner_run_records_the_task_learning_rate(cli, workspace, tiny_model_dir):
    from workbench.core.runs import RunStore

    code, out, err = cli("train", "--data", str(NER), "--model", str(tiny_model_dir), "--max-steps", "1",
                         "--max-length", "16", "--name", "ner-lr", "--detach", "--json")
    assert code == 0, err
    assert RunStore(workspace).get("ner-lr").config["lr"] == 2e-4


def test_a_run_created_without_the_launcher_gets_the_task_learning_rate_from_its_worker(workspace, tiny_model_dir):
    import subprocess
    import sys

    from workbench.core.config import RunConfig
    from workbench.core.runs import RunStore

    store = RunStore(workspace)
    cfg = RunConfig(data=str(NER), model=str(tiny_model_dir), max_steps=2, max_length=16, batch_size=8)
    assert cfg.lr is None
    run = store.create(cfg.to_dict(), name="api-made", task="token-classification")  # lr still empty in run.json
    proc = subprocess.run([sys.executable, "-m", "workbench.core.training.worker", str(run.path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = store.get(run.id)
    assert run.status == "completed" and run.config["lr"] == 2e-4


# ------------------------------------------------------------------------------------------ compare
def test_entity_counts_and_paired_f1_on_a_hand_checked_example():
    from workbench.core.compare import paired_f1_stats
    from workbench.core.tasks.token_classification.compare import entity_counts

    rec = {"gold_spans": [{"type": "PER", "start": 0, "end": 2}, {"type": "LOC", "start": 3, "end": 4}],
           "predicted_spans": [{"type": "PER", "start": 0, "end": 2}, {"type": "ORG", "start": 3, "end": 4},
                               {"type": "LOC", "start": 5, "end": 6}]}
    assert entity_counts(rec) == (1, 3, 2)  # PER right; ORG is the wrong type, the second LOC is spurious
    # A: 10 sentences with 1 of 2 entities right (F1 0.5); B finds both in 9 of them (F1 0.95).
    a = [(1, 2, 2)] * 10
    b = [(2, 2, 2)] * 9 + [(1, 2, 2)]
    diff, low, high, p = paired_f1_stats(a, b, n_boot=2000, seed=0)
    assert diff == pytest.approx(0.95 - 0.5)
    assert 0 < low <= diff <= high and p < 0.01
    diff, low, high, p = paired_f1_stats(a, a, n_boot=500, seed=0)
    assert diff == low == high == 0.0 and p == 1.0


def test_compare_tests_ner_runs_on_entity_f1(ner_trained, workspace):
    import shutil

    from workbench.core.compare import compare_runs, render_markdown
    from workbench.core.tasks.token_classification.compare import entity_counts
    from workbench.core.runs import RunStore

    src, _ = ner_trained
    run = RunStore(src).get("ner-tiny")
    for name in ("ner-a", "ner-b"):
        dst = workspace / "runs" / f"{run.id}-{name}"
        shutil.copytree(run.path, dst)
        info = json.loads((dst / "run.json").read_text())
        info.update(id=dst.name, name=name)
        (dst / "run.json").write_text(json.dumps(info))
    # The records' entity counts give back the run's own (seqeval) F1.
    counts = np.asarray([entity_counts(json.loads(line)) for line in (run.path / "predictions.jsonl").read_text().splitlines()])
    assert run.metrics["f1"] == pytest.approx(2 * counts[:, 0].sum() / counts[:, 1:].sum())

    def rewrite(name, change):
        path = workspace / "runs" / f"{run.id}-{name}" / "predictions.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for r in records:
            change(r)
        path.write_text("".join(json.dumps(r) + "\n" for r in records))

    # A: the trained run's predictions with every even sentence's entities missed; B: a perfect tagger.
    rewrite("ner-a", lambda r: r.update(predicted=" ".join(["O"] * len(r["tokens"])), predicted_spans=[])
            if r["id"] % 2 == 0 else None)
    rewrite("ner-b", lambda r: r.update(predicted=r["gold"], predicted_tags=r["gold_tags"], predicted_spans=r["gold_spans"]))
    store = RunStore(workspace)
    c = compare_runs([store.get("ner-a"), store.get("ner-b")], n_boot=2000)
    pair = c.pairs[0]
    assert pair.measure == "entity_f1" and pair.refused is None and pair.n == 40
    kept = counts[1::2]  # odd sentences keep their predictions; even ones predict nothing
    gold = counts[:, 2].sum()
    assert pair.f1_a == pytest.approx(2 * kept[:, 0].sum() / (kept[:, 1].sum() + gold))
    assert pair.f1_b == 1.0 and pair.diff_pt == pytest.approx((1.0 - pair.f1_a) * 100)
    assert pair.ci_low_pt <= pair.diff_pt <= pair.ci_high_pt and pair.ci_low_pt > 0 and pair.p_value < 0.01
    assert pair.significant and pair.winner == 1 and "ner-b is better than ner-a on entity F1" in pair.verdict
    md = render_markdown(c)
    assert "approximate randomization" in md and "McNemar" not in md and "40 sentences" in md


def test_a_seeded_fifth_of_the_training_sentences_is_shown_without_capitals():
    from transformers import AutoTokenizer

    from workbench.core.config import RunConfig
    from workbench.core.models import embedded_model_dir

    rows = tc_train.uncased_rows(10_000, seed=42)
    assert rows.tolist() == tc_train.uncased_rows(10_000, seed=42).tolist() and abs(rows.mean() - tc_train.UNCASED_TRAIN_FRACTION) < 0.02
    tokenizer = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    data = load_for_training(str(NER))
    cfg = RunConfig(data="x", max_length=64)
    train = tc_train.tokenize(data.train, tokenizer, data, cfg)
    expected = tc_train.uncased_rows(len(data.train), cfg.seed)
    assert 0 < expected.sum() < len(data.train)
    for i, row in enumerate(train):
        capitals = any(row["token_type_ids"])
        assert capitals != bool(expected[i]) or not any(w[:1].isupper() for w in data.train[i]["tokens"])
    # Evaluation data always keeps its capitals.
    dev = tc_train.tokenize(data.eval, tokenizer, data, cfg)
    assert all(any(r["token_type_ids"]) for r, words in zip(dev, data.eval["tokens"]) if any(w[:1].isupper() for w in words))
