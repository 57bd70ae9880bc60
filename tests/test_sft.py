"""causal-lm-sft: loaders, prompt masking, LoRA, and an end-to-end CLI run on tiny random causal LMs."""

from __future__ import annotations

import json
import math

import pytest
from sft_helpers import tiny_gpt2_dir, tiny_llama_dir  # noqa: F401  (fixtures)

from helpers import SAMPLE_DATA
from workbench.core.config import RunConfig
from workbench.core.tasks import load_for_training
from workbench.core.errors import WorkbenchError
from workbench.core.tasks.causal_lm_sft import evaluate as sft_evaluate, prompts as sft_prompts, train as sft_train

INSTRUCTIONS = SAMPLE_DATA / "instructions"


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def chat_rows(n=20):
    return [{"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": f"What is {i} + 1?"},
                          {"role": "assistant", "content": f"{i + 1}"}]} for i in range(n)]


# ------------------------------------------------------------------------------------------ loaders
def test_alpaca_loader_normalises_to_messages():
    data = load_for_training(str(INSTRUCTIONS))
    assert data.schema.task == "causal-lm-sft"
    assert (len(data.train), len(data.eval)) == (100, 20) and data.eval_split_origin == "file"
    raw = [json.loads(line) for line in (INSTRUCTIONS / "train.jsonl").read_text().splitlines()]
    with_input = next(i for i, r in enumerate(raw) if r["input"])
    msgs = data.train[with_input]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[0]["content"] == f"{raw[with_input]['instruction']}\n\n### Input:\n{raw[with_input]['input']}"
    assert msgs[1]["content"] == raw[with_input]["output"]
    without = next(i for i, r in enumerate(raw) if not r["input"])
    assert data.train[without]["messages"][0]["content"] == raw[without]["instruction"]


def test_chat_loader_holds_out_a_seeded_dev_split(tmp_path):
    path = _write_jsonl(tmp_path / "chat.jsonl", chat_rows(20))
    a = load_for_training(str(path), dev_fraction=0.2, seed=1)
    b = load_for_training(str(path), dev_fraction=0.2, seed=1)
    assert a.schema.task == "causal-lm-sft" and (len(a.train), len(a.eval)) == (16, 4)
    assert a.eval_split_origin == "held-out from train"
    assert a.fingerprint("dev") == b.fingerprint("dev")
    assert not {json.dumps(m) for m in a.eval["messages"]} & {json.dumps(m) for m in a.train["messages"]}
    assert [m["role"] for m in a.train[0]["messages"]] == ["system", "user", "assistant"]


@pytest.mark.parametrize("rows, message", [
    ([{"instruction": "Say hi", "answer": "hi"}], "needs 'instruction' and 'output'"),
    ([{"instruction": "Say hi", "input": "", "output": "  "}], "output is empty"),
    ([{"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}], "unknown role 'robot'"),
    ([{"messages": [{"role": "user", "content": "x"}]}], "must end with an assistant message"),
    ([{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": ""}]}], "final assistant message is empty"),
    ([{"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]}], "needs 'role' and 'content'"),
])
def test_loader_errors_are_one_clear_sentence(tmp_path, rows, message):
    path = _write_jsonl(tmp_path / "bad.jsonl", rows * 3)
    with pytest.raises(WorkbenchError, match=message):
        load_for_training(str(path), task="causal-lm-sft")


# ------------------------------------------------------------------------------------------ masking
@pytest.mark.parametrize("which", ["plain", "chat"])
def test_loss_only_on_response_tokens(which, tiny_gpt2_dir, tiny_llama_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2_dir if which == "plain" else tiny_llama_dir))
    sft_prompts.ensure_special_tokens(tok)
    assert sft_prompts.has_chat_template(tok) == (which == "chat")
    messages = load_for_training(str(INSTRUCTIONS)).train[3]["messages"]
    ex = sft_prompts.encode_example(tok, messages, max_length=256)
    prompt = sft_prompts.encode_prompt(tok, messages[:-1])
    n = len(prompt)
    assert ex["input_ids"][:n] == prompt
    assert ex["labels"][:n] == [-100] * n                      # every prompt token masked
    assert all(label != -100 for label in ex["labels"][n:])    # no response token masked
    assert ex["labels"][n:] == ex["input_ids"][n:]
    response = [i for i, label in zip(ex["input_ids"], ex["labels"]) if label != -100]
    assert tok.decode(response) == messages[-1]["content"] + tok.eos_token
    prompt_text = tok.decode(prompt)
    if which == "plain":
        assert prompt_text == f"### Instruction:\n{messages[0]['content']}\n\n### Response:\n"
    else:
        assert prompt_text.startswith(tok.bos_token + "<|user|>\n") and prompt_text.endswith("<|assistant|>\n")


def test_truncation_keeps_the_prompt_response_boundary(tiny_gpt2_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2_dir))
    sft_prompts.ensure_special_tokens(tok)
    messages = [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "answer " * 100}]
    ex = sft_prompts.encode_example(tok, messages, max_length=64)
    assert len(ex["input_ids"]) == 64
    n_prompt = ex["labels"].count(-100)
    assert n_prompt == 64 - 64 // 4                          # a quarter of the budget kept for the response
    assert tok.decode(ex["input_ids"][:n_prompt]).endswith("### Response:\n")  # the prompt keeps its end
    assert tok.decode(ex["input_ids"][n_prompt:]).startswith("answer")


def test_collator_pads_labels_with_ignore_index(tiny_gpt2_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2_dir))
    data = load_for_training(str(INSTRUCTIONS))
    cfg = RunConfig(data=str(INSTRUCTIONS), max_length=128)
    ds = sft_train.tokenize(data.train.select(range(4)), tok, data, cfg)
    batch = sft_train.collator(tok)([ds[i] for i in range(4)])
    lengths = [len(ds[i]["input_ids"]) for i in range(4)]
    assert batch["input_ids"].shape == (4, max(lengths))
    for i, n in enumerate(lengths):
        assert batch["attention_mask"][i, n:].sum() == 0 and (batch["labels"][i, n:] == -100).all()
        assert batch["labels"][i, :n].tolist() == ds[i]["labels"]


# ------------------------------------------------------------------------------------------ LoRA
def test_lora_training_changes_only_adapter_weights(tiny_llama_dir, tmp_path):
    import torch
    from transformers import AutoTokenizer, Trainer, TrainingArguments

    cfg = RunConfig(data=str(INSTRUCTIONS), finetune="lora", lora_r=4, lora_alpha=8, lora_dropout=0.0, max_length=96)
    data = load_for_training(str(INSTRUCTIONS))
    tok = AutoTokenizer.from_pretrained(str(tiny_llama_dir))
    model = sft_train.build_model(str(tiny_llama_dir), data, cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".")[-4] for n in trainable} == {"q_proj", "v_proj"}  # peft's default for llama
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4, learning_rate=1e-2,
                             report_to="none", use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=sft_train.tokenize(data.train.select(range(12)), tok, data, cfg),
            data_collator=sft_train.collator(tok)).train()
    after = dict(model.named_parameters())
    for name, value in before.items():
        if name in trainable:
            continue
        assert torch.equal(value, after[name].detach()), f"base weight {name} changed"
    assert all(not torch.equal(before[n], after[n].detach()) for n in trainable if "lora_B" in n)


def test_unknown_lora_target_module_is_refused(tiny_gpt2_dir, cli, workspace):
    code, _, err = cli("train", "--data", str(INSTRUCTIONS), "--model", str(tiny_gpt2_dir), "--finetune", "lora",
                       "--lora-target-modules", "q_proj")
    assert code == 2 and "lora_target_modules 'q_proj' not in this model" in err and "c_attn" in err
    assert not (workspace / "runs").exists() or not any((workspace / "runs").iterdir())


def test_encoder_only_model_is_refused(cli, workspace):
    # `default` on instruction data is the embedded LM; the encoder named outright is refused.
    code, _, err = cli("train", "--data", str(INSTRUCTIONS), "--model", "all-MiniLM-L6-v2")
    assert code == 2 and err.startswith("error: ") and "not a causal language model" in err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------ end to end
def test_cli_sft_run_end_to_end(tiny_gpt2_dir, cli, workspace):
    code, out, err = cli("train", "--data", str(INSTRUCTIONS), "--model", str(tiny_gpt2_dir), "--epochs", "2",
                         "--batch-size", "16", "--lr", "2e-3", "--max-length", "96", "--name", "sft-e2e", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["status"] == "completed" and summary["task"] == "causal-lm-sft"
    run_dir = workspace / "runs" / summary["id"]
    info = json.loads((run_dir / "run.json").read_text())
    metrics = info["metrics"]
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["eval_loss"]))
    assert info["best_metric"]["name"] == "eval_loss"
    samples = info["evaluation"]["samples"]
    assert len(samples) == sft_evaluate.N_SAMPLES
    dev = [json.loads(line) for line in (INSTRUCTIONS / "dev.jsonl").read_text().splitlines()]
    for s, row in zip(samples, dev):
        assert s["reference"] == row["output"] and isinstance(s["generated"], str)
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [e for e in events if e["kind"] == "eval"]
    assert len(evals) >= 2 and all(e["perplexity"] == pytest.approx(math.exp(e["loss"])) for e in evals)
    train = [e["loss"] for e in events if e["kind"] == "train"]
    assert train[-1] < train[0]
    assert (run_dir / "model" / "model.safetensors").is_file()
    # One record per dev conversation with its loss and response-token count: what compare pairs runs on.
    records = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == list(range(20)) and all(r["tokens"] >= 2 and r["loss"] > 0 for r in records)
    assert [r["reference"] for r in records] == [row["output"] for row in dev]
    weighted = sum(r["loss"] * r["tokens"] for r in records) / sum(r["tokens"] for r in records)
    assert info["evaluation"]["example_loss"] == pytest.approx(weighted)
    assert weighted == pytest.approx(metrics["eval_loss"], rel=0.05)  # the Trainer averages per batch instead
    code, out, _ = cli("runs", "show", "sft-e2e")
    assert code == 0 and "perplexity" in out
    # eval on the dev file reproduces the run's own eval loss (same masking, collator and batch size)
    code, out, err = cli("eval", "sft-e2e", "--data", str(INSTRUCTIONS / "dev.jsonl"), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["rows"] == 20 and report["eval_loss"] == pytest.approx(metrics["eval_loss"], rel=1e-4)
    assert report["perplexity"] == pytest.approx(metrics["perplexity"], rel=1e-3)
    assert [s["generated"] for s in report["samples"]] == [s["generated"] for s in samples]


def test_datasets_inspect_reports_instruction_data(cli, tiny_gpt2_dir):
    code, out, err = cli("datasets", "inspect", str(INSTRUCTIONS), "--model", str(tiny_gpt2_dir), "--max-length", "64", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["task"] == "causal-lm-sft" and report["text_column"] == "messages"
    train, dev = report["splits"]["train"], report["splits"]["dev"]
    assert (train["rows"], dev["rows"]) == (100, 20) and train["label_counts"] == {"1 turn": 100}
    assert dev["overlap_with_train"] == 0 and train["duplicates"] == 0
    assert train["token_length"]["max"] > 64 and train["over_max_length"] > 0
    assert any("longer than max_length 64" in w for w in report["warnings"])
    assert train["response_token_length"]["min"] >= 2  # at least one token plus EOS


def test_cli_compare_of_sft_runs_shows_perplexity_and_samples(cli, workspace):
    import sys

    sys.path.insert(0, str(INSTRUCTIONS.parents[1] / "tests" / "ui"))
    from test_sft_screens import sft_run

    sft_run(workspace, "sft-a", generated=["old", "160", "red"], perplexity=20.0, age_s=900)
    sft_run(workspace, "sft-b", generated=["modern", "162", "blue"], perplexity=9.0, age_s=600)
    code, out, err = cli("compare", "sft-a", "sft-b", "--json")
    assert code == 0, err
    data = json.loads(out)
    row = next(m for m in data["metrics"] if m["key"] == "perplexity")
    assert row["values"] == [20.0, 9.0] and row["best"] == [1]
    assert [s["generated"] for s in data["samples"]] == [["old", "modern"], ["160", "162"], ["red", "blue"]]
    assert all("no per-example eval losses" in n for n in data["notes"])  # canned runs without predictions
    code, out, _ = cli("compare", "sft-a", "sft-b", "--markdown")
    assert code == 0 and "### Sample generations" in out and "| old | modern |" in out


@pytest.mark.parametrize("which", ["plain", "chat"])
def test_every_assistant_turn_of_a_conversation_is_learned(which, tiny_gpt2_dir, tiny_llama_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2_dir if which == "plain" else tiny_llama_dir))
    sft_prompts.ensure_special_tokens(tok)
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."},
                {"role": "user", "content": "Another one?"}, {"role": "assistant", "content": "Green."}]
    ex = sft_prompts.encode_example(tok, messages, max_length=256)
    # The learned tokens, run by run: each reply with its EOS, nothing of the system, user or template text.
    runs, current = [], []
    for token, label in zip(ex["input_ids"], ex["labels"]):
        if label == -100:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == token
            current.append(token)
    runs.append(current)
    assert [tok.decode(r) for r in runs] == ["Blue." + tok.eos_token, "Green." + tok.eos_token]
    # Masked and learned pieces together are the conversation as the template writes it; the part before
    # the final reply is the prompt generation would use.
    full = tok.decode(ex["input_ids"])
    final_prompt = sft_prompts.render_prompt(tok, messages[:-1])
    assert full == final_prompt + "Green." + tok.eos_token
    if which == "plain":
        assert "### Response:\nBlue." + tok.eos_token + "\n\n### Instruction:\nAnother one?" in full


def test_a_template_that_rewrites_history_falls_back_to_the_last_turn(tiny_llama_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_llama_dir))
    sft_prompts.ensure_special_tokens(tok)
    # Like templates that drop earlier assistant turns (e.g. reasoning models): history is not reproduced.
    tok.chat_template = ("{% for m in messages %}{% if m['role'] != 'assistant' or loop.last %}<|{{ m['role'] }}|>\n"
                         "{{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]
    ex = sft_prompts.encode_example(tok, messages, max_length=256)
    learned = [t for t, label in zip(ex["input_ids"], ex["labels"]) if label != -100]
    assert tok.decode(learned) == "Goodbye." + tok.eos_token


def test_example_losses_equal_the_models_own_loss_one_example_at_a_time(tiny_gpt2_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gpt2_dir)).eval()
    convs = [list(m) for m in load_for_training(str(INSTRUCTIONS)).eval["messages"][:6]]
    got = sft_evaluate.example_losses(model, tok, convs, max_length=96, batch_size=4)  # padded batches of mixed lengths
    for conv, (loss, tokens) in zip(convs, got):
        ex = sft_prompts.encode_example(tok, conv, 96)
        with torch.inference_mode():
            own = model(**{k: torch.tensor([v]) for k, v in ex.items()}).loss
        assert loss == pytest.approx(float(own), rel=1e-5)
        assert tokens == sum(label != -100 for label in ex["labels"][1:])


def _with_losses(workspace, name, losses, tokens, *, perplexity, age_s):
    import sys

    sys.path.insert(0, str(INSTRUCTIONS.parents[1] / "tests" / "ui"))
    from test_sft_screens import sft_run

    path = sft_run(workspace, name, generated=["a", "b", "c"], perplexity=perplexity, age_s=age_s)
    (path / "predictions.jsonl").write_text("".join(
        json.dumps({"id": i, "input": f"prompt {i}", "reference": f"answer {i}", "loss": l, "tokens": t}) + "\n"
        for i, (l, t) in enumerate(zip(losses, tokens))))
    return path


def test_compare_tests_sft_runs_on_their_per_example_losses(cli, workspace):
    import numpy as np

    rng = np.random.default_rng(0)
    base = rng.uniform(1.5, 3.0, 60)
    tokens = rng.integers(5, 40, 60).tolist()
    _with_losses(workspace, "sft-a", base.tolist(), tokens, perplexity=10.0, age_s=900)
    _with_losses(workspace, "sft-b", (base - 0.2 + rng.normal(0, 0.05, 60)).tolist(), tokens, perplexity=8.0, age_s=600)
    _with_losses(workspace, "sft-c", (base + rng.normal(0, 0.3, 60)).tolist(), tokens, perplexity=10.0, age_s=300)
    code, out, err = cli("compare", "sft-a", "sft-b", "sft-c", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["main_metric"] == "eval_loss" and not {"accuracy", "macro_f1"} & {m["key"] for m in data["metrics"]}
    assert data["disagreements"] == [] and data["same_eval"]
    pairs = {(p["a"], p["b"]): p for p in data["pairs"]}
    ab = pairs[(0, 1)]
    assert ab["measure"] == "loss" and ab["refused"] is None and ab["n"] == 60
    assert ab["significant"] and ab["winner"] == 1 and ab["diff_loss"] == pytest.approx(-0.2, abs=0.03)
    assert ab["ci_low_loss"] < ab["diff_loss"] < ab["ci_high_loss"] < 0 and ab["p_value"] < 0.001
    assert ab["b_only"] == 60 - ab["a_only"] and "sft-b has the lower eval loss" in ab["verdict"]
    ac = pairs[(0, 2)]  # noise only: no verdict either way
    assert not ac["significant"] and ac["winner"] is None and ac["ci_low_loss"] < 0 < ac["ci_high_loss"]
    assert "no significant difference" in ac["verdict"]
    code, out, _ = cli("compare", "sft-a", "sft-b")
    assert code == 0 and "Δ nats" in out
    code, out, _ = cli("compare", "sft-a", "sft-b", "--markdown")
    assert code == 0 and "**B vs A**: sft-b has the lower eval loss" in out and "lower loss: A on 0, B on 60" in out


def test_compare_refuses_sft_runs_whose_tokenizers_differ(cli, workspace):
    _with_losses(workspace, "sft-gpt2", [2.0, 2.5, 3.0], [10, 12, 8], perplexity=10.0, age_s=900)
    _with_losses(workspace, "sft-llama", [1.0, 1.5, 2.0], [9, 12, 8], perplexity=5.0, age_s=600)
    code, out, err = cli("compare", "sft-gpt2", "sft-llama", "--json")
    assert code == 0, err
    pair = json.loads(out)["pairs"][0]
    assert pair["refused"] and "different tokenizers" in pair["verdict"] and pair["p_value"] is None
