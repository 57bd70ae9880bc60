"""How much of a private step is signal: the clipped gradient's mean against the noise DP-SGD adds, per weight group.

A DP-SGD step adds Gaussian noise of standard deviation sigma * C to the sum of the clipped per-example gradients
and divides by the expected batch B, so the noise in the averaged gradient has norm sigma * C / B * sqrt(d) over d
weights. The signal is the norm of the expected clipped per-example gradient (estimated on ``--examples`` rows
with the sampling noise of a finite batch taken out, so it does not shrink as the batch grows). Their ratio, per group of
weights (task head, pooler, LoRA A and B, the encoder's matrices, biases, layer norms), says which groups a
private step moves in a useful direction and which it only moves at random. Over T steps the signal adds up
linearly and independent noise as sqrt(T), so a group whose ratio is r needs about 1 / r^2 steps before what it
has learned stands out of the noise: ``steps_to_signal`` below, to compare with the steps the run has.

Everything is measured at the start of training (the pretrained encoder, a fresh head) on ``--examples`` real
SST-2 training rows, with the workbench's own model build (``first_token.py`` included), LoRA wrapping, Opacus
per-example gradient hooks and per-example losses, and sigma from Opacus for the plan (epsilon, delta, N, B, epochs).

    python benchmarks/private_signal.py                          # full, lora, head; plans with B = 256 and 1,024
    python benchmarks/private_signal.py --modes lora --batches 2048 --rows 67349 --epochs 10

It then checks a fresh classifier alone (``head_rates``): DP-SGD on what the pretrained model's classifier reads
(``--head-pooling``: the pooler output, the mean of the last layer, or both) for ``--head-rows`` rows at each of
``--head-rates``, with and without the plan's noise.

    python benchmarks/private_signal.py --modes "" --head-rows 66349 --head-batch 1024 --epochs 1 --head-rates 5e-2,2e-1
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED, write_subsets  # noqa: E402

MODES = ("full", "lora", "head")


def group_of(name: str) -> str:
    for key in ("classifier", "pooler", "lora_A", "lora_B", "LayerNorm"):
        if key in name:
            return key
    return "bias" if name.endswith("bias") else "matrices"


def build(mode: str, train: Path, selection: Path, epsilon: float, pooling: str = "auto"):
    """The default model as a private run of ``mode`` builds it (``pooling``: RunConfig.pooling, auto: the mean), and
    the run's tokenizer and data."""
    from transformers import AutoTokenizer

    from workbench.core.config import RunConfig
    from workbench.core.pooling import pooling_of
    from workbench.core.tasks import apply_task_defaults, get_task
    from workbench.core.training import privacy
    from workbench.core.training.trainer import prepare

    cfg = RunConfig(data=str(train), eval_data=str(selection), dp_epsilon=epsilon, finetune="full" if mode == "head" else mode,
                    pooling=pooling)
    resolved, data = prepare(cfg)
    task = get_task(data.schema.task)
    model = task.build_model(resolved.path, data, apply_task_defaults(cfg, data.schema.task, len(data.train)))
    if mode == "head":  # only the classifier (and the pooler when it reads it): the encoder as pretrained
        head = ("classifier",) if pooling_of(model) == "mean" else ("classifier", "bert.pooler")
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(head))
    privacy.check_model(model)
    return model, AutoTokenizer.from_pretrained(resolved.path), data


def expected_gradient(mode: str, train: Path, selection: Path, examples: int, epsilon: float, clip: float,
                      physical: int = 32, pooling: str = "auto", clipping: str = "flat") -> dict:
    """Per weight group: the squared norm of the expected clipped per-example gradient, estimated without the
    sampling noise of a finite batch (|sum|^2 - sum of |each|^2, over examples * (examples - 1))."""
    import torch

    from workbench.core.training import privacy

    torch.manual_seed(0)
    model, tokenizer, data = build(mode, train, selection, epsilon, pooling)
    privacy.add_grad_sample_hooks(model)
    texts = [str(t) for t in data.train["text"][:examples]]
    label_ids = {label: i for i, label in enumerate(data.schema.labels)}
    labels = torch.tensor([label_ids[str(v)] for v in data.train["label"][:examples]])
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    summed = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in named}
    own = collections.defaultdict(float)  # per group: the sum over examples of |clipped gradient|^2
    norms: list[float] = []
    # Per group, each example's unclipped gradient norm: which groups take the shared clipping bound.
    group_norms: dict[str, list[float]] = collections.defaultdict(list)
    model.train()
    for start in range(0, examples, physical):
        enc = tokenizer(texts[start:start + physical], padding=True, truncation=True, max_length=128, return_tensors="pt")
        privacy.per_example_loss(model(**enc).logits, labels[start:start + physical], "sequence").mean().backward()
        per = {n: p.grad_sample.reshape(len(p.grad_sample), -1).double() for n, p in named}
        flat = torch.stack([g.norm(dim=1) for g in per.values()]).norm(dim=0)
        norms += flat.tolist()
        squares = collections.defaultdict(float)
        for n, g in per.items():
            squares[group_of(n)] = squares[group_of(n)] + (g ** 2).sum(dim=1)
        for key, sq in squares.items():
            group_norms[key] += sq.sqrt().tolist()
        if clipping == "head":  # dp_clipping head: the classifier and the rest apart, each to clip / sqrt(2)
            part = {h: torch.stack([g.norm(dim=1) for n, g in per.items() if privacy.is_head_parameter(n) is h]).norm(dim=0)
                    for h in (True, False)}
            factors = {h: (clip / math.sqrt(2) / (part[h] + 1e-6)).clamp(max=1.0) for h in part}
            factor_of = {n: factors[privacy.is_head_parameter(n)] for n in per}
        else:
            factor = (clip / (flat + 1e-6)).clamp(max=1.0)  # Opacus's per-example clipping factor
            factor_of = {n: factor for n in per}
        for n, p in named:
            summed[n] += (factor_of[n][:, None] * per[n]).sum(dim=0).view_as(summed[n])
            own[group_of(n)] += float(((factor_of[n][:, None] * per[n]) ** 2).sum())
            p.grad_sample = None
            p.grad = None
    groups: dict[str, dict] = {}
    for n, p in named:
        g = groups.setdefault(group_of(n), {"weights": 0, "sum_sq": 0.0})
        g["weights"] += p.numel()
        g["sum_sq"] += float((summed[n] ** 2).sum())
    m = examples
    for key, g in groups.items():
        g["signal"] = math.sqrt(max(0.0, (g.pop("sum_sq") - own[key]) / (m * (m - 1))))
    norms_t = torch.tensor(norms)
    for key, values in group_norms.items():
        t = torch.tensor(values)
        groups[key]["example_grad_norm"] = {"median": round(float(t.median()), 4),
                                            "p90": round(float(t.quantile(0.9)), 4)}
    return {"groups": groups, "example_grad_norm": {"median": round(float(norms_t.median()), 3),
                                                    "min": round(float(norms_t.min()), 3),
                                                    "max": round(float(norms_t.max()), 3)}}


def plan_for(batch: int, rows: int, epsilon: float, epochs: float, clip: float):
    from workbench.core.config import RunConfig
    from workbench.core.training import privacy

    cfg = RunConfig(data="x", dp_epsilon=epsilon, batch_size=batch, epochs=epochs, dp_max_grad_norm=clip)
    return privacy.plan_privacy(cfg, rows)


def ratios(measured: dict, plan) -> dict:
    """Signal against the noise of ``plan``'s steps, per group."""
    noise_per_weight = plan.noise_multiplier * plan.max_grad_norm / plan.expected_batch_size
    table = {}
    for key, g in sorted(measured["groups"].items(), key=lambda kv: -kv[1]["weights"]):
        noise = noise_per_weight * math.sqrt(g["weights"])
        ratio = g["signal"] / noise
        table[key] = {"weights": g["weights"], "signal": round(g["signal"], 5), "noise": round(noise, 5),
                      "ratio": round(ratio, 4), "steps_to_signal": round(1 / ratio ** 2) if ratio else None,
                      "example_grad_norm": g.get("example_grad_norm")}
    return table


def head_rates(train: Path, selection: Path, rates: list[float], *, sigma: float, batch: int, steps: int,
               clip: float = 1.0, seed: int = 0, pooling: str = "first") -> dict:
    """DP-SGD on the classifier alone, over what the pretrained model's classifier reads (``pooling`` "first": the
    pooler output; "mean": the mean of the last layer over the text's tokens) computed once (no dropout), at
    each learning rate, with no noise and with ``sigma``: Poisson batches of ``batch`` expected rows, per-example
    clipping at ``clip``, AdamW with the Trainer's schedule (6% warm-up, linear decay). Selection accuracy after
    ``steps`` steps, and the share of the selection rows predicted positive (the majority class would be one
    label for all). What it isolates: whether a fresh head can learn from these features in this many steps."""
    import torch

    model, tokenizer, data = build("head", train, selection, 8.0, pooling)
    model.eval()
    label_ids = {label: i for i, label in enumerate(data.schema.labels)}

    def features(split):
        texts = [str(t) for t in split["text"]]
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), 128):
                enc = tokenizer(texts[start:start + 128], padding=True, truncation=True, max_length=128, return_tensors="pt")
                out.append(model.bert(**enc).pooler_output)  # the mean, when pooling is mean (core/pooling.py)
        return torch.cat(out), torch.tensor([label_ids[str(v)] for v in split["label"]])

    x, y = features(data.train)
    sx, sy = features(data.eval)
    warmup = max(1, math.ceil(0.06 * steps))

    def train_head(lr: float, noise: float) -> dict:
        g = torch.Generator().manual_seed(seed)
        head = torch.nn.Linear(x.shape[1], len(label_ids))
        torch.nn.init.normal_(head.weight, std=0.02, generator=g)
        torch.nn.init.zeros_(head.bias)
        opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
        for t in range(steps):
            idx = (torch.rand(len(x), generator=g) < batch / len(x)).nonzero().flatten()
            err = torch.softmax(head(x[idx]), -1) - torch.nn.functional.one_hot(y[idx], len(label_ids)).float()
            gw, gb = err[:, :, None] * x[idx][:, None, :], err  # each example's gradient, in closed form
            factor = (clip / ((gw.flatten(1) ** 2).sum(1) + (gb ** 2).sum(1)).sqrt().add(1e-6)).clamp(max=1.0)
            head.weight.grad = ((factor[:, None, None] * gw).sum(0) + noise * clip * torch.randn(gw.shape[1:], generator=g)) / batch
            head.bias.grad = ((factor[:, None] * gb).sum(0) + noise * clip * torch.randn(gb.shape[1:], generator=g)) / batch
            for group in opt.param_groups:
                group["lr"] = lr * min((t + 1) / warmup, (steps - t) / max(1, steps - warmup))
            opt.step()
        with torch.no_grad():
            pred = head(sx).argmax(-1)
        return {"selection_accuracy": round(float((pred == sy).float().mean()), 4),
                "predicted_positive": round(float(pred.float().mean()), 4)}

    spread = x.std(dim=0).mean().item()
    kind = "pooler output" if pooling == "first" else "mean of the last layer over the text's tokens"
    return {"pooling": pooling, "features": f"{kind} of the pretrained model (eval mode)", "feature_mean_norm": round(x.mean(0).norm().item(), 4),
            "feature_std_per_dimension": round(spread, 4), "train_rows": len(x), "selection_rows": len(sx),
            "batch": batch, "steps": steps, "sigma": sigma, "clip": clip,
            "rates": [{"lr": lr, "no_noise": train_head(lr, 0.0), "with_noise": train_head(lr, sigma)} for lr in rates]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=SHARED / "sst2")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--batches", default="256,1024", help="expected batches B, comma-separated")
    parser.add_argument("--rows", type=int, default=20_000, help="N, the training examples the plan is for")
    parser.add_argument("--epsilon", type=float, default=8.0)
    parser.add_argument("--epochs", type=float, default=3.0, help="the plan's epochs (with B and N: its steps)")
    parser.add_argument("--clip", type=float, default=1.0, help="dp_max_grad_norm C")
    parser.add_argument("--examples", type=int, default=1024,
                        help="training rows the expected gradient is estimated on")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "private_signal_cpu.json")
    parser.add_argument("--head-rates", default="5e-4,5e-3,5e-2,5e-1",
                        help="learning rates for the classifier-alone check (empty: skip it)")
    parser.add_argument("--head-rows", type=int, default=4000)
    parser.add_argument("--head-batch", type=int, default=256)
    parser.add_argument("--head-pooling", default="first,mean",
                        help="what the classifier alone reads, comma-separated: first (the pooler), mean")
    parser.add_argument("--pooling", default="auto", choices=("auto", "first", "mean"),
                        help="the model the signal table measures (RunConfig.pooling; auto: a private run's, the mean)")
    parser.add_argument("--clipping", default="flat", choices=("flat", "head"), help="dp_clipping of the signal table")
    args = parser.parse_args()
    train = args.data_dir / "train.tsv"
    if not train.is_file():
        raise SystemExit(f"{train} not found (the shared SST-2 data set)")
    from workbench.core.telemetry import host_record

    batches = [int(b) for b in args.batches.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        train_csv, selection = write_subsets(train, Path(tmp), args.examples, 100, seed=0)
        for mode in [m for m in args.modes.split(",") if m]:
            started = time.time()
            measured = expected_gradient(mode, train_csv, selection, args.examples, args.epsilon, args.clip,
                                         pooling=args.pooling, clipping=args.clipping)
            for batch in batches:
                plan = plan_for(batch, args.rows, args.epsilon, args.epochs, args.clip)
                table = ratios(measured, plan)
                results.append({"mode": mode, "clipping": args.clipping, "batch": batch, "rows": args.rows, "epochs": args.epochs,
                                "epsilon": args.epsilon, "delta": plan.delta, "clip": args.clip,
                                "noise_multiplier": round(plan.noise_multiplier, 4), "steps": plan.steps,
                                "example_grad_norm": measured["example_grad_norm"], "groups": table,
                                "measure_seconds": round(time.time() - started, 1)})
                print(f"{mode}, B = {batch}: sigma {plan.noise_multiplier:.3f}, {plan.steps} steps "
                      f"(per-example gradient norm median {measured['example_grad_norm']['median']})")
                for key, g in table.items():
                    print(f"   {key:10s} {g['weights']:>10,} weights  signal {g['signal']:.4f}  noise {g['noise']:.4f}"
                          f"  ratio {g['ratio']:.3f}  steps to signal {g['steps_to_signal']}"
                          f"  unclipped per-example norm {g['example_grad_norm']}")
        head = None
        if args.head_rates:
            (Path(tmp) / "head").mkdir()
            head_train, head_selection = write_subsets(train, Path(tmp) / "head", args.head_rows, 1000, seed=0)
            plan = plan_for(args.head_batch, args.head_rows, args.epsilon, args.epochs, args.clip)
            head = []
            for pooling in [p for p in args.head_pooling.split(",") if p]:
                head.append(head_rates(head_train, head_selection, [float(r) for r in args.head_rates.split(",")],
                                       sigma=plan.noise_multiplier, batch=args.head_batch, steps=plan.steps,
                                       clip=args.clip, pooling=pooling))
                print(f"classifier alone on the {head[-1]['features']} ({args.head_rows} rows, B = {args.head_batch}, "
                      f"{plan.steps} steps, sigma {plan.noise_multiplier:.3f}; feature std per dimension "
                      f"{head[-1]['feature_std_per_dimension']}):")
                for row in head[-1]["rates"]:
                    print(f"   lr {row['lr']:g}: no noise {row['no_noise']}, with noise {row['with_noise']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "private_signal", "data": str(train),
                                    "measured_at": "initialisation (pretrained encoder, new head)",
                                    "signal": "norm of the expected clipped per-example gradient, without batch noise",
                                    "examples": args.examples,
                                    "results": results, "classifier_alone": head, "host": host_record()},
                                   indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
