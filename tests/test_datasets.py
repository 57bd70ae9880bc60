import json
from pathlib import Path

import pandas as pd
import pytest

from workbench.core.datasets import inspect_source, load_for_training, read_source, infer_schema
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
