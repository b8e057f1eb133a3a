"""The wake and sleep gradients of sequence FF, measured: why the sleep phase's two halves should share
one Adam step.

    python benchmarks/sleep_gradients.py --root ../shared/data/aesop

Trains configs/aesop-seq.yaml (teacher forcing) for ``--epochs`` epochs so the net predicts something, then
takes ``--windows`` real windows and computes each layer's gradient of the wake half of its loss (real
windows, positive term only) and of the sleep half (negative term only), for three kinds of negatives: the
real context with a wrong character the model samples, windows of 3-character dreams from real text, and
windows of full-length dreams (from the strings' first characters to their ends); dreams are sampled at
``sequence.temperature``. Per layer it prints ``cos`` (cosine of the two gradients), ``sum_ratio``
(|wake + sleep| / |wake|) and ``adam_fraction``: the median, over the weights that get a gradient, of
|wake + sleep| / (2 rms(wake, sleep)). That is the share of an Adam step that moves along the summed
gradient when the halves take alternate steps: Adam divides each weight's step by the RMS of the gradients
it sees, which alternate between the two large, opposite halves; a paired step sees their small sum.
One JSON line.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from forwardforward.data.text import TextWindows, one_hot_context
from forwardforward.experiment.build import build_network, build_trainer, load_data, sample_shape
from forwardforward.experiment.config import load_config
from forwardforward.models.sequence import DreamChains, generate_ids


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", default="../shared/data/aesop")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--windows", type=int, default=512)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(
        "configs/aesop-seq.yaml",
        [f"data.root={args.root}", "trainer.threads=1", "trainer.progress=false", *args.overrides],
    )
    splits = load_data(cfg)
    train = splits.train
    net = build_network(cfg, sample_shape(train), train.num_classes)
    history = build_trainer(cfg, net).fit(train, args.epochs, cfg.trainer.batch_size, splits.test)
    gen = torch.Generator().manual_seed(1)
    idx = torch.randperm(len(train.y), generator=gen)[: args.windows]
    x, y = train.x[idx], train.y[idx]

    def grads(xb: torch.Tensor, yb: torch.Tensor, positive: bool) -> list[torch.Tensor]:
        net.zero_grad()
        acts = net.activities(net.embed(xb, yb))
        halves = [la.loss.one_sided(la.goodness(h), positive) for la, h in zip(net.layers, acts)]
        torch.stack(halves).sum().backward()
        return [torch.cat([q.grad.flatten() for q in layer.parameters()]) for layer in net.layers]

    with torch.no_grad():
        scores = net.scores(x).masked_fill(F.one_hot(y, train.num_classes).bool(), float("-inf"))
    wrong = torch.multinomial(torch.softmax(scores, 1), 1, generator=gen).squeeze(1)
    chains = DreamChains(train.strings, train.context, 3, args.windows, gen)
    for _ in range(3):  # past the staggered start: windows 0, 1 and 2 characters into their dreams
        ctx, nxt = chains.step(net, cfg.sequence.temperature)
    length = train.strings.shape[1] - train.context
    full = generate_ids(net, train.strings[:, : train.context], length, cfg.sequence.temperature, gen)
    full_w = TextWindows.from_strings(full, train.context)
    pick = torch.randperm(len(full_w.y), generator=gen)[: args.windows]
    negatives = {
        "real_context_wrong_char": (x, wrong),
        "dreams_of_3": (one_hot_context(ctx), nxt),
        "full_dreams": (full_w.x[pick], full_w.y[pick]),
    }
    wake = grads(x, y, True)
    out: dict = {"epochs": args.epochs, "test_accuracy_goodness": history[-1]["eval/accuracy"], "layers": {}}
    for name, (xn, yn) in negatives.items():
        rows = []
        for gw, gs in zip(wake, grads(xn, yn, False)):
            rms = ((gw * gw + gs * gs) / 2).sqrt()
            live = rms > 0  # weights of units that never fire get no gradient from either half
            rows.append(
                {
                    "cos": round(float(F.cosine_similarity(gw, gs, 0)), 4),
                    "sum_ratio": round(float((gw + gs).norm() / gw.norm()), 4),
                    "adam_fraction": round(float(((gw + gs)[live].abs() / (2 * rms[live])).median()), 4),
                }
            )
        out["layers"][name] = rows
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
