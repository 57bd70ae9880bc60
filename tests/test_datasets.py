import json
from pathlib import Path

import pandas as pd
import pytest

from workbench.core.datasets import read_source
from workbench.core.tasks import inspect_source, load_for_training
from workbench.core.tasks.classification.data import infer_schema
from workbench.core.errors import WorkbenchError

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"

ROWS = [{"text": f"review number {i} was {'great fun' if i % 2 else 'dull and slow'}", "label": "pos" if i % 2 else "neg"}
        for i in range(40)]


def write(path: Path, fmt: str, rows=ROWS) -> Path:
    df = pd.DataFrame(rows)
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "tsv":
        df.to_csv(path, index=False, sep="\t")
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "parquet":
        df.to_parquet(path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "parquet"])
def test_each_file_format_loads(tmp_path, fmt):
    data = load_for_training(str(write(tmp_path / f"d.{fmt}", fmt)))
    assert data.schema.text_column == "text" and data.schema.label_column == "label"
    assert data.schema.labels == ["neg", "pos"]
    assert len(data.train) + len(data.eval) == 40
    assert data.eval_split_origin == "held-out from train"


def test_folder_with_split_files(tmp_path):
    write(tmp_path / "train.csv", "csv")
    write(tmp_path / "validation.csv", "csv", ROWS[:10])
    write(tmp_path / "test.jsonl", "jsonl", ROWS[:6])
    raw = read_source(tmp_path)
    assert list(raw) == ["train", "dev", "test"]
    data = load_for_training(str(tmp_path))
    assert len(data.train) == 40 and len(data.eval) == 10 and data.eval_split_origin == "file"


def test_save_to_disk_folder(tmp_path):
    from datasets import Dataset, DatasetDict

    DatasetDict({"train": Dataset.from_list(ROWS), "validation": Dataset.from_list(ROWS[:8])}).save_to_disk(tmp_path / "ds")
    data = load_for_training(str(tmp_path / "ds"))
    assert len(data.train) == 40 and len(data.eval) == 8


def test_sample_data_sets_load():
    sentiment = load_for_training(str(SAMPLE / "sentiment"))
    assert sentiment.schema.labels == ["negative", "positive"] and len(sentiment.eval) >= 50
    topics = load_for_training(str(SAMPLE / "topics"))
    assert topics.schema.labels == ["business", "science", "sports", "world"]


def test_schema_inference_without_conventional_names():
    df = pd.DataFrame({"id": [str(i) for i in range(20)],
                       "utter": [f"a fairly long sentence about topic {i}" for i in range(20)],
                       "cls": ["a", "b"] * 10})
    schema = infer_schema(df)
    assert (schema.text_column, schema.label_column) == ("utter", "cls")


def test_integer_labels_are_text_and_sorted_numerically(tmp_path):
    rows = [{"sentence": f"s {i} words here", "label": i % 11} for i in range(110)]
    data = load_for_training(str(write(tmp_path / "d.jsonl", "jsonl", rows)))
    assert data.schema.labels == [str(i) for i in range(11)]


def test_dev_split_is_stratified_and_seeded(tmp_path):
    path = write(tmp_path / "d.csv", "csv", ROWS * 5)  # 200 rows, balanced
    a = load_for_training(str(path), seed=1)
    b = load_for_training(str(path), seed=1)
    assert a.fingerprint("dev") == b.fingerprint("dev")
    assert sorted(pd.Series(a.eval["label"]).value_counts().tolist()) == [10, 10]


@pytest.mark.parametrize("content,fmt,message", [
    (b"", "csv", "is empty"),
    (b"\x00\x01\x02binary\x00", "csv", "binary"),
    (b"text,label\n\xff\xfe bad bytes,pos\n", "csv", "not UTF-8"),
    (b'text,label\n"unterminated,pos\nmore,neg\n', "csv", "not well-formed"),
    (b"text,label\na,pos,extra,fields\nb,neg\n", "csv", "not well-formed"),
    (b'[{"text": "a", "label": "x"}, {"text": ', "json", "not well-formed"),
    (b'{"a": 1}\n', "json", "expected a JSON list"),
    (b"text,label\n", "csv", "no rows"),
    (b"hello", "xlsx", "unknown data format"),
])
def test_malformed_files_give_one_clear_error(tmp_path, content, fmt, message):
    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(content)
    with pytest.raises(WorkbenchError, match=message):
        load_for_training(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(WorkbenchError, match="data not found"):
        load_for_training(str(tmp_path / "nope.csv"))


def test_missing_column_suggests_the_close_one(tmp_path):
    path = write(tmp_path / "d.csv", "csv")
    with pytest.raises(WorkbenchError, match=r"'txt' not found.*did you mean 'text'"):
        load_for_training(str(path), text_column="txt")


def test_ambiguous_columns(tmp_path):
    rows = [{"premise": f"a long premise sentence number {i}", "hypothesis": f"a long hypothesis sentence {i}",
             "y1": i % 2, "y2": (i // 2) % 2} for i in range(40)]
    with pytest.raises(WorkbenchError, match="text column is ambiguous"):
        load_for_training(str(write(tmp_path / "d.jsonl", "jsonl", rows)))
    with pytest.raises(WorkbenchError, match="label column is ambiguous"):
        load_for_training(str(tmp_path / "d.jsonl"), text_column="premise")


@pytest.mark.parametrize("rows,message", [
    ([{"text": f"t{i}", "label": "only"} for i in range(20)], "single class"),
    ([{"text": f"t{i}", "label": None if i == 3 else "a" if i % 2 else "b"} for i in range(20)], "empty or NaN label"),
])
def test_bad_labels(tmp_path, rows, message):
    with pytest.raises(WorkbenchError, match=message):
        load_for_training(str(write(tmp_path / "d.jsonl", "jsonl", rows)))


def test_unseen_eval_labels(tmp_path):
    write(tmp_path / "train.csv", "csv")
    write(tmp_path / "dev.csv", "csv", [{"text": "x y z", "label": "meh"}, {"text": "a b", "label": "pos"}])
    with pytest.raises(WorkbenchError, match="never seen in training: 'meh'"):
        load_for_training(str(tmp_path))


def test_inspect_reports_health_warnings(tmp_path):
    train = [{"text": "same text", "label": "a"}, {"text": "same text", "label": "b"}, {"text": "", "label": "a"}]
    train += [{"text": f"word {i} " * (3 if i else 300), "label": "a"} for i in range(30)]
    train += [{"text": f"other {i}", "label": "b"} for i in range(3)]
    write(tmp_path / "train.jsonl", "jsonl", train)
    write(tmp_path / "dev.jsonl", "jsonl", [{"text": "same text", "label": "a"}, {"text": "fresh", "label": "b"}])
    report = inspect_source(tmp_path, max_length=64)
    warnings = " | ".join(report["warnings"])
    assert "class imbalance" in warnings
    assert "duplicate text(s), 1 with conflicting labels" in warnings
    assert "empty text" in warnings
    assert "longer than max_length 64" in warnings
    assert "also appear in train" in warnings
    train_info = report["splits"]["train"]
    assert train_info["rows"] == 36 and train_info["label_counts"] == {"a": 32, "b": 4}
    assert train_info["over_max_length"] == 1
    assert train_info["token_length"]["max"] > 300


def test_inspect_sample_without_tokenizer():
    report = inspect_source(SAMPLE / "topics", model=None)
    assert report["splits"]["train"]["label_counts"] == {"business": 80, "science": 80, "sports": 80, "world": 80}
    assert report["warnings"] == []


# ------------------------------------------------------------------------------------------ found by tests/fuzz
def test_a_one_row_tsv_is_one_clear_error_not_a_split_traceback(tmp_path):
    """The user report: sklearn's "test_size=1 should be ... smaller than the number of samples 1"."""
    path = tmp_path / "one.tsv"
    path.write_text("text\tlabel\nhello world\tpos\n")
    with pytest.raises(WorkbenchError, match=r"one.tsv: the training data has a single class \('pos', 1 row\(s\)\); "
                                             r"classification needs at least two, and holding out a dev split needs 2 "
                                             r"examples of each \(4 rows at least\)\."):
        load_for_training(str(path))


@pytest.mark.parametrize("rows,message", [
    ([("a", "pos"), ("b", "neg")], r"2 of 2 classes have a single example \(neg, pos\).*needs at least 2 examples per class \(4 rows"),
    ([("a", "pos"), ("b", "pos"), ("c", "neg")], r"1 of 2 classes have a single example \(neg\)"),
])
def test_fewer_than_two_examples_per_class_says_what_is_needed(tmp_path, rows, message):
    path = write(tmp_path / "d.csv", "csv", [{"text": t, "label": y} for t, y in rows])
    with pytest.raises(WorkbenchError, match=message):
        load_for_training(str(path))


@pytest.mark.parametrize("fraction", [0.01, 0.5])
def test_the_held_out_split_keeps_every_class_in_train_and_dev(tmp_path, fraction):
    """Found by tests/fuzz: 5 classes of 2-3 examples at 10% held out 1 row unstratified (or, at 50%, a class
    wholly in dev), so training lacked labels the dev split had."""
    rows = [{"text": f"t{i}", "label": f"c{i % 5}"} for i in range(12)]
    data = load_for_training(str(write(tmp_path / "d.csv", "csv", rows)), dev_fraction=fraction, seed=3)
    assert set(data.train["label"]) == {f"c{i}" for i in range(5)}
    assert set(data.eval["label"]) <= set(data.train["label"]) and len(data.eval) >= 5


@pytest.mark.parametrize("content,extra,message", [
    ("label\npos\nneg\n", {}, "no text column found"),
    ("text,label\nx,pos\n", {"text_column": "body"}, "text column 'body' not found"),
    ("text,label\nx,pos\n", {"text_column": "text", "label_column": "text"}, "must differ"),
])
def test_schema_errors_name_the_file(tmp_path, content, extra, message):
    """Found by tests/fuzz: these errors said nothing about which file they were about."""
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(WorkbenchError, match=message) as exc:
        load_for_training(str(path), **extra)
    assert str(path) in str(exc.value)
    with pytest.raises(WorkbenchError) as exc:
        inspect_source(path, model=None, **extra)
    assert str(path) in str(exc.value)


def test_a_column_name_with_a_line_break_keeps_the_error_on_one_line(tmp_path):
    """Found by tests/fuzz: a quoted header "a<newline>b" made the column list two lines."""
    path = tmp_path / "d.csv"
    path.write_text('"a\nb",c\nx,y\n')
    with pytest.raises(WorkbenchError) as exc:
        load_for_training(str(path))
    assert "\n" not in str(exc.value) and "a\\nb" in str(exc.value)


def test_a_list_label_names_the_file_and_row(tmp_path):
    """Found by tests/fuzz: "label values must be single values" did not say where."""
    rows = [{"text": f"t{i}", "label": "pos" if i % 2 else "neg"} for i in range(10)]
    rows[6]["label"] = ["pos"]
    path = write(tmp_path / "d.jsonl", "jsonl", rows)
    # One bad row of 10 is more than the 1% that may be skipped (tests/test_bad_rows.py has the rule).
    with pytest.raises(WorkbenchError, match=r"d.jsonl: 1 of 10 rows in train cannot be used \(row 7: label values "
                                             r"must be single values"):
        load_for_training(str(path))


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl"])
def test_a_utf8_bom_is_not_part_of_the_first_column(tmp_path, fmt):
    """Found by tests/fuzz: a UTF-8 BOM (what Windows editors write) made JSON and JSON-lines files "not
    well-formed"; pandas already skipped it in CSV/TSV, checked here too."""
    path = write(tmp_path / f"d.{fmt}", fmt)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    data = load_for_training(str(path))
    assert data.schema.text_column == "text" and data.schema.labels == ["neg", "pos"]


def test_a_utf8_bom_is_not_part_of_the_first_conll_token(tmp_path):
    path = tmp_path / "d.conll"
    path.write_bytes("\ufeffAngela B-PER\nmet O\n\nParis B-LOC\n\nBerlin B-LOC\n".encode())
    assert read_source(path)["train"]["tokens"][0] == ["Angela", "met"]


def test_utf16_text_is_named_as_such(tmp_path):
    """Found by tests/fuzz: a UTF-16 file was called "a binary file"."""
    path = tmp_path / "d.csv"
    path.write_text("text,label\nx,pos\n", encoding="utf-16")
    with pytest.raises(WorkbenchError, match="d.csv is UTF-16 text; re-save it as UTF-8"):
        read_source(path)


@pytest.mark.parametrize("name", ["x" * 300 + ".csv", "bad\x00name.csv"])
def test_a_path_the_os_refuses_is_a_clear_error(tmp_path, name):
    """Found by tests/fuzz: a name over 255 bytes raised OSError, a NUL raised ValueError."""
    with pytest.raises(WorkbenchError, match="cannot read data|data not found") as exc:
        load_for_training(str(tmp_path / name))
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 400


def test_a_tilde_of_no_known_user_is_data_not_found():
    """Found by tests/fuzz (--fuzz-long): "~0/d.csv" raised RuntimeError from pathlib's expanduser()."""
    from workbench.core.preview import preview_file

    for call in (lambda: load_for_training("~0/d.csv"), lambda: preview_file("~0/d.csv")):
        with pytest.raises(WorkbenchError, match="data not found: ~0/d.csv"):
            call()
