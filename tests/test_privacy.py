"""Differentially private training (DP-SGD through Opacus): the noise, the clipping, the budget, resume, refusals."""

from __future__ import annotations

import json
import math

from pathlib import Path

import pytest
from helpers import SAMPLE_DATA, wait_for
from sft_helpers import tiny_llama_dir  # noqa: F401  (fixture)

from workbench.core.config import RunConfig
from workbench.core.errors import WorkbenchError
from workbench.core.runs import RunStore
from workbench.core.training import privacy

SENTIMENT = str(SAMPLE_DATA / "sentiment")  # 320 training rows, 80 dev


def dp_args(model_dir, *extra):
    return ["train", "--data", SENTIMENT, "--model", str(model_dir), "--dp-epsilon", "8", "--finetune", "full", "--batch-size", "32",
            "--dp-physical-batch-size", "12", "--lr", "3e-3", "--max-length", "32", "--logging-steps", "2",
            # Word embeddings left trainable (text classification freezes them by default), so that the privacy
            # checks are the ones that freeze them: Opacus computes no per-example gradient for them.
            "--embeddings", "train", *extra]


def epsilon_after(plan: privacy.PrivacyPlan, steps: int) -> float:
    """What Opacus's accountant says after ``steps`` steps of ``plan``, computed here from scratch."""
    from opacus.accountants import create_accountant

    accountant = create_accountant(mechanism=plan.accountant)
    accountant.history = [(plan.noise_multiplier, plan.sample_rate, steps)]
    return accountant.get_epsilon(delta=plan.delta)


# ------------------------------------------------------------------------------------------ the plan
@pytest.mark.parametrize("n,delta", [(67_349, 1e-5), (1_000, 1e-4), (320, 1e-3), (14_041, 1e-5), (9, 0.1), (10, 0.01)])
def test_default_delta_is_the_power_of_ten_below_one_over_n(n, delta):
    assert privacy.default_delta(n) == delta
    assert privacy.default_delta(n) < 1 / n


@pytest.mark.parametrize("epsilon,accountant", [(8.0, "prv"), (3.0, "rdp"), (1.0, "prv")])
def test_noise_multiplier_is_opacus_own(epsilon, accountant):
    from opacus.accountants.utils import get_noise_multiplier

    cfg = RunConfig(data="x", dp_epsilon=epsilon, dp_accountant=accountant, batch_size=256, epochs=3)
    plan = privacy.plan_privacy(cfg, 8_000)
    assert plan.sample_rate == 1 / math.ceil(8_000 / 256) and plan.steps == 3 * 32 and plan.delta == 1e-4
    expected = get_noise_multiplier(target_epsilon=epsilon, target_delta=1e-4, sample_rate=1 / 32, steps=96,
                                    accountant=accountant, epsilon_tolerance=0.01)
    assert plan.noise_multiplier == expected
    # The multiplier spends the budget, all of it (within Opacus's search tolerance) and no more.
    assert epsilon - 0.02 <= epsilon_after(plan, plan.steps) <= epsilon


def test_head_clipping_changes_the_split_not_the_noise():
    flat = privacy.plan_privacy(RunConfig(data="x", dp_epsilon=8.0, batch_size=256), 8_000)
    head = privacy.plan_privacy(RunConfig(data="x", dp_epsilon=8.0, batch_size=256, dp_clipping="head"), 8_000)
    assert (flat.clipping, head.clipping) == ("flat", "head") and head.noise_multiplier == flat.noise_multiplier
    assert "the task head and the rest apart" in head.describe() and "apart" not in flat.describe()
    assert privacy.PrivacyPlan.from_record(head.to_dict()) == head
    old = {k: v for k, v in flat.to_dict().items() if k != "clipping"}  # run.json of a run from before the setting
    assert privacy.PrivacyPlan.from_record(old).clipping == "flat"
    assert RunConfig(data="x", dp_epsilon=8.0, dp_clipping="layers").validate().get("dp_clipping")


def test_a_budget_no_noise_reaches_is_one_clear_error():
    cfg = RunConfig(data="x", dp_epsilon=1e-4, dp_delta=1e-9, batch_size=256, epochs=100)
    with pytest.raises(WorkbenchError, match="no noise level reaches"):
        privacy.plan_privacy(cfg, 1_000)
    with pytest.raises(WorkbenchError, match="larger than the 100 training examples"):
        privacy.plan_privacy(RunConfig(data="x", dp_epsilon=8.0, batch_size=256), 100)


def test_private_runs_get_their_own_batch_and_learning_rate_defaults():
    from workbench.core.tasks import apply_task_defaults

    private = apply_task_defaults(RunConfig(data="x", dp_epsilon=8.0), "text-classification", 67_349)
    plain = apply_task_defaults(RunConfig(data="x"), "text-classification", 67_349)
    assert (private.batch_size, private.lr, private.finetune) == (1024, 1e-2, "lora")  # the task's measured rate
    # A task that measured no private rate of its own takes the shared one.
    ner = apply_task_defaults(RunConfig(data="x", dp_epsilon=8.0), "token-classification", 14_041)
    assert (ner.lr, ner.finetune) == (5e-4, "lora")
    assert (plain.batch_size, plain.lr, plain.finetune) == (32, 5e-5, "full")
    # A small data set: an eighth of it per expected batch, so an epoch still has about eight steps.
    assert apply_task_defaults(RunConfig(data="x", dp_epsilon=8.0), "text-classification", 320).batch_size == 40
    given = apply_task_defaults(RunConfig(data="x", dp_epsilon=8.0, batch_size=64, lr=1e-4, finetune="full"),
                                "token-classification", 14_041)
    assert (given.batch_size, given.lr, given.finetune) == (64, 1e-4, "full")
    # Full fine-tuning chosen under DP keeps the task's own learning rate (NER: 2e-4).
    assert apply_task_defaults(RunConfig(data="x", dp_epsilon=8.0, finetune="full"), "token-classification").lr == 2e-4
    # The task head's own rate: 5e-2 when left empty, the user's when given; no privacy, no head rate.
    assert private.dp_head_lr == 5e-2 and plain.dp_head_lr is None
    assert apply_task_defaults(RunConfig(data="x", dp_epsilon=8.0, dp_head_lr=1e-3), "text-classification").dp_head_lr == 1e-3


# ------------------------------------------------------------------------------------------ the step
def _private_trainer(model_dir, plan, *, dropout: float = 0.0, bf16: bool = False):
    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    import torch

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2, hidden_dropout_prob=dropout,
                                                               attention_probs_dropout_prob=dropout)
    texts = ["good film", "a dull and long movie", "great", "terrible acting all round", "fine", "not bad at all",
             "awful", "superb work here"]
    ds = Dataset.from_dict({"text": texts, "label": [1, 0, 1, 0, 1, 1, 0, 1]})
    ds = ds.map(lambda b: tokenizer(b["text"]), batched=True).remove_columns(["text"])
    privacy.check_model(model)
    args = TrainingArguments(output_dir=str(model_dir / "dp-out"), per_device_train_batch_size=8, max_grad_norm=0.0,
                             report_to="none", use_cpu=True, learning_rate=0.0, bf16=bf16)
    collator = DataCollatorWithPadding(tokenizer)
    trainer = privacy.private_trainer_class(Trainer, plan, "sequence")(model=model, args=args, train_dataset=ds,
                                                                       data_collator=collator)
    trainer.create_optimizer()
    trainer.current_gradient_accumulation_steps = 1
    return trainer, model, ds, collator


def _plan(**changes):
    values = dict(target_epsilon=8.0, delta=1e-3, max_grad_norm=0.05, accountant="rdp", examples=8, sample_rate=1.0,
                  steps=1, noise_multiplier=0.0, expected_batch_size=8.0, physical_batch_size=3)
    return privacy.PrivacyPlan(**{**values, **changes})


def test_each_example_gradient_is_clipped_then_averaged_across_physical_passes(tiny_model_dir):
    """Without noise, the update equals the mean of every example's own gradient clipped to the bound, computed
    one example at a time here, although the Trainer saw the batch in passes of 3, 3 and 2 examples."""
    import torch

    plan = _plan()
    trainer, model, ds, collator = _private_trainer(tiny_model_dir, plan)
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    expected = [torch.zeros_like(p) for p in params]
    norms = []
    for i in range(len(ds)):
        model.zero_grad()
        one = collator([ds[i]])
        logits = model(**{k: v for k, v in one.items() if k != "labels"}).logits
        torch.nn.functional.cross_entropy(logits, one["labels"]).backward()
        norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))
        norms.append(norm)
        for e, p in zip(expected, params):
            e += min(1.0, plan.max_grad_norm / (norm + 1e-6)) * p.grad
    assert min(norms) > 10 * plan.max_grad_norm  # every example is clipped: the bound is what is tested
    model.zero_grad()
    trainer.training_step(model, dict(collator([ds[i] for i in range(len(ds))])))
    trainer._dp_optimizer.pre_step()
    for e, p in zip(expected, params):
        torch.testing.assert_close(p.grad, e / plan.expected_batch_size, atol=1e-7, rtol=1e-4)
    # So the update's norm is at most the bound (here: all examples clipped, pointing alike).
    total = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))
    assert total <= plan.max_grad_norm + 1e-6


def test_runs_show_says_how_the_gradients_were_clipped():
    from workbench.cli.report import privacy_text

    record = {"epsilon": 7.98, "target_epsilon": 8.0, "delta": 1e-5, "noise_multiplier": 0.5, "accountant": "prv",
              "max_grad_norm": 1.0}
    assert privacy_text({**record, "clipping": "flat"}).endswith("(noise multiplier 0.500, PRV, clipping 1)")
    assert privacy_text(record).endswith("clipping 1)")  # a run from before the setting clipped flat
    assert privacy_text({**record, "clipping": "head"}).endswith("clipping 1, head apart)")


def test_head_clipping_bounds_the_head_and_the_rest_apart(tiny_model_dir):
    """dp_clipping head: each example's gradient on the classifier and on the rest, each clipped to C / sqrt(2), one
    example at a time here, summed over passes of 3, 3 and 2; the whole still within C, the noise scaled to C."""
    import torch

    plan = _plan(clipping="head")
    trainer, model, ds, collator = _private_trainer(tiny_model_dir, plan)
    assert type(trainer._dp_optimizer).__name__ == "GroupClippingDPOptimizer"
    assert trainer._dp_optimizer.max_grad_norm == plan.max_grad_norm  # the noise's scale: the sensitivity is C
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    bound = plan.max_grad_norm / math.sqrt(2)
    model.train()
    expected = {n: torch.zeros_like(p) for n, p in named}
    shares = []
    for i in range(len(ds)):
        model.zero_grad()
        one = collator([ds[i]])
        torch.nn.functional.cross_entropy(model(**{k: v for k, v in one.items() if k != "labels"}).logits,
                                          one["labels"]).backward()
        norm = {head: math.sqrt(sum(float((p.grad ** 2).sum()) for n, p in named if n.startswith("classifier.") is head))
                for head in (True, False)}
        shares.append(norm[True] / norm[False])
        for n, p in named:
            expected[n] += min(1.0, bound / (norm[n.startswith("classifier.")] + 1e-6)) * p.grad
    assert min(min(shares), 1 / max(shares)) < 0.9  # the two parts differ in size: flat clipping would not split alike
    model.zero_grad()
    trainer.training_step(model, dict(collator([ds[i] for i in range(len(ds))])))
    trainer._dp_optimizer.pre_step()
    for n, p in named:
        torch.testing.assert_close(p.grad, expected[n] / plan.expected_batch_size, atol=1e-7, rtol=1e-4)
    total = math.sqrt(sum(float((p.grad ** 2).sum()) for _, p in named))
    assert total <= plan.max_grad_norm + 1e-6


def test_head_clipping_without_a_separate_head_clips_flat(tiny_model_dir):
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("classifier."))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    assert privacy.group_clipping_optimizer(optimizer, model, noise_multiplier=1.0, max_grad_norm=1.0,
                                            expected_batch_size=8) is None


def test_an_empty_poisson_draw_under_head_clipping_still_adds_the_noise(tiny_model_dir):
    import torch

    trainer, model, ds, collator = _private_trainer(tiny_model_dir, _plan(noise_multiplier=2.0, max_grad_norm=1.0,
                                                                          clipping="head"))
    torch.manual_seed(1)
    assert float(trainer.training_step(model, dict(privacy.collate_allowing_empty(collator, ds)([])))) == 0.0
    trainer._dp_optimizer.pre_step()
    noise = torch.cat([p.grad.flatten() for p in trainer._dp_optimizer.params])
    assert noise.std().item() == pytest.approx(2.0 / 8.0, rel=0.05)


def test_the_task_head_trains_at_its_own_learning_rate(tiny_model_dir):
    """dp_head_lr moves the classifier's weights into groups of their own; the rest keep lr, and the weight-decay
    split of both is the Trainer's."""
    trainer, model, ds, collator = _private_trainer(tiny_model_dir, _plan(head_lr=0.05))
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [(g["lr"], g["weight_decay"], sorted(names[id(p)] for p in g["params"]))
              for g in trainer._dp_optimizer.param_groups]
    head = [(lr, wd, n) for lr, wd, n in groups if any(x.startswith("classifier.") for x in n)]
    body = [(lr, wd, n) for lr, wd, n in groups if not any(x.startswith("classifier.") for x in n)]
    assert sorted((lr, n) for lr, _, n in head) == [(0.05, ["classifier.bias"]), (0.05, ["classifier.weight"])]
    assert {lr for lr, _, _ in body} == {0.0} and len(body) == 2  # the test Trainer's own lr (0.0), decay and not
    trained = {n for _, _, ns in groups for n in ns}
    assert trained == {n for n, p in model.named_parameters() if p.requires_grad}  # nothing lost or doubled
    # The Trainer's schedule scales each group from its own rate.
    trainer.create_scheduler(num_training_steps=10, optimizer=trainer.optimizer)
    assert sorted(trainer.lr_scheduler.base_lrs) == [0.0, 0.0, 0.05, 0.05]


def test_a_model_that_trains_only_its_head_gets_the_head_rate(tiny_model_dir):
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("classifier."))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    assert privacy.with_head_lr(optimizer, model, 0.05) is optimizer
    assert [(g["lr"], len(g["params"])) for g in optimizer.param_groups] == [(0.05, 2)]


def test_without_a_head_rate_the_optimizer_is_the_trainer_s(tiny_model_dir):
    trainer, model, ds, collator = _private_trainer(tiny_model_dir, _plan())
    assert len(trainer._dp_optimizer.param_groups) == 2 and {g["lr"] for g in trainer._dp_optimizer.param_groups} == {0.0}


def test_under_bf16_autocast_the_clipped_gradients_are_fp32(tiny_model_dir):
    import torch

    plan = _plan()
    trainer, model, ds, collator = _private_trainer(tiny_model_dir, plan, bf16=True)
    trainer.training_step(model, dict(collator([ds[i] for i in range(len(ds))])))
    samples = [p.grad_sample for p in trainer._dp_optimizer.params]
    assert all(s.dtype == torch.float32 for s in samples)  # Opacus made most of them bf16 under autocast
    norms = torch.stack([s.reshape(len(s), -1).norm(dim=1) for s in samples]).norm(dim=0)
    assert len(norms) == 2  # the last physical pass: examples 7 and 8
    trainer._dp_optimizer.pre_step()
    total = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in trainer._dp_optimizer.params))
    assert total <= plan.max_grad_norm * (1 + 1e-6)


def test_an_empty_poisson_draw_still_adds_the_noise(tiny_model_dir):
    import torch

    plan = _plan(noise_multiplier=2.0, max_grad_norm=1.0)
    trainer, model, ds, collator = _private_trainer(tiny_model_dir, plan)
    collate = privacy.collate_allowing_empty(collator, ds)
    batch = collate([])
    assert privacy.EMPTY_BATCH_KEY in batch
    torch.manual_seed(1)
    loss = trainer.training_step(model, dict(batch))
    assert float(loss) == 0.0
    trainer._dp_optimizer.pre_step()
    noise = torch.cat([p.grad.flatten() for p in trainer._dp_optimizer.params])
    # Gaussian noise of std sigma * C, divided by the expected batch: nothing of the placeholder example.
    assert noise.std().item() == pytest.approx(2.0 / 8.0, rel=0.05)


def test_poisson_batches_replay_per_epoch_and_vary_in_size():
    sampler = privacy.poisson_batch_sampler(1_000, 0.05, 20, seed=3)
    sampler.set_epoch(1)
    first = list(sampler)
    assert len(first) == len(sampler) == 20
    assert len({len(b) for b in first}) > 3 and 30 < sum(map(len, first)) / 20 < 70  # about q * N = 50
    sampler.set_epoch(2)
    assert list(sampler) != first
    sampler.set_epoch(1)
    assert list(sampler) == first


def test_a_layer_opacus_cannot_handle_is_named():
    import torch

    class WithBatchNorm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = torch.nn.Linear(4, 4)
            self.norm = torch.nn.BatchNorm1d(4)

    with pytest.raises(WorkbenchError, match="BatchNorm"):
        privacy.check_model(WithBatchNorm())


@pytest.mark.parametrize("kind,shift", [("token", False), ("next-token", True)])
def test_token_losses_are_each_examples_own_mean(kind, shift):
    import torch

    torch.manual_seed(0)
    logits = torch.randn(2, 5, 3)
    labels = torch.tensor([[0, 1, -100, -100, -100], [2, 2, 1, 0, 1]])
    got = privacy.per_example_loss(logits, labels, kind)
    for i in range(2):
        lg, lb = (logits[i, :-1], labels[i, 1:]) if shift else (logits[i], labels[i])
        keep = lb != -100
        assert got[i].item() == pytest.approx(torch.nn.functional.cross_entropy(lg[keep], lb[keep]).item(), rel=1e-5)


# ------------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def private_run(tiny_model_dir, tmp_path_factory):
    """One private run on sample_data/sentiment through the CLI: (workspace, exit code, stdout)."""
    from helpers import kill_workers

    from workbench.cli import main

    ws = tmp_path_factory.mktemp("dp-ws")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--workspace", str(ws), *dp_args(tiny_model_dir, "--epochs", "2", "--name", "dp-tiny")])
    yield ws, code, out.getvalue()
    kill_workers(ws)


def test_a_private_run_spends_its_budget_and_says_so(private_run):
    ws, code, out = private_run
    assert code == 0
    assert "noise multiplier" in out and "target ε 8" in out  # shown before launch
    run = RunStore(ws).get("dp-tiny")
    p = run.info["privacy"]
    plan = privacy.PrivacyPlan.from_record(p)
    assert (p["examples"], p["delta"], plan.sample_rate, p["steps_taken"]) == (320, 1e-3, 0.1, 20)
    assert 7.9 <= p["epsilon"] <= 8.0
    assert p["epsilon"] == pytest.approx(epsilon_after(plan, 20), abs=1e-6)
    assert run.metrics["epsilon"] == p["epsilon"] and run.metrics["delta"] == 1e-3
    assert "bert.embeddings.word_embeddings.weight" in p["frozen"]
    assert run.config["group_by_length"] is False and run.config["dp_epsilon"] == 8.0
    # pooling auto: a private classifier reads the mean of the last layer (workbench.core.pooling), pooler frozen.
    assert json.loads((run.model_dir / "config.json").read_text())["workbench_pooling"] == "mean"
    log = run.log_path.read_text()
    assert "length-bucketed batches are off" in log
    events = [e for e in run.read_metrics() if e["kind"] == "train"]
    eps = [e["epsilon"] for e in events]
    assert eps == sorted(eps) and eps[-1] == pytest.approx(p["epsilon"], abs=1e-3)
    assert all(e.get("grad_norm") is None for e in events)  # the raw batch gradient's norm is not private
    # Every checkpoint holds the accountant's history.
    saved = [json.loads((c / privacy.ACCOUNTANT_FILE).read_text()) for c in (run.path / "checkpoints").glob("checkpoint-*")]
    assert saved and all(s["mechanism"] == "prv" for s in saved)


def test_runs_show_and_compare_carry_the_guarantee(private_run, tiny_model_dir, capsys):
    ws, _, _ = private_run
    from workbench.cli import main

    assert main(["--workspace", str(ws), "runs", "show", "dp-tiny", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["privacy"]["epsilon"] <= 8.0 and shown["metrics"]["delta"] == 1e-3
    assert main(["--workspace", str(ws), "runs", "show", "dp-tiny"]) == 0
    assert "of 8 spent, δ 1e-03" in capsys.readouterr().out
    # A non-private run beside it: the compare table has a privacy row with the ε of the private one only.
    assert main(["--workspace", str(ws), "train", "--data", SENTIMENT, "--model", str(tiny_model_dir), "--max-steps", "4",
                 "--max-length", "32", "--name", "plain", "--json"]) == 0
    capsys.readouterr()
    assert main(["--workspace", str(ws), "compare", "dp-tiny", "plain", "--json"]) == 0
    rows = {m["key"]: m for m in json.loads(capsys.readouterr().out)["metrics"]}
    assert rows["epsilon"]["values"][0] == pytest.approx(shown["privacy"]["epsilon"]) and rows["epsilon"]["values"][1] is None


def test_the_export_model_card_states_the_guarantee(private_run, capsys, tmp_path):
    ws, _, _ = private_run
    from workbench.cli import main

    assert main(["--workspace", str(ws), "export", "dp-tiny", "--out", str(tmp_path / "exp"), "--json"]) == 0
    card = (tmp_path / "exp" / "README.md").read_text()
    manifest = json.loads((tmp_path / "exp" / "manifest.json").read_text())
    assert "## Differential privacy" in card and "PRV accountant" in card
    assert f"{round(manifest['privacy']['epsilon'], 3)}, 1e-03)-differentially private" in card
    assert "320 training examples" in card
    # A private run reads the mean (pooling auto): the card says so, as the exported config does.
    assert manifest["pooling"] == "mean" and "reads the mean of the last layer" in card
    assert json.loads((tmp_path / "exp" / "config.json").read_text())["workbench_pooling"] == "mean"


def test_resume_continues_the_budget(tiny_model_dir, cli, workspace):
    code, out, _ = cli(*dp_args(tiny_model_dir, "--max-steps", "40", "--eval-strategy", "steps", "--eval-steps", "10",
                                "--dp-accountant", "rdp", "--detach", "--json"))
    assert code == 0
    run_id = json.loads(out)["id"]
    store = RunStore(workspace)
    wait_for(lambda: (store.get(run_id).info.get("progress") or {}).get("step", 0) >= 15, timeout=180)
    assert cli("runs", "stop", run_id, "--wait", "120")[0] == 0
    stopped = store.get(run_id)
    assert stopped.status == "stopped" and stopped.info["progress"]["step"] < 40
    assert cli("runs", "resume", run_id, "--json")[0] == 0
    run = store.get(run_id)
    assert run.status == "completed" and run.info["progress"]["step"] == 40
    assert "privacy accountant restored from checkpoint-" in run.log_path.read_text()
    plan = privacy.PrivacyPlan.from_record(run.info["privacy"])
    # ε at every logged step is that of the steps taken so far, before and after the resume: continued, not restarted.
    for event in (e for e in run.read_metrics() if e["kind"] == "train"):
        assert event["epsilon"] == pytest.approx(epsilon_after(plan, event["step"]), abs=2e-3), event["step"]
    assert run.info["privacy"]["epsilon"] == pytest.approx(epsilon_after(plan, 40), abs=1e-6)
    assert run.info["privacy"]["epsilon"] <= 8.0


@pytest.mark.parametrize("extra,message", [
    (["--torch-compile"], "torch_compile cannot be combined with dp_epsilon"),
    (["--nproc", "2"], "dp_epsilon trains in one process"),
    (["--grad-accum", "2"], "grad_accum must be 1 with dp_epsilon"),
    (["--auto-find-batch-size"], "auto_find_batch_size cannot be combined"),
    (["--group-by-length"], "--group-by-length cannot be combined with --dp-epsilon"),
    (["--dp-delta", "1.5"], "dp_delta must be between 0 and 1"),
    (["--dp-epsilon", "0"], "dp_epsilon must be greater than 0"),
    (["--batch-size", "400"], "larger than the 320 training examples"),
])
def test_refusals_are_one_error_line_and_no_run(tiny_model_dir, cli, workspace, extra, message):
    code, out, err = cli(*dp_args(tiny_model_dir, *extra))
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[0].startswith("error:") and message in " ".join(lines)
    assert not (workspace / "runs").exists() or not list((workspace / "runs").iterdir())


def test_question_answering_refuses_privacy_and_says_why(tiny_model_dir, cli, workspace):
    code, _, err = cli("train", "--data", str(SAMPLE_DATA / "qa"), "--model", str(tiny_model_dir), "--dp-epsilon", "8",
                       "--max-length", "64", "--doc-stride", "16")
    assert code == 2 and "not available for extractive question answering" in err and "windows" in err


def test_ner_trains_privately_on_each_sentence_s_own_loss(tiny_model_dir, cli, workspace):
    code, out, _ = cli("train", "--data", str(SAMPLE_DATA / "ner"), "--model", str(tiny_model_dir), "--dp-epsilon", "8",
                       "--batch-size", "16", "--max-steps", "6", "--max-length", "48", "--json")
    assert code == 0
    summary = json.loads(out[out.index("{"):])
    assert summary["status"] == "completed" and summary["task"] == "token-classification"
    assert 7.9 <= summary["privacy"]["epsilon"] <= 8.0 and "f1" in summary["metrics"]


def test_lora_with_privacy_trains_only_the_adapter(tiny_llama_dir, cli, workspace):
    code, out, _ = cli("train", "--data", str(SAMPLE_DATA / "instructions"), "--model", str(tiny_llama_dir),
                       "--finetune", "lora", "--dp-epsilon", "8", "--batch-size", "16", "--max-steps", "4",
                       "--max-length", "48", "--json")
    assert code == 0
    summary = json.loads(out[out.index("{"):])
    assert summary["status"] == "completed" and summary["privacy"]["frozen"] == []  # peft froze the base already
    assert summary["privacy"]["epsilon"] <= 8.0
    log = (Path(summary["run_dir"]) / "stdout.log").read_text()
    assert "only the adapter weights (and a task head) are trained, privately" in log
    run_json = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert 0 < summary["privacy"]["trained_parameters"] < run_json["parameters"] / 4
