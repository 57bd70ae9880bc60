"""Rows that cannot be used (issue #16): every task skips them, counted and named, while they are at most 1% of a
split, refuses the data set naming them when they are more, and refuses any with --strict (datasets.BadRows)."""

from __future__ import annotations

import json
import re

import pytest

from workbench.core.datasets import BadRows
from workbench.core.errors import WorkbenchError
from workbench.core.runs import RunStore
from workbench.core.tasks import inspect_source, load_for_training


# ------------------------------------------------------------------------------------------ data per task
def classification_csv(path, n, bad):
    """``n`` rows, the 1-based data rows in ``bad`` with an empty label (the header is not a row)."""
    lines = ["text,label"] + [f"review number {i} of the film,{'' if i in bad else ('pos' if i % 2 else 'neg')}"
                              for i in range(1, n + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ner_jsonl(path, n, bad):
    """``n`` sentences, those in ``bad`` ragged (three tokens, two tags)."""
    rows = [{"tokens": ["Ann", "visited", f"Paris{i}"], "tags": ["B-PER", "O"] if i in bad else ["B-PER", "O", "B-LOC"]}
            for i in range(1, n + 1)]
    return _jsonl(path, rows)


def qa_jsonl(path, n, bad):
    """``n`` questions, each with its own passage; in ``bad`` the answer is not at its offset."""
    rows = []
    for i in range(1, n + 1):
        context = f"Passage {i}: Ann lives in Paris and works in Lyon."
        start = context.index("Paris") + (3 if i in bad else 0)
        rows.append({"id": f"q{i}", "question": f"Where does Ann live ({i})?", "context": context,
                     "answers": {"text": ["Paris"], "answer_start": [start]}})
    return _jsonl(path, rows)


def sft_jsonl(path, n, bad):
    """``n`` Alpaca rows, those in ``bad`` with an empty output."""
    rows = [{"instruction": f"Write the number {i} in words.", "input": "", "output": "" if i in bad else f"number {i}"}
            for i in range(1, n + 1)]
    return _jsonl(path, rows)


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# task → (writer, file name, what the reason says, what the rows are called)
TASKS = {
    "text-classification": (classification_csv, "d.csv", "empty or NaN label in column 'label'", "rows"),
    "token-classification": (ner_jsonl, "d.jsonl", "3 tokens but 2 tags", "rows"),
    "question-answering": (qa_jsonl, "d.jsonl", "is not at offset", "questions"),
    "causal-lm-sft": (sft_jsonl, "d.jsonl", "the output is empty", "rows"),
}


def one_error_line(code, err):
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------------------------------ the rule
def test_the_bound_is_one_percent_of_the_split():
    bad = BadRows("d.csv", "train")
    bad.add(7, "empty output")
    record = bad.settle(100)  # 1 of 100 is 1%: skipped
    assert (record.count, record.total, record.rows, record.reasons) == (1, 100, [7], {"empty output": 1})
    assert record.note == "skipped 1 of 100 rows in train (row 7: empty output)"
    with pytest.raises(WorkbenchError, match=r"^d.csv: 1 of 99 rows in train cannot be used \(row 7: empty output\); "
                                             r"at most 1% of a split is skipped \(0 rows here\): fix or remove it\.$"):
        bad.settle(99)  # 1.01%
    with pytest.raises(WorkbenchError, match=r"1 of 100 rows in train cannot be used \(row 7: empty output\), and strict "
                                             r"data checking \(--strict\) skips none: fix or remove it\.$"):
        bad.settle(100, strict=True)
    assert BadRows("d.csv", "train").settle(10, strict=True) is None  # nothing bad: nothing to say


def test_the_message_names_the_first_five_rows_grouped_by_reason():
    bad = BadRows("d.jsonl", "dev")
    for row, reason in [(3, "empty output"), (9, "empty output"), (12, "empty instruction"), (20, "empty output"),
                        (31, "empty instruction"), (40, "empty output"), (41, "empty output")]:
        bad.add(row, reason)
    with pytest.raises(WorkbenchError) as exc:
        bad.settle(500)
    assert str(exc.value) == ("d.jsonl: 7 of 500 rows in dev cannot be used (rows 3, 9, 20: empty output; rows 12, 31: "
                              "empty instruction; and 2 more); at most 1% of a split is skipped (5 rows here): fix or "
                              "remove them.")
    record = bad.settle(700)
    assert record.note.startswith("skipped 7 of 700 rows in dev (rows 3, 9, 20: empty output;")
    assert record.reasons == {"empty output": 5, "empty instruction": 2} and record.rows == [3, 9, 12, 20, 31, 40, 41]


# ------------------------------------------------------------------------------------------ every task
@pytest.mark.parametrize("task", TASKS)
def test_a_few_bad_rows_are_skipped_counted_and_named(task, tmp_path, cli):
    write, name, reason, unit = TASKS[task]
    path = write(tmp_path / name, 300, {17, 250})
    data = load_for_training(str(path))
    assert data.schema.task == task
    assert len(data.train) + len(data.eval) == 298  # the held-out dev split comes from what is left
    record = data.skipped_record("train")
    assert record["count"] == 2 and record["of"] == 300 and record["rows"] == [17, 250]  # 1-based data rows
    # reason → rows (QA's name the answer and its offset, so they differ from row to row)
    assert all(reason in r for r in record["reasons"]) and sum(record["reasons"].values()) == 2
    # "rows 17, 250: <reason>", or where the reasons differ (QA) "row 17: <reason>; row 250: <reason>"
    assert re.fullmatch(rf"skipped 2 of 300 {unit} in train \((rows 17, 250|row 17: .*; row 250): .*{reason}.*\)",
                        record["note"]), record["note"]
    assert data.skipped_record("dev") is None  # dev was held out of train: its rows were counted there
    assert data.skip_notes() == [record["note"]]

    code, out, err = cli("datasets", "inspect", str(path), "--no-tokenizer", "--json")
    assert code == 0, err
    report = json.loads(out)
    train = report["splits"]["train"]
    assert train["rows"] == 298 and train["skipped"] == record
    assert record["note"] + "." in report["warnings"]


@pytest.mark.parametrize("task", TASKS)
def test_too_many_bad_rows_refuse_the_data_naming_them(task, tmp_path, cli):
    write, name, reason, unit = TASKS[task]
    bad = {3, 9, 12, 30, 31, 100, 150, 200, 250, 299}  # 10 of 300: 3.3%
    path = write(tmp_path / name, 300, bad)
    with pytest.raises(WorkbenchError, match=rf"10 of 300 {unit} in train cannot be used \(.*{reason}.*; and 5 more\); "
                                             r"at most 1% of a split is skipped \(3 ") as exc:
        load_for_training(str(path))
    named = re.findall(r"\brows? (\d+(?:, \d+)*)", str(exc.value))
    assert [int(n) for group in named for n in group.split(", ")] == [3, 9, 12, 30, 31]  # the first five
    err = one_error_line(*cli("datasets", "inspect", str(path), "--no-tokenizer")[::2])
    assert "10 of 300" in err and "and 5 more" in err and str(path) in err


@pytest.mark.parametrize("task", TASKS)
def test_strict_refuses_even_one(task, tmp_path, cli):
    write, name, reason, unit = TASKS[task]
    path = write(tmp_path / name, 300, {42})
    assert load_for_training(str(path)).skipped_record("train")["rows"] == [42]
    with pytest.raises(WorkbenchError, match=rf"1 of 300 {unit} in train cannot be used \(row 42: .*{reason}.*\), and "
                                             r"strict data checking \(--strict\) skips none"):
        load_for_training(str(path), strict=True)
    err = one_error_line(*cli("datasets", "inspect", str(path), "--no-tokenizer", "--strict")[::2])
    assert "row 42" in err and "--strict" in err
    with pytest.raises(WorkbenchError, match="strict data checking"):
        inspect_source(path, model=None, strict=True)
    clean = write(tmp_path / ("clean-" + name), 300, set())
    assert load_for_training(str(clean), strict=True).skipped == {}


@pytest.mark.parametrize("task", TASKS)
def test_one_bad_row_in_a_small_file_is_more_than_one_percent(task, tmp_path):
    """≤ 1% is strict: one bad row in 50 (2%) refuses the data, as every bad row did before the rule."""
    write, name, reason, unit = TASKS[task]
    with pytest.raises(WorkbenchError, match=rf"1 of 50 {unit} in train cannot be used \(row 5: .*{reason}.*\); at most "
                                             r"1% of a split is skipped \(0 "):
        load_for_training(str(write(tmp_path / name, 50, {5})))


def test_the_code_alpaca_case(tmp_path, cli):
    """As a new user met it: a public 2,017-row Code-Alpaca file with 2 empty outputs was refused whole."""
    rows = [{"instruction": f"Write a Python function that returns {i} squared.", "input": "",
             "output": f"def f():\n    return {i} ** 2"} for i in range(2017)]
    for i in (414, 1629):
        rows[i]["output"] = ""
    path = tmp_path / "code_alpaca_2k.json"
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")  # a JSON list, as published
    data = load_for_training(str(path))
    assert data.schema.task == "causal-lm-sft" and len(data.train) + len(data.eval) == 2015
    assert data.skip_notes() == ["skipped 2 of 2,017 rows in train (rows 415, 1630: the output is empty)"]
    code, out, err = cli("datasets", "inspect", str(path), "--no-tokenizer")
    assert code == 0, err
    assert "skipped 2 of 2,017 rows in train (rows 415, 1630: the output is empty)." in " ".join(out.split())


def test_the_datasets_screen_shows_the_note_among_the_health_warnings(tmp_path):
    from workbench.ui.widgets.dataset_stats import warnings_text

    report = inspect_source(sft_jsonl(tmp_path / "d.jsonl", 300, {8}), model=None)  # what the screen's quick pass asks
    assert "⚠ skipped 1 of 300 rows in train (row 8: the output is empty)." in warnings_text(report).plain


def test_an_eval_file_is_judged_on_its_own_rows(tmp_path):
    """Each split has its own bound: a dev file's bad rows are counted against the dev file."""
    folder = tmp_path / "set"
    folder.mkdir()
    classification_csv(folder / "train.csv", 300, set())
    classification_csv(folder / "dev.csv", 100, {60})
    data = load_for_training(str(folder))
    assert data.skipped_record("train") is None and len(data.train) == 300 and len(data.eval) == 99
    assert data.skipped_record("dev")["note"] == "skipped 1 of 100 rows in dev (row 60: empty or NaN label in column 'label')"
    classification_csv(folder / "dev.csv", 50, {30})
    with pytest.raises(WorkbenchError, match=r"set: 1 of 50 rows in dev cannot be used \(row 30"):
        load_for_training(str(folder))
    report = inspect_source(folder / "train.csv", model=None)
    assert report["splits"]["train"]["skipped"] is None


def test_what_is_left_must_still_train(tmp_path):
    """Skipping does not weaken the other checks: a class left with one example is refused as before."""
    lines = ["text,label"] + [f"text {i},{'' if i == 150 else 'pos'}" for i in range(1, 299)] + ["text 299,neg", "text 300,"]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(WorkbenchError, match="1 of 2 classes have a single example"):
        load_for_training(str(tmp_path / "d.csv"))


def test_training_records_and_prints_the_skipped_rows(tmp_path, cli, workspace, tiny_model_dir):
    path = classification_csv(tmp_path / "reviews.csv", 300, {17, 250})
    code, out, err = cli("train", "--data", str(path), "--model", str(tiny_model_dir), "--batch-size", "32",
                         "--max-length", "16", "--max-steps", "2", "--name", "skips")
    assert code == 0, err
    note = "skipped 2 of 300 rows in train (rows 17, 250: empty or NaN label in column 'label')"
    assert note in " ".join(out.split())  # before the launch
    run = RunStore(workspace).get("skips")
    assert run.status == "completed"
    train, evaluation = run.info["data"]["train"], run.info["data"]["eval"]
    assert train["skipped"] == {"count": 2, "of": 300, "rows": [17, 250],
                                "reasons": {"empty or NaN label in column 'label'": 2}, "note": note}
    assert train["rows"] + evaluation["rows"] == 298 and evaluation["skipped"] is None
    assert f"note: {note}." in (run.path / "stdout.log").read_text()
    assert run.config["strict_data"] is False
    code, _, err = cli("train", "--data", str(path), "--model", str(tiny_model_dir), "--strict", "--name", "strict")
    assert "rows 17, 250" in one_error_line(code, err) and "--strict" in err
    assert [r.name for r in RunStore(workspace).list()] == ["skips"]  # refused before a run directory exists
