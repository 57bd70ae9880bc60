"""causal-lm-sft export: ONNX decoder with past keys/values, greedy parity, torch-free generation, merged LoRA."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
import subprocess
import sys

import pytest
from sft_helpers import tiny_gpt2_dir, tiny_llama_dir  # noqa: F401  (fixtures)

from helpers import REPO, SAMPLE_DATA
from workbench.core.config import RunConfig
from workbench.core.errors import WorkbenchError
from workbench.core.runs import RUN_FILE, RunStore, atomic_write_json

INSTRUCTIONS = SAMPLE_DATA / "instructions"
PROMPTS = ["Give the opposite of the word.\n\n### Input:\nquiet", "Name a colour of the sky.", "What is 2 + 2?"]


def _canned_run(ws, name, fill_model):
    """A completed SFT run whose model/ is written by ``fill_model(model_dir)`` (no training needed)."""
    store = RunStore(ws)
    cfg = RunConfig(data=str(INSTRUCTIONS), task="causal-lm-sft", name=name).to_dict()
    run = store.create(cfg, name=name, task="causal-lm-sft")
    fill_model(run.model_dir)
    atomic_write_json(run.path / RUN_FILE, {**run.info, "status": "completed", "metrics": {"eval_loss": 6.0}})
    return store, store.get(run.id)


@pytest.fixture(scope="module")
def gpt2_export(tiny_gpt2_dir, tmp_path_factory):
    from workbench.core.export import export_run

    ws = tmp_path_factory.mktemp("sft-export-ws")
    store, run = _canned_run(ws, "full-gpt2", lambda d: shutil.copytree(tiny_gpt2_dir, d))
    manifest = export_run(run, workspace=store.workspace)
    return ws, run, manifest


@pytest.fixture(scope="module")
def lora_export(tiny_llama_dir, tmp_path_factory):
    """A Llama run whose LoRA adapter has random (non-zero) A and B, so merging really changes the weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.core.export import export_run

    def fill(model_dir):
        torch.manual_seed(1)
        base = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), dtype=torch.float32)
        peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                     init_lora_weights=False, task_type="CAUSAL_LM"))
        peft_model.save_pretrained(str(model_dir))
        AutoTokenizer.from_pretrained(str(tiny_llama_dir)).save_pretrained(str(model_dir))

    ws = tmp_path_factory.mktemp("sft-lora-ws")
    store, run = _canned_run(ws, "lora-llama", fill)
    return ws, run, export_run(run, workspace=store.workspace), tiny_llama_dir


def test_export_writes_a_decoder_with_past_and_parity(gpt2_export):
    import onnxruntime as ort

    ws, run, manifest = gpt2_export
    export_dir = ws / "exports" / "full-gpt2"
    assert {"model.onnx", "tokenizer.json", "config.json", "manifest.json", "README.md"} <= {p.name for p in export_dir.iterdir()}
    session = ort.InferenceSession(str(export_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names[:3] == ["input_ids", "attention_mask", "position_ids"]
    assert names[3:] == [f"past_key_values.{i}.{kv}" for i in range(2) for kv in ("key", "value")]
    assert [o.name for o in session.get_outputs()][1:] == [f"present.{i}.{kv}" for i in range(2) for kv in ("key", "value")]
    v = manifest["validation"]
    assert v["all_identical"] and v["identical"] == v["prompts"] == 4
    assert all(r["prompt_ids_equal"] and r["pytorch_ids"] == r["onnx_ids"] for r in v["rows"])
    assert v["max_abs_logit_diff_prompt"] < 1e-4
    assert manifest["prompt"] == {"template": "plain", "prefix": "### Instruction:\n", "suffix": "\n\n### Response:\n",
                                  "add_special_tokens": True}
    assert manifest["lora"] is None and json.loads((export_dir / "manifest.json").read_text())["validation"]["all_identical"]


def test_onnx_greedy_generation_matches_pytorch_on_new_prompts(gpt2_export, tiny_gpt2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator
    from workbench.core.tasks.causal_lm_sft.prompts import encode_prompt, ensure_special_tokens
    from workbench.core.tasks.causal_lm_sft.evaluate import generate

    ws, _, _ = gpt2_export
    gen = OnnxGenerator(ws / "exports" / "full-gpt2")
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gpt2_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2_dir))
    ensure_special_tokens(tok)
    for text in PROMPTS:
        messages = [{"role": "user", "content": text}]
        assert gen.encode(text) == encode_prompt(tok, messages)
        onnx_ids = list(gen.generate_ids(gen.encode(text), max_new_tokens=20))
        assert onnx_ids == generate(model, tok, messages, max_new_tokens=20)
        assert gen.generate(text, max_new_tokens=20) == tok.decode(onnx_ids, skip_special_tokens=True)


def test_onnx_sampling_and_eos(gpt2_export, tmp_path):
    from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator

    ws, _, _ = gpt2_export
    gen = OnnxGenerator(ws / "exports" / "full-gpt2")
    ids = gen.encode(PROMPTS[0])
    a = list(gen.generate_ids(ids, max_new_tokens=12, temperature=1.5, top_p=0.95, seed=3))
    b = list(gen.generate_ids(ids, max_new_tokens=12, temperature=1.5, top_p=0.95, seed=3))
    assert a == b and len(a) == 12                                      # seeded sampling is reproducible
    assert len(list(gen.generate_ids(ids, max_new_tokens=5))) == 5      # max_new_tokens caps the length
    # Generation stops at EOS: declare the first greedy token the EOS of a copy of the export.
    first = next(gen.generate_ids(ids, max_new_tokens=1))
    copy = tmp_path / "eos-copy"
    shutil.copytree(ws / "exports" / "full-gpt2", copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "eos_token_ids": [first]}))
    assert list(OnnxGenerator(copy).generate_ids(ids, max_new_tokens=10)) == []


def test_merged_lora_export_matches_the_adapter_model(lora_export):
    ws, run, manifest, base_dir = lora_export
    v = manifest["validation"]
    assert manifest["lora"]["merged"] is True
    assert v["all_identical"] and v["prompts"] == 4 and v["max_abs_logit_diff_prompt"] < 1e-4
    assert manifest["prompt"]["template"] == "chat_template" and manifest["prompt"]["add_special_tokens"] is False
    assert manifest["cache"] == {"num_layers": 2, "num_key_value_heads": 1, "head_dim": 16}
    # The adapter really matters: the base model alone generates something else on at least one prompt.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.core.tasks.causal_lm_sft.prompts import ensure_special_tokens
    from workbench.core.tasks.causal_lm_sft.evaluate import generate

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(base_dir))
    ensure_special_tokens(tok)
    base_ids = [generate(base, tok, [{"role": "user", "content": r["prompt"]}], max_new_tokens=v["max_new_tokens"])
                for r in v["rows"]]
    assert base_ids != [r["onnx_ids"] for r in v["rows"]]


def test_generation_never_imports_torch_or_transformers(gpt2_export):
    ws, _, _ = gpt2_export
    export_dir = ws / "exports" / "full-gpt2"
    code = f"""
import json, sys
from workbench.core.inference import open_predictor
text = open_predictor({str(export_dir)!r}).generate("Name a colour.", max_new_tokens=8)
from workbench.cli import main
assert main(["predict", {str(export_dir)!r}, "Name a colour.", "--max-new-tokens", "8", "--json"]) == 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "datasets", "sklearn", "peft"))
print(json.dumps({{"heavy": heavy, "text": text}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["heavy"] == []
    assert json.loads(lines[0]) == {"row": 1, "prompt": "Name a colour.", "generated": result["text"]}


def test_cli_export_predict_and_refusals(gpt2_export, capsys):
    from workbench.cli import main

    ws, run, _ = gpt2_export
    export_dir = ws / "exports" / "full-gpt2"
    assert main(["--workspace", str(ws), "predict", "full-gpt2", PROMPTS[1], "--max-new-tokens", "6"]) == 0
    from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator

    assert capsys.readouterr().out == OnnxGenerator(export_dir).generate(PROMPTS[1], max_new_tokens=6) + "\n"
    for argv, message in ((["export", "full-gpt2"], "already exists"),
                          (["predict", str(export_dir), "x", "--int8"], "has no int8 model"),
                          (["predict", str(export_dir), "x", "--top-p", "0"], "--top-p")):
        assert main(["--workspace", str(ws), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not list((ws / "exports").glob(".*partial*"))


@pytest.fixture(scope="module")
def gpt2_int8_export(tiny_gpt2_dir, tmp_path_factory):
    from workbench.core.export import export_run

    ws = tmp_path_factory.mktemp("sft-int8-ws")
    store, run = _canned_run(ws, "int8-gpt2", lambda d: shutil.copytree(tiny_gpt2_dir, d))
    # Random weights: int8's perplexity change says nothing here, so the gate is opened wide.
    manifest = export_run(run, workspace=store.workspace, int8=True, max_int8_drop=1000.0)
    return ws, run, manifest


def test_int8_export_scores_every_engine_on_the_eval_conversations(gpt2_int8_export):
    import math
    from pathlib import Path

    from workbench.core.tasks.causal_lm_sft.predict import OnnxGenerator

    ws, run, manifest = gpt2_int8_export
    export_dir = Path(manifest["path"])
    assert manifest["files"]["int8"] == "model.int8.onnx" and (export_dir / "model.int8.onnx").is_file()
    assert manifest["sizes_bytes"]["model.int8.onnx"] < manifest["sizes_bytes"]["model.onnx"]
    quality = manifest["validation"]["quality"]
    assert quality["rows"] == 20 and quality["response_tokens"] > 20  # the 20 dev conversations of the sample data
    engines = {e["engine"]: e for e in quality["engines"]}
    assert list(engines) == ["pytorch", "onnx-fp32", "onnx-int8"]
    # ONNX fp32 scores every response as PyTorch does; int8 differs a little and says by how much.
    assert engines["onnx-fp32"]["max_abs_loss_diff"] < 1e-4
    assert engines["onnx-fp32"]["eval_loss"] == pytest.approx(engines["pytorch"]["eval_loss"], abs=1e-5)
    int8 = engines["onnx-int8"]
    assert int8["perplexity"] == pytest.approx(math.exp(int8["eval_loss"]))
    assert int8["perplexity_increase_pct"] == pytest.approx((int8["perplexity"] / engines["pytorch"]["perplexity"] - 1) * 100, abs=1e-3)
    assert 0 < int8["max_abs_loss_diff"] < 1.0
    assert 0 <= manifest["validation"]["int8_greedy_identical"] <= 4
    assert "| onnx-int8 |" in (export_dir / "README.md").read_text()
    text = OnnxGenerator(export_dir, int8=True).generate(PROMPTS[1], max_new_tokens=5)
    assert isinstance(text, str)
    # Decoders get 8-bit weights (MatMulNBits), not dynamic int8: no activation is quantised per batch.
    import onnx

    ops = {n.op_type for n in onnx.load(str(export_dir / "model.int8.onnx"), load_external_data=False).graph.node}
    assert "MatMulNBits" in ops and "DynamicQuantizeLinear" not in ops
    q = manifest["quantization"]
    assert q["bits"] == 8 and "MatMulNBits" in q["method"]
    # GPT-2's Conv1D layers export as Gemm nodes, which MatMulNBits does not take: they are rewritten as MatMul + Add
    # first, so all 2 layers × 4 projections and the lm_head get 8-bit weights and nothing stays fp32.
    assert q["gemm_rewritten"] == 8 and q["quantized"] == 9 and q["left_in_fp32"] == {}
    assert "Gemm" not in ops


def test_int8_export_is_refused_when_perplexity_rises_too_much(gpt2_int8_export, monkeypatch):
    from workbench.core.tasks.causal_lm_sft import export as lm_export
    from workbench.core.export import export_run

    ws, run, _ = gpt2_int8_export
    real = lm_export.quality_report

    def worse(*args, **kwargs):
        report = real(*args, **kwargs)
        report["engines"][-1]["perplexity_increase_pct"] = 12.5
        return report

    monkeypatch.setattr(lm_export, "quality_report", worse)
    with pytest.raises(WorkbenchError, match=r"int8 perplexity is 12.50% above PyTorch's on 20 eval conversations"):
        export_run(run, workspace=ws, int8=True, force=True)  # default gate: 5%
    assert (ws / "exports" / "int8-gpt2" / "model.int8.onnx").is_file()  # the earlier export is untouched
    assert not list((ws / "exports").glob(".*partial*"))


def test_bench_of_a_causal_lm_export(gpt2_int8_export, capsys):
    from workbench.cli import main

    ws, _, manifest = gpt2_int8_export
    assert main(["--workspace", str(ws), "bench", manifest["path"], "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "causal-lm" and result["settings"]["threads"] == 1 and result["settings"]["batch"] == 1
    assert list(result["engines"]) == ["pytorch", "onnx-fp32", "onnx-int8"]
    for name, row in result["engines"].items():
        assert row["prefill_p50_ms"] > 0 and row["decode_p50_ms"] > 0
        assert row["decode_tokens_per_s"] == pytest.approx(1000 / row["decode_p50_ms"], rel=1e-2)
        assert row["prefill_tokens_per_s"] == pytest.approx(128 * 1000 / row["prefill_p50_ms"], rel=1e-2)
        if name != "pytorch":
            assert row["speedup_decode_p50"] == pytest.approx(
                result["engines"]["pytorch"]["decode_p50_ms"] / row["decode_p50_ms"], rel=1e-2)
    saved = json.loads((Path(manifest["path"]) / "manifest.json").read_text())["benchmark"]
    assert saved["engines"].keys() == result["engines"].keys()
    # Each engine's held-out perplexity and greedy agreement, as the export measured them, beside its speed.
    quality = {e["engine"]: e["perplexity"] for e in manifest["validation"]["quality"]["engines"]}
    assert {n: r["perplexity"] for n, r in result["engines"].items()} == quality
    assert result["engines"]["onnx-fp32"]["greedy_identical"] == "4/4"
    assert main(["--workspace", str(ws), "bench", manifest["path"], "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "decode ms/token" in out and "onnx-int8" in out and "greedy = pytorch" in out


def test_export_of_a_run_scored_by_generation_scores_every_engine(tiny_llama_dir, tmp_path):
    """A translation run (scored by BLEU/chrF): each engine generates for the same eval prompts, scored as the run
    was; ONNX fp32 writes PyTorch's texts, so its scores are PyTorch's."""
    from workbench.core.export import export_run

    store = RunStore(tmp_path)
    cfg = RunConfig(data=str(SAMPLE_DATA / "translation"), task="causal-lm-sft", name="mt", max_new_tokens=6).to_dict()
    run = store.create(cfg, name="mt", task="causal-lm-sft")
    shutil.copytree(tiny_llama_dir, run.model_dir)
    atomic_write_json(run.path / RUN_FILE, {**run.info, "status": "completed", "metrics": {"eval_loss": 6.0},
                                            "evaluation": {"generation": {"groups": ["bleu", "chrf"]}}})
    manifest = export_run(store.get(run.id), workspace=store.workspace, int8=True, max_int8_drop=1000.0)
    generation = manifest["validation"]["generation"]
    assert generation["groups"] == ["bleu", "chrf"] and generation["primary"] == "bleu" and generation["max_new_tokens"] == 6
    dev = (SAMPLE_DATA / "translation" / "dev.en").read_text().splitlines()
    assert generation["rows"] == min(len(dev), 32)
    engines = {e["engine"]: e for e in generation["engines"]}
    assert list(engines) == ["pytorch", "onnx-fp32", "onnx-int8"]
    fp32 = engines["onnx-fp32"]
    assert fp32["same_text_as_pytorch"] == generation["rows"] and fp32["bleu_diff"] == 0.0
    assert (fp32["bleu"], fp32["chrf"]) == (engines["pytorch"]["bleu"], engines["pytorch"]["chrf"])
    assert 0 <= engines["onnx-int8"]["same_text_as_pytorch"] <= generation["rows"]
    # A Llama's projections are MatMuls: all 7 per layer and the lm_head get 8-bit weights, none stays fp32.
    q = manifest["quantization"]
    assert q["quantized"] == 2 * 7 + 1 and q["gemm_rewritten"] == 0 and q["left_in_fp32"] == {}
    assert "| onnx-int8 |" in (Path(manifest["path"]) / "README.md").read_text().split("Greedy generations")[1]
