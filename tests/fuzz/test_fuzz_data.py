"""Fuzzing the data loaders: generated files through `datasets inspect` and every task's training-data loader.

Whatever the bytes, the only exception allowed out of a loader is a WorkbenchError whose message is one line
naming the file; the CLI turns it into one `error:` line and exit code 2. A loader that accepts the data must
hand the task's tokenizer something it can encode (the worker's first step), so that is checked too.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from fuzzing import budget, check_cli_error, check_error, embedded_tokenizer, run_cli, source_names
from workbench.core.errors import WorkbenchError

# --------------------------------------------------------------------------------------- cells and columns
WORDS = ["pos", "neg", "a", "b", "B-PER", "I-PER", "O", "", " ", "NaN", "nan", "None", "null", "NA", "N/A", "1", "1.0",
         "0", "-1", "2", "1e309", "inf", "-inf", "true", "False", "user", "assistant", "system", "-DOCSTART-"]
NASTY = ['"', '""', "'", ",", "\t", "\n", "\r", "\r\n", "\ufeff", "\u2028", "\x85", "\x0b", "\\", "{", "[", "é", "😀", "\u200b", "a,b", 'say "hi"', "x\ty", "line\nbreak"]
COLUMN_NAMES = ["text", "label", "sentence", "review", "class", "y", "tokens", "tags", "ner_tags", "words",
                "instruction", "input", "output", "messages", "system", "source", "target", "id", "", " ", "text",
                "label", "Unnamed: 0", "0", "text\nlabel", "la bel"]

cells = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(NASTY),
    st.text(max_size=12),
    st.integers(-3, 3).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
# A huge field now and then (truncation and length statistics), kept small enough to stay cheap.
big_cells = st.one_of(cells, st.builds(lambda c, n: c * n, st.sampled_from(["word ", "x", "é"]), st.integers(1000, 20000)))


@st.composite
def tables(draw):
    """A header and ragged rows: missing, extra, duplicate and empty columns; zero, one or a few rows."""
    header = draw(st.lists(st.sampled_from(COLUMN_NAMES) | st.text(max_size=6), min_size=0, max_size=4))
    width = max(1, len(header))
    n_rows = draw(st.sampled_from([0, 1, 1, 2, 3, 4, 6, 12]))
    one_class = draw(st.booleans())
    rows = []
    for _ in range(n_rows):
        row_width = draw(st.sampled_from([width, width, width, max(0, width - 1), width + 1, 0]))
        row = draw(st.lists(big_cells, min_size=row_width, max_size=row_width))
        if one_class and row:
            row[-1] = "pos"
        rows.append(row)
    return header, rows


def delimited(header, rows, sep: str, quoting: str) -> str:
    if quoting == "raw":
        lines = [sep.join(header)] + [sep.join(r) for r in rows]
        return "\n".join(lines) + "\n"
    out = io.StringIO()
    mode = {"minimal": csv.QUOTE_MINIMAL, "all": csv.QUOTE_ALL, "none": csv.QUOTE_NONE}[quoting]
    writer = csv.writer(out, delimiter=sep, quoting=mode, escapechar="\\", lineterminator=draw_terminator(quoting))
    try:
        writer.writerow(header)
        writer.writerows(rows)
    except csv.Error:
        return sep.join(header) + "\n"
    return out.getvalue()


def draw_terminator(quoting: str) -> str:
    return "\r\n" if quoting == "all" else "\n"


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                         st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(WORDS), st.text(max_size=10))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(COLUMN_NAMES) | st.text(max_size=4), inner, max_size=3),
                           max_leaves=8)


@st.composite
def records(draw):
    """JSON objects shaped like each task's rows, with wrong types, missing keys and nesting mixed in."""
    kind = draw(st.sampled_from(["classification", "ner", "alpaca", "chat", "parallel", "random"]))
    n = draw(st.sampled_from([0, 1, 1, 2, 3, 5, 12]))
    out = []
    for i in range(n):
        if kind == "classification":
            row = {"text": draw(big_cells | json_values), "label": draw(st.sampled_from(WORDS) | json_values)}
        elif kind == "ner":
            k = draw(st.integers(0, 4))
            row = {"tokens": draw(st.lists(cells, min_size=k, max_size=k) | json_values),
                   draw(st.sampled_from(["tags", "ner_tags", "labels"])):
                       draw(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "X", "B-", "b-per", "1"]) | json_values,
                                     min_size=draw(st.sampled_from([k, k, max(0, k - 1), k + 1])), max_size=k + 1))}
        elif kind == "alpaca":
            row = {"instruction": draw(cells | json_values), "output": draw(cells | json_values)}
            if draw(st.booleans()):
                row["input"] = draw(cells | json_values)
            if draw(st.booleans()):
                row["system"] = draw(cells | json_values)
        elif kind == "chat":
            row = {"messages": draw(st.lists(st.fixed_dictionaries(
                {"role": st.sampled_from(["system", "user", "assistant", "bot", "", "USER"]) | json_values,
                 "content": cells | json_values}) | json_values, max_size=4) | json_values)}
        elif kind == "parallel":
            row = {draw(st.sampled_from(["source", "en", "src"])): draw(cells), draw(st.sampled_from(["target", "de", "tgt"])): draw(cells)}
        else:
            row = draw(json_values)
        if draw(st.integers(0, 9)) == 0 and isinstance(row, dict) and row:
            row.pop(next(iter(row)))  # a missing key
        out.append(row)
    return out


def json_text(value, allow_nan: bool) -> str:
    return json.dumps(value, allow_nan=allow_nan, ensure_ascii=False) if allow_nan else json.dumps(value, default=str)


WORD_TOKENS = st.text(st.characters(blacklist_categories=("Z", "C")), min_size=1, max_size=5)


@st.composite
def conll_text(draw):
    """CoNLL columns: ragged widths, tag-less lines, non-IOB tags, -DOCSTART-, blank lines, IOB1."""
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        shape = draw(st.sampled_from(["token", "token", "token", "blank", "docstart", "lonely", "wide", "junk"]))
        if shape == "token":
            token = draw(st.sampled_from(["EU", "Paris", "x", ".", "é", "😀"]) | WORD_TOKENS)
            tag = draw(st.sampled_from(["O", "B-PER", "I-PER", "I-LOC", "B-MISC", "X", "B-", "b-org", "0"]))
            lines.append(f"{token} {tag}")
        elif shape == "blank":
            lines.append(draw(st.sampled_from(["", " ", "\t"])))
        elif shape == "docstart":
            lines.append("-DOCSTART- -X- O O")
        elif shape == "lonely":
            lines.append("word")
        elif shape == "wide":
            lines.append("EU NNP B-NP B-ORG")
        else:
            lines.append(draw(st.text(max_size=10)))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


@st.composite
def near_valid_rows(draw):
    """Rows that a task would accept (a few to a few dozen, two or three classes or entity types), then a few
    mutations: a nasty, huge, missing or wrongly typed value, a duplicate, a class with one example."""
    kind = draw(st.sampled_from(["classification", "classification", "ner", "alpaca", "chat"]))
    n = draw(st.sampled_from([1, 2, 3, 4, 5, 8, 13, 30]))
    labels = draw(st.sampled_from([["pos", "neg"], ["0", "1"], ["a", "b", "c"], ["1", "2.0", "3"], ["only"]]))
    rows = []
    for i in range(n):
        if kind == "classification":
            rows.append({"text": f"sentence number {i} is {'good' if i % 2 else 'bad'}", "label": labels[i % len(labels)]})
        elif kind == "ner":
            rows.append({"tokens": ["Angela", "met", "Paris", str(i)], "tags": ["B-PER", "O", "B-LOC", "O"]})
        elif kind == "alpaca":
            rows.append({"instruction": f"Say {i}", "input": "" if i % 2 else "now", "output": f"{i}!"})
        else:
            rows.append({"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "hello"}]})
    for _ in range(draw(st.integers(0, 3))):
        row = rows[draw(st.integers(0, n - 1))]
        if not row:
            continue
        key = draw(st.sampled_from(sorted(row)))
        action = draw(st.sampled_from(["value", "value", "drop", "duplicate", "extra"]))
        if action == "value":
            row[key] = draw(big_cells | json_values | st.sampled_from(NASTY))
        elif action == "drop":
            del row[key]
        elif action == "duplicate":
            rows.append(dict(row))
        else:
            row[draw(st.sampled_from(COLUMN_NAMES))] = draw(cells)
    return kind, rows


def near_valid_text(kind: str, rows, fmt: str, draw) -> tuple[str, str]:
    if fmt in ("csv", "tsv") and kind == "classification":
        header = list(dict.fromkeys(k for r in rows for k in r))
        cells_ = [[("" if r.get(k) is None else r[k]) if isinstance(r.get(k, ""), str) else json.dumps(r[k], default=str)
                   for k in header] for r in rows]
        sep = "," if fmt == "csv" else "\t"
        return f"d.{fmt}", delimited(header, cells_, sep, draw(st.sampled_from(["minimal", "minimal", "all", "raw"])))
    if fmt == "conll" and kind == "ner":
        lines = []
        for r in rows:
            toks, tags = r.get("tokens", []), r.get("tags", [])
            toks, tags = (toks, tags) if isinstance(toks, list) and isinstance(tags, list) else ([str(toks)], [str(tags)])
            lines += [f"{t} {g}" for t, g in zip(toks, tags)] + [""]
        return draw(st.sampled_from(["d.conll", "d.txt"])), "\n".join(str(line) for line in lines)
    if fmt == "json":
        return "d.json", json_text(rows, draw(st.booleans()))
    return "d.jsonl", "".join(json_text(r, draw(st.booleans())) + "\n" for r in rows)


@st.composite
def data_files(draw):
    """(file name, bytes): a generated data file of one of the loaders' formats, then maybe mangled."""
    fmt = draw(st.sampled_from(["near", "near", "near", "near", "near", "near", "csv", "tsv", "json", "jsonl", "conll", "parallel", "bytes"]))
    if fmt == "near":
        kind, rows = draw(near_valid_rows())
        name, text = near_valid_text(kind, rows, draw(st.sampled_from(["csv", "tsv", "json", "jsonl", "conll"])), draw)
    elif fmt in ("csv", "tsv"):
        header, rows = draw(tables())
        text = delimited(header, rows, "," if fmt == "csv" else "\t", draw(st.sampled_from(["raw", "minimal", "all", "none"])))
        name = f"d.{fmt}"
    elif fmt == "json":
        value = draw(records() | json_values | st.builds(lambda r: {"data": r}, records()))
        text, name = json_text(value, draw(st.booleans())), "d.json"
        if draw(st.integers(0, 4)) == 0:  # JSON lines under a .json name
            text = "".join(json_text(r, True) + "\n" for r in draw(records()))
    elif fmt == "jsonl":
        lines = [json_text(r, draw(st.booleans())) for r in draw(records())]
        if lines and draw(st.booleans()):
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]  # a torn or emptied line
        text, name = "\n".join(lines) + draw(st.sampled_from(["", "\n"])), draw(st.sampled_from(["d.jsonl", "d.ndjson"]))
    elif fmt == "conll":
        text, name = draw(conll_text()), draw(st.sampled_from(["d.conll", "d.txt", "d.iob", "d.bio"]))
    elif fmt == "parallel":
        # Aligned sentence pairs, as TSV columns or as "source ||| target" lines in a text file.
        pairs = draw(st.lists(st.tuples(cells, cells), max_size=6))
        if draw(st.booleans()):
            text, name = "source\ttarget\n" + "".join(f"{a}\t{b}\n" for a, b in pairs), "pairs.tsv"
        else:
            text, name = "".join(f"{a} ||| {b}\n" for a, b in pairs), "pairs.txt"
    else:
        return draw(st.sampled_from(["d.csv", "d.tsv", "d.json", "d.jsonl", "d.conll", "d.parquet"])), draw(st.binary(max_size=300))
    encoding = draw(st.sampled_from(["utf-8"] * 12 + ["utf-8-sig", "utf-8-sig", "utf-16", "latin-1", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    if data and draw(st.integers(0, 9)) == 0:  # truncated, or a stray byte in the middle
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] if draw(st.booleans()) else data[:cut] + draw(st.binary(min_size=1, max_size=3)) + data[cut:]
    return name, data


TASKS = ["auto", "auto", "text-classification", "token-classification", "causal-lm-sft", "question-answering"]


def _tokenize_loaded(loaded) -> None:
    """What the worker does first with loaded data: encode each split with the task's tokenizer."""
    from workbench.core.config import RunConfig
    from workbench.core.tasks import get_task

    tokenizer = embedded_tokenizer()
    if tokenizer.eos_token is None:
        tokenizer.eos_token = tokenizer.sep_token  # causal-LM SFT needs an EOS; a BERT tokenizer stands in
    cfg = RunConfig(data="x", max_length=32, doc_stride=8)
    task = get_task(loaded.schema.task)
    for split in ("train", "dev"):
        encoded = task.tokenize(loaded.splits[split], tokenizer, loaded, cfg)
        if loaded.schema.task == "question-answering":  # a long passage becomes several windows
            assert len(encoded) >= len(loaded.splits[split])
        else:
            assert len(encoded) == len(loaded.splits[split])


def _load(path: Path, task: str, eval_path: Path | None = None) -> None:
    from workbench.core.tasks import load_for_training

    names = source_names(path) + (source_names(eval_path) if eval_path else [])
    try:
        loaded = load_for_training(str(path), str(eval_path) if eval_path else None, task=task)
    except WorkbenchError as exc:
        check_error(exc, names)
        event("load error: " + _kind(str(exc), names))
        return
    event(f"load ok: {loaded.schema.task}")
    assert len(loaded.train) >= 1 and len(loaded.eval) >= 1
    if loaded.schema.task == "text-classification":
        assert len(loaded.schema.labels) >= 2
        assert set(loaded.eval["label"]) <= set(loaded.schema.labels)
    _tokenize_loaded(loaded)


def _kind(message: str, names) -> str:
    """The start of an error message without the file names: what the statistics group outcomes by."""
    for name in sorted(names, key=len, reverse=True):
        message = message.replace(name, "F")
    return message[:50]


def _inspect(path: Path, tokenizer: bool) -> None:
    code, out, err = run_cli("datasets", "inspect", str(path), "--json", *([] if tokenizer else ["--no-tokenizer"]))
    if code == 0:
        report = json.loads(out)
        assert report["splits"], report
        event(f"inspect ok: {report['task']}")
    else:
        check_cli_error(code, out, err, source_names(path))


@pytest.fixture
def cached_tokenizer(monkeypatch):
    """`datasets inspect` loads its tokenizer per call; the fuzz tests load it once."""
    import workbench.core.datasets as datasets

    monkeypatch.setattr(datasets, "inspect_tokenizer", lambda model, task=None: (embedded_tokenizer(), "all-MiniLM-L6-v2"))


@budget(150)
@given(file=data_files(), task=st.sampled_from(TASKS), tokenizer=st.booleans())
def test_any_data_file_gives_data_or_one_clean_error(cached_tokenizer, file, task, tokenizer):
    name, content = file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        _load(path, task)
        _inspect(path, tokenizer)


@budget(40)
@given(train=data_files(), dev=data_files(), as_eval_data=st.booleans(), task=st.sampled_from(TASKS))
def test_any_folder_of_split_files_gives_data_or_one_clean_error(cached_tokenizer, train, dev, as_eval_data, task):
    """A folder with train/dev files, or a train file plus --eval-data: the error names the file at fault."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "set"
        folder.mkdir()
        train_path = folder / ("train" + Path(train[0]).suffix)
        dev_path = (Path(tmp) if as_eval_data else folder) / ("dev" + Path(dev[0]).suffix)
        train_path.write_bytes(train[1])
        dev_path.write_bytes(dev[1])
        if as_eval_data:
            _load(train_path, task, dev_path)
        else:
            _load(folder, task)
            _inspect(folder, tokenizer=False)


@budget(60)
@given(n_rows=st.integers(1, 12), n_classes=st.integers(1, 4), fraction=st.sampled_from([0.01, 0.1, 0.25, 0.5]),
       seed=st.integers(0, 2**31 - 1), fmt=st.sampled_from(["csv", "tsv"]))
def test_tiny_sets_get_a_clear_answer_about_the_dev_split(n_rows, n_classes, fraction, seed, fmt):
    """However few rows or examples per class, a held-out dev split either works (every label of dev seen in
    train, both non-empty) or is one error saying what is needed."""
    from workbench.core.tasks import load_for_training

    sep = "," if fmt == "csv" else "\t"
    rows = [(f"example sentence {i}", f"c{i % n_classes}") for i in range(n_rows)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"tiny.{fmt}"
        path.write_text(f"text{sep}label\n" + "".join(f"{t}{sep}{y}\n" for t, y in rows))
        try:
            loaded = load_for_training(str(path), dev_fraction=fraction, seed=seed)
        except WorkbenchError as exc:
            check_error(exc, [path.name])
            assert any(word in str(exc) for word in ("at least", "single class")), str(exc)
            return
    assert len(loaded.train) >= 1 and len(loaded.eval) >= 1
    assert set(loaded.eval["label"]) <= set(loaded.train["label"])
    assert set(loaded.train["label"]) == {f"c{i}" for i in range(n_classes)}


@st.composite
def squad_documents(draw):
    """SQuAD-format JSON, often damaged: offsets off by some characters or of the wrong type, empty or missing
    questions and passages, unanswerable questions, answers that are not in the passage, wrong nesting."""
    texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
    paragraphs = []
    for p in range(draw(st.integers(0, 4))):
        context = draw(st.one_of(texts, st.just("The bridge was designed by Clara Voss in 1998."), st.none(), st.integers()))
        qas = []
        for q in range(draw(st.integers(0, 4))):
            answers = []
            for _ in range(draw(st.integers(0, 3))):
                if isinstance(context, str) and context and draw(st.booleans()):
                    a = draw(st.integers(0, len(context) - 1))
                    b = draw(st.integers(a + 1, len(context)))
                    start = draw(st.one_of(st.just(a), st.integers(-3, len(context) + 3), st.just(str(a)), st.floats(),
                                           st.none()))
                    answers.append({"text": context[a:b], "answer_start": start})
                else:
                    answers.append(draw(st.one_of(st.fixed_dictionaries({"text": texts, "answer_start": st.integers(-2, 50)}),
                                                  st.text(max_size=5), st.none())))
            qa = {"id": draw(st.one_of(st.just(f"{p}-{q}"), st.integers(), st.none())),
                  "question": draw(st.one_of(texts, st.just("Who designed it?"), st.none())), "answers": answers}
            if draw(st.booleans()):
                qa["is_impossible"] = draw(st.booleans())
            qas.append(qa)
        paragraphs.append(draw(st.one_of(st.just({"context": context, "qas": qas}), st.just({"context": context}),
                                         st.just(qas))))
    return {"version": "1.1", "data": [{"title": "T", "paragraphs": draw(st.one_of(st.just(paragraphs), st.just(None)))}]}


@budget(60)
@given(doc=squad_documents())
def test_any_squad_file_gives_questions_or_one_clean_error(doc):
    """Question answering: whatever a SQuAD-format file holds, loading gives usable windows or one error naming it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        _load(path, "question-answering")
