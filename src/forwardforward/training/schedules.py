"""Schedules: in what order the layers learn. Each is a loop around the Trainer's one step and one update.

- ``"all"`` (:func:`fit_all`): every layer learns on every batch (optionally only the layers whose epoch
  window is open: staggered training).
- ``"greedy"`` (:func:`fit_greedy`): one layer at a time, each for ``epochs`` epochs, fed by cached outputs of
  the frozen layers below it (computed once, not once per batch), its negatives redrawn for the whole set
  every ``negatives_refresh`` epochs; then the linear head on the frozen features.
- ``phases="halves"`` / ``"alternate"`` with ``"all"`` (:func:`fit_alternate`): Hinton's wake and sleep.
  Positives and negatives go through the layers in their own forward passes, each with its half of the
  loss; ``"alternate"`` then takes one update per half, so they never share an update, ``"halves"`` one
  update for both. The negatives come from data the source makes (dreams, per epoch or per step) or are
  drawn for the same batch; with ``"alternate"`` they are made *after* the positive update, by the model
  that update left (the write-up's order: a positive period on real data, then the model generates the
  data of the negative period).

Both work with any kind of negative data and any process strategy, because they only call
:meth:`Trainer.train_step` / :meth:`Trainer.update` and the :class:`~forwardforward.negatives.Negatives`
interface.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..negatives import check_schedule
from .step import head_term


def fit_all(trainer: Any, train: Any, epochs: int, batch_size: int, eval_data: Any) -> None:
    """Every layer (or every layer whose window is open) on every batch of ``train`` (shuffled batches of
    ``batch_size``), until ``trainer`` has done ``epochs`` epochs, evaluating on ``eval_data`` (or
    ``None``) after each. Hands over to :func:`fit_alternate` for separate phases."""
    if trainer.net.needs_negatives:
        check_schedule(trainer.negatives, "all")  # a source that cannot feed it, refused before any step
    if trainer.phases != "together":
        fit_alternate(trainer, train, epochs, batch_size, eval_data)
        return
    while trainer.epoch < epochs:
        t0 = time.perf_counter()
        sums: dict[str, float] = {}
        batches = trainer.batches(len(train.y), batch_size)
        bar = progress_bar(trainer, len(batches), f"epoch {trainer.epoch + 1}/{epochs}")
        active = active_layers(trainer, epochs)
        for idx in batches:
            x = train.x[idx].to(trainer.device, non_blocking=True)
            y = train.y[idx].to(trainer.device, non_blocking=True)
            if trainer.augment is not None:
                x = trainer.augment(x, trainer.generator)
            row = trainer.train_step(x, y, active)
            accumulate(sums, row)
            tick(bar, row)
        if bar is not None:
            bar.close()
        trainer.epoch += 1
        trainer.end_epoch(sums, len(batches), time.perf_counter() - t0, eval_data)


def fit_alternate(trainer: Any, train: Any, epochs: int, batch_size: int, eval_data: Any) -> None:
    """Wake and sleep: each batch's positives and its negatives in their own forward passes, each with
    its half of every layer's loss; one update for both halves (``"halves"``) or one each (``"alternate"``).
    The negatives are data the source makes per epoch or per step (dreams), or drawn from the batch.
    ``trainer``, ``train``, ``epochs``, ``batch_size`` and ``eval_data`` as in :func:`fit_all`."""
    source = trainer.negatives
    source.start(trainer, train, batch_size)
    while trainer.epoch < epochs:
        t0 = time.perf_counter()
        own = source.epoch_data(trainer, train)
        pos_batches = trainer.batches(len(train.y), batch_size)
        neg_batches = trainer.batches(len(own.y), batch_size) if own is not None else None
        sums: dict[str, float] = {}
        bar = progress_bar(trainer, len(pos_batches), f"epoch {trainer.epoch + 1}/{epochs} (wake/sleep)")
        local, separate = trainer.strategy.local, trainer.phases == "alternate"
        for j, pos in enumerate(pos_batches):
            x_pos, y_pos = train.x[pos].to(trainer.device), train.y[pos].to(trainer.device)
            if trainer.augment is not None:  # as fit_all does: the positives are what the batch shows
                x_pos = trainer.augment(x_pos, trainer.generator)
            idx = None if neg_batches is None else neg_batches[j]
            # The head learns from real data; its scores pick hard negatives unless an update comes first.
            head_loss, scores, _ = head_term(trainer, local(x_pos), local(y_pos))
            make_negatives = functools.partial(
                negative_inputs, trainer, x_pos, y_pos, own, idx, None if separate else scores
            )
            row = wake_sleep(trainer, trainer.net.embed(x_pos, y_pos), make_negatives, head_loss)
            trainer.step_count += 1
            accumulate(sums, row)
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
        trainer.epoch += 1
        trainer.end_epoch(sums, len(pos_batches), time.perf_counter() - t0, eval_data)


def negative_inputs(
    trainer: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    own: Any,
    idx: torch.Tensor | None,
    scores: torch.Tensor | None = None,
) -> torch.Tensor:
    """A sleep step's embedded negatives for ``trainer``'s network: the source's epoch data ``own`` at
    ``idx``, its next batch (made now by the current model), or the negatives it draws for the positives
    ``x`` with true labels ``y``, from the class ``scores`` of the current model when given (the head's,
    already computed), else scored now as the one-step path scores them."""
    net, strategy, device = trainer.net, trainer.strategy, trainer.device
    if own is not None:
        return net.embed(own.x[idx].to(device), own.y[idx].to(device))
    made = trainer.negatives.next_batch(trainer)
    if made is not None:
        return net.embed(made[0].to(device), made[1].to(device))

    def class_scores() -> torch.Tensor:
        if scores is not None:
            return scores
        if trainer.hard_source == "head" and net.head is not None:  # as the one-step path reads them
            with torch.no_grad():
                return strategy.gather(net.head_logits(strategy.local(x)))
        return strategy.gather(net.scores(strategy.local(x)))

    return trainer.negatives_now().pair(net, x, y, class_scores, trainer.generator)[1]


def wake_sleep(
    trainer: Any,
    x_pos: torch.Tensor,
    x_neg: torch.Tensor | Callable[[], torch.Tensor],
    head_loss: torch.Tensor | None = None,
) -> dict[str, float]:
    """The positive half of every layer's loss on ``x_pos`` and the negative half on ``x_neg`` (this
    process's rows of each): one update of ``trainer``'s network for both, or, with
    ``phases="alternate"``, one for each. Returns the step's statistics.

    ``x_neg`` is the embedded negatives or a function that makes them; with ``"alternate"`` it is called
    after the positive update, so negatives the model draws (hard labels, dreams) come from the model
    that update left, and no update ever sees positives and negatives together. ``head_loss``, the linear
    head's loss on the real batch, joins the positive (wake) half."""
    local, separate = trainer.strategy.local, trainer.phases == "alternate"
    if callable(x_neg) and not separate:
        x_neg = x_neg()  # one update for both halves: the same model either way; made first, as before
    x_pos = local(x_pos)
    trainer.local_rows = len(x_pos)
    trainer.set_lr()
    wake, row = half_loss(trainer, x_pos, positive=True)
    if head_loss is not None:
        trainer.check_finite([], head_loss, [])
        wake = wake + head_loss
        row["loss/head"] = float(head_loss.detach())
    if separate:
        trainer.update(wake)
        trainer.set_lr()
    x_neg = local(x_neg() if callable(x_neg) else x_neg)
    sleep, sleep_row = half_loss(trainer, x_neg, positive=False)
    trainer.update(sleep if separate else wake + sleep)
    row.update(sleep_row)
    for i in range(len(trainer.net.layers)):
        row[f"loss/{i}"] = row.pop(f"wake/{i}") + row.pop(f"sleep/{i}")
        row[f"sep/{i}"] = float(row[f"g_pos/{i}"] > row[f"g_neg/{i}"])
    return row


def half_loss(trainer: Any, x: torch.Tensor, positive: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """Every layer's positive (``positive=True``) or negative half of its loss on embedded inputs ``x``
    through ``trainer``'s network, summed, and the statistics by name."""
    net, losses, row = trainer.net, [], {}
    for i, h in enumerate(net.activities(x)):
        g = net.layers[i].goodness(h)
        losses.append(net.layers[i].loss.one_sided(g, positive))
        row[f"{'wake' if positive else 'sleep'}/{i}"] = float(losses[-1].detach())
        row[f"{'g_pos' if positive else 'g_neg'}/{i}"] = float(g.detach().mean())
    trainer.check_finite(losses, None, None)
    return torch.stack(losses).sum(), row


def active_layers(trainer: Any, epochs: int) -> list[int] | None:
    """The layers whose window holds ``trainer``'s current epoch (``None``: all of them).

    Raises:
        ValueError: no window holds it (``epochs`` is named in the message).
    """
    if trainer.layer_windows is None:
        return None
    active = [i for i, (a, b) in enumerate(trainer.layer_windows) if a <= trainer.epoch < b]
    if not active:
        raise ValueError(
            f"layer_windows {trainer.layer_windows} leave epoch {trainer.epoch} (0-based) of {epochs} "
            "with no layer to train; make the windows cover every epoch"
        )
    return None if len(active) == len(trainer.layer_windows) else active


def fit_greedy(trainer: Any, train: Any, epochs: int, batch_size: int, eval_data: Any) -> None:
    """Layer by layer, each for ``epochs`` epochs of ``train`` in batches of ``batch_size`` on its frozen
    predecessors' cached outputs; the head last. ``trainer`` holds the position (layer phase, epoch), so a
    resumed run continues where it stopped; ``eval_data`` (or ``None``) is evaluated after every epoch."""
    net = trainer.net
    check_schedule(trainer.negatives, "greedy")  # a source that draws per batch only, refused before any step
    while trainer.phase < len(net.layers):
        k = trainer.phase
        pos_in = frozen_inputs(trainer, train, k, None)
        neg_in = None
        while trainer.epoch < epochs:
            t0 = time.perf_counter()
            if neg_in is None or trainer.epoch % trainer.negatives_refresh == 0:
                drawn = greedy_negatives(trainer, train, k, trainer.epoch // trainer.negatives_refresh)
                neg_in = frozen_inputs(trainer, train, k, drawn)
            sums: dict[str, float] = {}
            batches = trainer.batches(len(train.y), batch_size)
            bar = progress_bar(trainer, len(batches), f"layer {k} epoch {trainer.epoch + 1}/{epochs}")
            for idx in batches:
                row = greedy_step(trainer, k, pos_in, neg_in, trainer.strategy.local(idx))
                accumulate(sums, row)
                tick(bar, row)
            if bar is not None:
                bar.close()
            trainer.epoch += 1
            if k == len(net.layers) - 1 and trainer.epoch == epochs and net.head is not None:
                accumulate(sums, {"loss/head": fit_head(trainer, train, epochs, batch_size) * len(batches)})
            trainer.end_epoch(sums, len(batches), time.perf_counter() - t0, eval_data)
        trainer.phase += 1
        if trainer.phase < len(net.layers):
            trainer.epoch = 0
            trainer.step_count = 0


def greedy_step(
    trainer: Any, k: int, pos_in: torch.Tensor, neg_in: torch.Tensor, idx: torch.Tensor
) -> dict[str, float]:
    """One update of ``trainer``'s layer ``k`` alone on its cached positive and negative inputs
    ``pos_in`` and ``neg_in`` (this process's rows ``idx`` of the batch); returns its statistics."""
    trainer.set_lr()
    layer = trainer.net.layers[k]
    xp, xn = pos_in[idx].to(trainer.device), neg_in[idx].to(trainer.device)
    h = layer(torch.cat([xp, xn]))
    loss, st = layer.local_loss(h[: len(idx)], h[len(idx) :])
    trainer.check_finite([loss], None, [k])
    trainer.local_rows = len(idx)
    trainer.update(loss)
    trainer.step_count += 1
    return {f"loss/{k}": st.loss, f"sep/{k}": st.separation, f"g_pos/{k}": st.g_pos, f"g_neg/{k}": st.g_neg}


@torch.no_grad()
def frozen_inputs(trainer: Any, data: Any, k: int, drawn: torch.Tensor | None) -> torch.Tensor:
    """Layer k's input for every sample of ``data`` through ``trainer``'s frozen layers below it: the
    positives (``drawn`` is ``None``) or the negatives drawn for the whole set."""
    net, out = trainer.net, []
    for s in range(0, len(data.y), 2048):
        chunk = None if drawn is None else drawn[s : s + 2048].to(trainer.device)
        x = trainer.negatives.embed_all(
            net, data.x[s : s + 2048].to(trainer.device), data.y[s : s + 2048].to(trainer.device), chunk
        )
        for i, layer in enumerate(net.layers[:k]):
            x = net.hand_over(i, layer(x))
        out.append(x)
    return torch.cat(out)


def greedy_negatives(trainer: Any, data: Any, k: int, block: int) -> torch.Tensor:
    """``trainer``'s negatives for the whole set ``data``; hard wrong labels are scored by the frozen
    layers below ``k``.

    Drawn from a generator seeded by (seed, layer, refresh block), so a resumed run (and every process of
    a data-parallel one) redraws exactly the negatives an uninterrupted run is using.
    """
    gen = torch.Generator().manual_seed(trainer.seed * 1_000_003 + k * 10_007 + block)
    net = trainer.net

    def scores() -> torch.Tensor:
        parts = []
        for s in range(0, len(data.y), 2048):
            g = net.label_goodness(data.x[s : s + 2048].to(trainer.device))
            parts.append(g[:, :, :k].sum(2))
        return torch.cat(parts)

    y = data.y.to(trainer.device)
    return trainer.negatives_now().draw_all(net, data.x, y, scores, gen, first_layer=k == 0)


def fit_head(trainer: Any, train: Any, epochs: int, batch_size: int) -> float:
    """Greedy schedule: train ``trainer``'s linear head on the frozen features of ``train`` for
    ``epochs`` epochs in batches of ``batch_size`` (Adam at the head's base rate); returns its last epoch's
    mean loss."""
    net = trainer.net
    assert net.head is not None
    with torch.no_grad():
        feats = torch.cat(
            [net.features(train.x[s : s + 2048].to(trainer.device)) for s in range(0, len(train.y), 2048)]
        )
    y = train.y.to(trainer.device)
    opt = torch.optim.Adam(net.head.parameters(), lr=trainer.base_lrs[-1])
    mean = 0.0
    for _ in range(epochs):
        total, batches = 0.0, trainer.batches(len(y), batch_size)
        for full in batches:
            idx = trainer.strategy.local(full)
            loss = F.cross_entropy(net.head(feats[idx]), y[idx])
            trainer.check_finite([], loss, [])
            trainer.local_rows = len(idx)
            trainer.update(loss, optimizer=opt)
            total += loss.item()
        mean = total / len(batches)
    return mean


def progress_bar(trainer: Any, total: int, desc: str) -> Any:
    """A tqdm bar of ``total`` steps labelled ``desc`` when ``trainer`` shows progress (the main process)
    and stderr is a terminal, else ``None``: in a log file a bar is only carriage returns (the per-epoch
    line of ``ff train`` is what a log shows)."""
    if not trainer.progress or not _terminal(sys.stderr):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)


def accumulate(sums: dict[str, float], row: dict[str, float]) -> None:
    """Add a step's statistics ``row`` into the epoch's running ``sums``, key by key, in place."""
    for k, v in row.items():
        sums[k] = sums.get(k, 0.0) + v


def tick(bar: Any, row: dict[str, float]) -> None:
    """Advance a progress ``bar`` (``None`` when progress is off) by one step, showing the per-layer
    loss/separation of the step's ``row``."""
    if bar is not None:
        bar.set_postfix_str(postfix(row), refresh=False)
        bar.update()


def _terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def postfix(row: dict[str, float]) -> str:
    """The bar's text for a batch's statistics ``row``, in words: each layer's FF loss, and the share of
    its positives whose goodness beats their negatives' (``pos > neg``: 50% is chance, 100% every
    pair)."""
    layers = sorted({k.split("/")[1] for k in row if k.startswith("loss/") and k != "loss/head"}, key=int)
    loss = " ".join(f"{row[f'loss/{i}']:.3f}" for i in layers)
    sep = " ".join(f"{100 * row[f'sep/{i}']:.0f}%" for i in layers)
    return f"layer loss {loss}; pos > neg {sep}"


__all__ = ["accumulate", "active_layers", "fit_all", "fit_greedy", "frozen_inputs", "greedy_negatives"]
