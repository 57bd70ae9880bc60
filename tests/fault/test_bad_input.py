"""The bad-input corpus: every case is one clear `error:` line, exit code 2, no traceback and no run left behind.

Run alone with: python -m pytest tests/fault -q
"""

from __future__ import annotations

import json

import pytest

from helpers import SAMPLE_DATA
from workbench.core.runs import RunStore

TOPICS = SAMPLE_DATA / "topics"
GOOD = [("a calm and tidy sentence number %d" % i, "pos" if i % 2 else "neg") for i in range(30)]


def csv_text(rows, header="text,label") -> str:
    return header + "\n" + "".join(f"{t},{y}\n" for t, y in rows)


# (case id, {file name: content (str or bytes)}, extra CLI args, expected message fragment)
CASES = [
    ("empty-file", {"d.csv": b""}, [], "is empty"),
    ("binary-file", {"d.csv": bytes(range(256)) * 4}, [], "binary"),
    ("non-utf8", {"d.csv": "text,label\ncafé crème,pos\nthé,neg\n".encode("latin-1")}, [], "not UTF-8"),
    ("truncated-quote", {"d.csv": 'text,label\n"never closed,pos\nx,neg\n'}, [], "not well-formed"),
    ("ragged-extra-fields", {"d.csv": "text,label\na,pos,zzz,yyy\nb,neg\n"}, [], "not well-formed"),
    ("ragged-later-row", {"d.csv": csv_text(GOOD) + "c,neg,extra\n"}, [], "not well-formed"),
    ("ragged-missing-field", {"d.csv": csv_text(GOOD) + "lonely\n"}, [], "empty or NaN label"),
    ("truncated-json", {"d.json": '[{"text": "a", "label": "x"}, {"text": "b", "lab'}, [], "not well-formed"),
    ("json-not-a-list", {"d.json": '{"text": "a", "label": "x"}'}, [], "expected a JSON list"),
    ("broken-jsonl-line", {"d.jsonl": '{"text": "a", "label": "x"}\n{"text": "b", "label"\n'}, [], "not well-formed"),
    ("header-only", {"d.csv": "text,label\n"}, [], "no rows"),
    ("unknown-format", {"d.xlsx": "whatever"}, [], "unknown data format"),
    ("missing-text-column", {"d.csv": csv_text(GOOD)}, ["--text-column", "body"], "'body' not found"),
    ("misspelt-label-column", {"d.csv": csv_text(GOOD)}, ["--label-column", "lable"], "did you mean 'label'"),
    ("ambiguous-text", {"d.jsonl": "".join(json.dumps({"premise": f"a long premise sentence {i}", "hypothesis": f"a long hypothesis sentence {i}", "y": i % 2}) + "\n" for i in range(30))}, [], "text column is ambiguous"),
    ("ambiguous-label", {"d.jsonl": "".join(json.dumps({"text": f"sentence {i}", "a": i % 2, "b": (i // 2) % 2}) + "\n" for i in range(30))}, [], "label column is ambiguous"),
    ("nan-label", {"d.jsonl": "".join(json.dumps({"text": f"t {i}", "label": None if i == 4 else i % 2}) + "\n" for i in range(30))}, [], "empty or NaN label"),
    ("mixed-type-labels", {"d.jsonl": "".join(json.dumps({"text": f"t {i}", "label": i % 2 if i % 3 else "pos"}) + "\n" for i in range(30))}, [], "mixes numeric and text"),
    ("single-class", {"d.csv": csv_text([(t, "pos") for t, _ in GOOD])}, [], "single class"),
    ("unseen-eval-label", {"train.csv": csv_text(GOOD), "dev.csv": csv_text([("x", "pos"), ("y", "maybe")])}, [], "never seen in training"),
    ("empty-eval-split", {"train.csv": csv_text(GOOD), "dev.csv": "text,label\n"}, [], "no rows"),
    ("eval-data-missing", {"d.csv": csv_text(GOOD)}, ["--eval-data", "/nonexistent/dev.csv"], "data not found"),
    ("missing-file", {}, ["--data", "/nonexistent/train.csv"], "data not found"),
    ("negative-lr", {"d.csv": csv_text(GOOD)}, ["--lr=-1e-5"], "lr must be greater than 0"),
    ("zero-lr", {"d.csv": csv_text(GOOD)}, ["--lr", "0"], "lr must be greater than 0"),
    ("zero-batch", {"d.csv": csv_text(GOOD)}, ["--batch-size", "0"], "batch_size must be greater than 0"),
    ("negative-epochs", {"d.csv": csv_text(GOOD)}, ["--epochs=-2"], "epochs must be greater than 0"),
    ("zero-max-steps", {"d.csv": csv_text(GOOD)}, ["--max-steps", "0"], "max_steps must be greater than 0"),
    ("max-length-beyond-model", {"d.csv": csv_text(GOOD)}, ["--max-length", "4096"], "exceeds what"),
    ("unknown-model", {"d.csv": csv_text(GOOD)}, ["--model", "nobody/nothing-here"], "not found; tried"),
    ("model-dir-without-weights", {"d.csv": csv_text(GOOD), "m/config.json": "{}"}, ["--model", "{tmp}/m"], "no weights"),
    ("name-with-slash", {"d.csv": csv_text(GOOD)}, ["--name", "a/b"], "must not contain"),
    ("name-dotdot", {"d.csv": csv_text(GOOD)}, ["--name", ".."], "must not contain"),
    ("name-with-nul", {"d.csv": csv_text(GOOD)}, ["--name", "bad\x00name"], "NUL"),
    ("name-300-chars", {"d.csv": csv_text(GOOD)}, ["--name", "n" * 300], "the limit is 80"),
    ("config-unknown-key", {"d.csv": csv_text(GOOD), "c.yaml": "learning_rate: 0.1\n"}, ["--config", "{tmp}/c.yaml"], "unknown setting"),
    ("config-not-yaml", {"d.csv": csv_text(GOOD), "c.yaml": "a: [unclosed\n"}, ["--config", "{tmp}/c.yaml"], "not valid YAML"),
    ("config-code-tag", {"d.csv": csv_text(GOOD), "c.yaml": "data: !!python/object/apply:os.system ['true']\n"}, ["--config", "{tmp}/c.yaml"], "not valid YAML"),
    # Found by the fuzz tests (tests/fuzz): each was a traceback or a message of more than one line.
    ("one-row-tsv", {"d.tsv": "text\tlabel\nhello world\tpos\n"}, [], "holding out a dev split needs 2 examples of each"),
    ("one-example-per-class", {"d.csv": "text,label\na,pos\nb,neg\nc,pos\n"}, [], "needs at least 2 examples per class"),
    ("data-path-too-long", {}, ["--data", "/tmp/" + "x" * 300 + ".csv"], "File name too long"),
    ("list-label", {"d.jsonl": "".join(json.dumps({"text": f"t{i}", "label": [i] if i == 3 else i % 2}) + "\n" for i in range(30))}, [], "row 4: label values must be single values"),
    ("newline-in-column-name", {"d.csv": '"a\nb",c\n' + "".join(f"x{i},y{i}\n" for i in range(30))}, [], "a\\nb"),
    ("yaml-key-with-newline", {"d.csv": csv_text(GOOD), "c.yaml": '"lr\\nx": 1\n'}, ["--config", "{tmp}/c.yaml"], "unknown setting"),
    ("yaml-list-for-model", {"d.csv": csv_text(GOOD), "c.yaml": "model: [a, b]\n"}, ["--config", "{tmp}/c.yaml"], "model must be text"),
]


@pytest.mark.parametrize("case,files,extra,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, files, extra, message, tmp_path, cli, workspace):
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    data = next((str(tmp_path / n) for n in files if n.startswith("d.")), str(tmp_path))
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    if "--data" not in args and "--config" not in args:
        args = ["--data", data, *args]
    elif "--config" in args and "--data" not in args:
        args = ["--data", data, *args]
    code, out, err = cli("train", *args)
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert "Traceback" not in out + err
    assert RunStore(workspace).list() == [], "bad input must not leave a run behind"


def test_argument_errors_are_one_line(cli):
    code, out, err = cli("train", "--lr", "-1e-5")  # argparse reads "-1e-5" as an option
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "usage" not in err


def test_an_argument_with_a_line_break_is_one_line(cli):
    """Found by tests/fuzz: argparse printed "unrecognized arguments: a<newline>b" on two lines."""
    code, out, err = cli("train", "--detach", "a\nb")
    assert code == 2 and err.startswith("error: unrecognized arguments: a\\nb") and err.count("\n") == 1, err


def test_corpus_has_at_least_30_cases():
    assert len(CASES) >= 30


def test_megabyte_texts_are_accepted_and_truncated(tmp_path):
    """A 1 MB text is not an error: inspect warns about it and training truncates it to max_length."""
    from workbench.core.tasks import inspect_source, load_for_training

    rows = [("word " * 200_000, "pos")] + GOOD
    (tmp_path / "d.csv").write_text(csv_text(rows))
    data = load_for_training(str(tmp_path / "d.csv"))
    assert max(len(t) for t in list(data.train["text"]) + list(data.eval["text"])) >= 1_000_000
    report = inspect_source(tmp_path / "d.csv", max_length=128)
    assert any("longer than max_length" in w for w in report["warnings"])
