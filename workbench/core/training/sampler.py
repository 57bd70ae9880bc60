"""Length-bucketed batches in random order: most of the speed of sorting by length, none of the curriculum.

The Trainer's ``group_by_length`` sorts mega-batches of 50 batches by length and walks each from the
longest batch to the shortest. On a small data set that is close to a sort of the whole epoch, and the
model sees long examples, then short ones, five times over: on an 8,000-row SST-2 subset it cost about
2 points of dev accuracy in one epoch. Here each bucket of ``bucket_batches`` batches is sorted by length
and cut into batches, then *all* batches of the epoch are shuffled together, so the order of lengths is
random while each batch still holds examples of similar length (less padding). Small buckets keep batches
varied enough: large ones (16 batches) still cost about a point of accuracy (figures below).

The order depends only on ``seed`` and the epoch (``set_epoch``), not on the global RNG, so a resumed run
replays exactly the batches of the interrupted one.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler

# Batches per bucket, chosen by measurement (default model, 8,000 SST-2 rows, 1 epoch, bf16; a plain Trainer
# with random batches reached dev accuracy 0.8372): buckets of 16 batches 0.8234 and 0.828 (two seeds),
# 4 batches 0.8337 at 157 samples/s, 2 batches 0.8337 at 137 samples/s, random batches 0.836.
DEFAULT_BUCKET_BATCHES = 4


def bucketed_indices(lengths: Sequence[int], batch_size: int, *, bucket_batches: int = DEFAULT_BUCKET_BATCHES,
                     generator: torch.Generator | None = None) -> list[int]:
    """Indices such that every consecutive ``batch_size`` slice is one batch of similar lengths."""
    n = len(lengths)
    perm = torch.randperm(n, generator=generator).tolist()
    bucket = max(1, bucket_batches) * batch_size
    batches: list[list[int]] = []
    for start in range(0, n, bucket):
        chunk = sorted(perm[start:start + bucket], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    # Full batches are shuffled; a short final batch of a bucket stays at the end, where the Trainer's
    # drop_last or the last step expects it.
    full = [b for b in batches if len(b) == batch_size]
    partial = [b for b in batches if len(b) < batch_size]
    order = torch.randperm(len(full), generator=generator).tolist()
    full = [full[i] for i in order]
    if full:
        # The longest batch first, so an out-of-memory error shows at step 1, not hours later.
        longest = max(range(len(full)), key=lambda i: max(lengths[j] for j in full[i]))
        full[0], full[longest] = full[longest], full[0]
    return [i for b in full + partial for i in b]


class BucketedLengthSampler(Sampler[int]):
    """A sampler yielding :func:`bucketed_indices`, reseeded per epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, *, seed: int = 0,
                 bucket_batches: int = DEFAULT_BUCKET_BATCHES):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.bucket_batches = bucket_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(bucketed_indices(self.lengths, self.batch_size, bucket_batches=self.bucket_batches,
                                     generator=generator))


def padding_efficiency(lengths: Sequence[int], indices: Sequence[int], batch_size: int) -> float:
    """Real tokens / padded tokens over the batches ``indices`` forms (1.0 = no padding)."""
    real = padded = 0
    for start in range(0, len(indices), batch_size):
        batch = [lengths[i] for i in indices[start:start + batch_size]]
        real += sum(batch)
        padded += max(batch) * len(batch)
    return real / padded if padded else 1.0


class LengthSortedSampler(Sampler[int]):
    """Evaluation order from the longest example to the shortest (ties in input order): batches of similar
    lengths, and an out-of-memory error at the first batch. For metrics that do not depend on the order."""

    def __init__(self, lengths: Sequence[int]):
        self.order = sorted(range(len(lengths)), key=lambda i: -lengths[i])

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)
