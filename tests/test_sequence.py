"""Sequence FF: the text loader, teacher-forcing and sleep-phase negatives, seeded generation, the frozen
random baseline, the CLI."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from forwardforward import Trainer
from forwardforward.data import DataError
from forwardforward.data.text import ALPHABET, TextWindows, cut_strings, decode, reduce_to_alphabet, windows
from forwardforward.experiment.build import (
    build_network,
    build_trainer,
    load_data,
    sample_shape,
    train_frozen_readout,
)
from forwardforward.experiment.cli import main
from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.losses import SymBaLoss
from forwardforward.models.sequence import DreamChains, DreamNegatives, generate, generate_ids
from forwardforward.training import schedules
from forwardforward.training.checkpoint import load_checkpoint

TEXT = "The cat sat on the mat; the dog sat on the log. " * 40  # 1920 characters, very predictable


def _cfg(tmp_path, *overrides: str):
    (tmp_path / "tiny.txt").write_text(TEXT)
    return load_config(
        overrides=[
            "data.name=text",
            f"data.root={tmp_path / 'tiny.txt'}",
            "model.kind=sequence",
            "model.hidden=[64,64]",
            "model.loss=softplus",
            "model.head=false",
            "model.label_strength=3.0",
            "trainer.lr=0.01",
            "trainer.negatives=hard",
            "trainer.hard_source=goodness",
            "trainer.batch_size=32",
            "trainer.progress=false",
            "sequence.context=4",
            "sequence.num_strings=12",
            "sequence.string_length=40",
            "sequence.eval_strings=4",
            *overrides,
        ]
    )


def test_reduction_to_the_30_symbol_alphabet():
    assert len(ALPHABET) == 30
    got = reduce_to_alphabet("Hello, World!  It's 3 o'clock: time\n-- to go?")
    assert got == "hello, world. its oclock; time to go."
    assert set(reduce_to_alphabet("ÀÉ «quoted» [x] 42 — done!\t\n")) <= set(ALPHABET)


def test_strings_windows_and_held_out_split():
    train, held = cut_strings(TEXT, num_strings=10, length=30, eval_strings=3)
    assert train.shape == (10, 30) and held.shape == (3, 30)
    reduced = reduce_to_alphabet(TEXT)
    chunks = {reduced[i : i + 30] for i in range(0, len(reduced) - 29, 30)}
    assert {decode(s) for s in torch.cat([train, held])} <= chunks  # cut at multiples of the length
    x, y = windows(train, context=4)
    assert x.shape == (10 * 26, 4 * 30) and y.shape == (10 * 26,)
    assert torch.equal(x[0].view(4, 30).argmax(1), train[0, :4]) and y[0] == train[0, 4]
    assert torch.equal(x.sum(1), torch.full((260,), 4.0))  # one one-hot per context character


def test_empty_and_too_short_corpus_are_clear_errors():
    with pytest.raises(DataError, match="empty after reduction"):
        cut_strings('123 "@#" 456\n', 5, 10)
    with pytest.raises(DataError, match=r"too short: 19 characters .* 1 strings of 10, but 2 training \+ 1"):
        cut_strings("abc def ghi jkl mno", 2, 10, eval_strings=1)


def test_generation_is_seeded_and_reproducible(tmp_path):
    cfg = _cfg(tmp_path)
    net = build_network(cfg, 4 * 30, 30)
    a = generate(net, "The cat", 30, context=4, seed=3)
    assert a == generate(net, "The cat", 30, context=4, seed=3)
    assert a.startswith("the cat") and len(a) == len("the cat") + 30 and set(a) <= set(ALPHABET)
    assert a != generate(net, "The cat", 30, context=4, seed=4)
    with pytest.raises(ValueError, match="no characters of the alphabet"):
        generate(net, "123", 5, context=4)


def test_sleep_negatives_are_the_models_own_text(tmp_path):
    cfg = _cfg(tmp_path, "sequence.negatives=sleep")
    splits = load_data(cfg)
    net = build_network(cfg, sample_shape(splits.train), 30)
    trainer = build_trainer(cfg, net)
    assert isinstance(trainer.negatives, DreamNegatives)
    # A model that believes every next character is "z": its dreams must be "z" after the real start.
    net.scores = lambda x, **_: F.one_hot(torch.full((x.shape[0],), 25), 30).float() * 50
    dreams = trainer.negatives.dream(trainer, splits.train)
    assert torch.equal(dreams.strings[:, :4], splits.train.strings[:, :4])
    assert (dreams.strings[:, 4:] == 25).all() and (dreams.y == 25).all()
    # And with the real model they are exactly what it generates from the same generator state.
    del net.scores
    state = trainer.generator.get_state()
    dreams = trainer.negatives.dream(trainer, splits.train)
    want = generate_ids(net, splits.train.strings[:, :4], 36, 1.0, torch.Generator().set_state(state))
    assert torch.equal(dreams.strings, want)


def test_sleep_phase_needs_a_threshold_loss():
    with pytest.raises(ValueError, match=r"model\.loss=softplus"):
        SymBaLoss().one_sided(torch.zeros(3), True)


@pytest.mark.parametrize("negatives", ["teacher", "sleep"])
def test_both_negative_kinds_learn_to_predict_the_next_character(tmp_path, negatives):
    # The sleep phase with its defaults: 3-character dreams from real text, fresh every step, paired steps.
    cfg = _cfg(tmp_path, f"sequence.negatives={negatives}")
    torch.manual_seed(0)
    splits = load_data(cfg)
    assert isinstance(splits.test, TextWindows)
    net = build_network(cfg, sample_shape(splits.train), 30)
    before = net.evaluate(splits.test)["accuracy"]
    epochs = 6 if negatives == "teacher" else 10  # the sleep phase learns more slowly
    history = build_trainer(cfg, net).fit(splits.train, epochs, 32, splits.test)
    after = history[-1]["eval/accuracy"]
    most_frequent = float((splits.test.y == torch.bincount(splits.train.y).argmax()).float().mean())
    if negatives == "teacher":
        assert history[-1]["loss/0"] < history[0]["loss/0"]
    else:  # positives' goodness rises above the dreams'
        assert history[-1]["g_pos/0"] - history[-1]["g_neg/0"] > history[0]["g_pos/0"] - history[0]["g_neg/0"]
    assert after > 0.4 and after > before + 0.3, (before, after)  # 30 symbols: chance ~0.03
    assert after > most_frequent + 0.2, (most_frequent, after)  # it predicts, not just "always a space"


def test_hintons_full_dreams_each_epoch_stay_reachable(tmp_path, monkeypatch):
    # dreams=epoch, dream_length=null, sleep_step=separate: the sleep phase as first written. Every string is
    # dreamed from its first characters at the start of the epoch, and the epoch's sleep halves use each
    # window of those dreams once.
    cfg = _cfg(
        tmp_path,
        "sequence.negatives=sleep",
        "sequence.dreams=epoch",
        "sequence.dream_length=null",
        "sequence.sleep_step=separate",
    )
    splits = load_data(cfg)
    net = build_network(cfg, sample_shape(splits.train), 30)
    trainer = build_trainer(cfg, net)
    assert (trainer.negatives.dreams, trainer.negatives.dream_length, trainer.phases) == (
        "epoch",
        None,
        "alternate",
    )
    want = generate_ids(
        net, splits.train.strings[:, :4], 36, 1.0, torch.Generator().set_state(trainer.generator.get_state())
    )
    want = TextWindows.from_strings(want, 4)
    seen = []
    negative_inputs = schedules.negative_inputs

    def record(*args):  # type: ignore[no-untyped-def]
        seen.append(negative_inputs(*args))
        return seen[-1]

    monkeypatch.setattr(schedules, "negative_inputs", record)
    trainer.fit(splits.train, 1, 32)
    assert trainer.negatives.chains is None
    got = torch.cat(seen)
    expected = net.embed(want.x, want.y)
    assert got.shape == expected.shape
    assert torch.equal(
        torch.unique(got, dim=0, return_counts=True)[1], torch.unique(expected, dim=0, return_counts=True)[1]
    )
    assert torch.equal(torch.unique(got, dim=0), torch.unique(expected, dim=0))


class _AlwaysZ:
    """Stands in for a network whose every next character is "z" (index 25)."""

    training = False

    def parameters(self):
        return iter([torch.zeros(1)])

    def scores(self, x, **_):
        return F.one_hot(torch.full((x.shape[0],), 25), 30).float() * 50

    def train(self, mode=True):
        return self

    def eval(self):
        return self


def test_dream_chains_start_from_real_text_and_restart_after_their_length():
    strings = torch.randint(0, 25, (5, 20), generator=torch.Generator().manual_seed(0))  # no "z" in them
    real = {tuple(s[t : t + n].tolist()) for s in strings for n in (2, 3, 4) for t in range(21 - n)}
    chains = DreamChains(strings, context=4, length=3, n=6, generator=torch.Generator().manual_seed(1))
    assert chains.left.tolist() == [1, 1, 2, 2, 3, 3]  # the first dreams are cut short by different amounts
    history = []
    for _ in range(12):
        ctx, nxt = chains.step(_AlwaysZ(), temperature=1.0)
        assert ctx.shape == (6, 4) and (nxt == 25).all()
        dreamed = (ctx == 25).sum(1)
        history.append(dreamed)
        for row, d in zip(ctx.tolist(), dreamed.tolist()):
            # the window is real text followed by the d characters dreamed since the last (re)start
            assert d <= 2 and row[4 - d :] == [25] * d and tuple(row[: 4 - d]) in real
    history = torch.stack(history, 1)  # [chains, steps]
    for chain in history.tolist():
        for before, after in zip(chain, chain[1:]):
            assert after == before + 1 or after == 0
        assert chain[-6:] in (
            [0, 1, 2, 0, 1, 2],
            [1, 2, 0, 1, 2, 0],
            [2, 0, 1, 2, 0, 1],
        )  # 3-character dreams
    full = DreamChains(strings, context=4, length=16, n=5, generator=torch.Generator().manual_seed(2))
    starts = {tuple(r) for r in strings[:, :4].tolist()}
    assert all(tuple(r) in starts for r in full.ctx.tolist())  # Hinton's dreams: from the strings' starts
    with pytest.raises(ValueError, match=r"a dream runs 1\.\.16 characters"):
        DreamChains(strings, context=4, length=17, n=2, generator=torch.Generator())


def _grads(net):
    return {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("sleep_step", ["separate", "paired"])
def test_sleep_step_uses_only_the_negative_half_on_dreams(tmp_path, sleep_step):
    cfg = _cfg(tmp_path, "sequence.negatives=sleep", f"sequence.sleep_step={sleep_step}")
    splits = load_data(cfg)
    net = build_network(cfg, sample_shape(splits.train), 30)
    trainer = build_trainer(cfg, net)
    steps = []
    trainer.optimizer.step = lambda *a, **k: steps.append(_grads(net))  # record, do not move the weights
    x, y = splits.train.x[:8], splits.train.y[:8]
    x_neg, y_neg = x, (y + 1) % 30  # the same contexts with a wrong next character
    schedules.wake_sleep(trainer, net.embed(x, y), net.embed(x_neg, y_neg))

    def half(xb, yb, positive):
        net.zero_grad()
        acts = net.activities(net.embed(xb, yb))
        sum(la.loss.one_sided(la.goodness(h), positive) for la, h in zip(net.layers, acts)).backward()
        return _grads(net)

    wake, sleep = half(x, y, True), half(x_neg, y_neg, False)
    if sleep_step == "separate":  # two steps: the first sees only the positives, the second only the dreams
        assert len(steps) == 2
        for k in wake:
            assert torch.allclose(steps[0][k], wake[k], atol=1e-6) and torch.allclose(
                steps[1][k], sleep[k], atol=1e-6
            )
    else:  # one step on the sum of the two halves' gradients
        assert len(steps) == 1
        for k in wake:
            assert torch.allclose(steps[0][k], wake[k] + sleep[k], atol=1e-6)


def test_sleep_resume_equals_an_uninterrupted_run(tmp_path):
    cfg = _cfg(tmp_path, "sequence.negatives=sleep")
    splits = load_data(cfg)
    straight = build_network(cfg, sample_shape(splits.train), 30)
    full = build_trainer(cfg, straight).fit(splits.train, 3, 32)
    first = build_trainer(cfg, build_network(cfg, sample_shape(splits.train), 30), tmp_path / "run")
    first.fit(splits.train, 2, 32)
    assert "ctx" in load_checkpoint(tmp_path / "run" / "checkpoint.pt")["negatives"]  # the dream chains
    resumed_net = build_network(cfg, sample_shape(splits.train), 30)
    history = build_trainer(cfg, resumed_net, tmp_path / "run").fit(
        splits.train, 3, 32, resume=tmp_path / "run" / "checkpoint.pt"
    )
    assert [r["loss/0"] for r in history] == [r["loss/0"] for r in full]
    for k, v in straight.state_dict().items():
        assert torch.equal(resumed_net.state_dict()[k], v), k


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sequence.dreams=nightly", "sequence.dreams must be 'step' or 'epoch'"),
        ("sequence.sleep_step=alone", "sequence.sleep_step must be 'paired' or 'separate'"),
        ("sequence.dream_length=0", r"sequence.dream_length must be in \[1, string_length - context = 36\]"),
        ("sequence.dream_length=37", r"must be in \[1, string_length - context = 36\]"),
        ("sequence.dreams=epoch", "set sequence.dream_length=null"),
    ],
)
def test_bad_sleep_settings_are_clear_config_errors(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        _cfg(tmp_path, "sequence.negatives=sleep", override)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dreams": "nightly"}, "dreams must be one of step, epoch"),
        ({"dream_length": 0}, "dream_length must be >= 1"),
        ({"dreams": "epoch"}, "pass dream_length=None"),
        ({"temperature": -1.0}, "temperature must be >= 0"),
    ],
)
def test_dream_negatives_reject_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DreamNegatives(**kwargs)


def test_wake_and_sleep_phases_need_losses_with_halves(tmp_path):
    cfg = _cfg(tmp_path)
    with pytest.raises(ValueError, match="phases must be one of"):
        Trainer(build_network(cfg, 4 * 30, 30), phases="alone", progress=False)
    symba = build_network(_cfg(tmp_path, "model.loss=symba"), 4 * 30, 30)
    with pytest.raises(ValueError, match=r"model\.loss=softplus"):
        Trainer(symba, negatives=DreamNegatives(), phases="halves", progress=False)


def test_frozen_random_readout_baseline(tmp_path):
    cfg = _cfg(tmp_path, "trainer.epochs=4")
    splits = load_data(cfg)
    history = train_frozen_readout(cfg, splits)
    accuracy = [r["eval/accuracy"] for r in history]
    assert len(accuracy) == 4 and accuracy == [r["eval/accuracy"] for r in train_frozen_readout(cfg, splits)]
    most_frequent = float((splits.test.y == torch.bincount(splits.train.y).argmax()).float().mean())
    assert accuracy[-1] > most_frequent + 0.2, (most_frequent, accuracy)  # random features carry the context


def test_cli_train_eval_and_generate(tmp_path, capsys):
    (tmp_path / "tiny.txt").write_text(TEXT)
    args = [
        "data.name=text",
        f"data.root={tmp_path / 'tiny.txt'}",
        "model.kind=sequence",
        "model.hidden=[32,32]",
        "model.head=false",
        "model.loss=softplus",
        "trainer.negatives=hard",
        "trainer.hard_source=goodness",
        "trainer.epochs=1",
        "trainer.progress=false",
        "sequence.context=4",
        "sequence.num_strings=12",
        "sequence.string_length=40",
        "sequence.eval_strings=4",
    ]
    out = tmp_path / "run"
    assert main(["train", *args, "--out", str(out)]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["eval", str(out / "checkpoint.pt")]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["test_accuracy_goodness"] == pytest.approx(trained["test_accuracy_goodness"])
    gen = ["generate", str(out / "checkpoint.pt"), "--prompt", "The dog", "--length", "25", "--seed", "7"]
    assert main(gen) == 0
    first = capsys.readouterr().out.strip()
    assert main(gen) == 0
    assert capsys.readouterr().out.strip() == first and first.startswith("the dog") and len(first) == 32
    (tmp_path / "short.txt").write_text("too short.")
    assert main(["train", *args, f"data.root={tmp_path / 'short.txt'}", "--out", str(tmp_path / "r2")]) == 2
    assert "too short" in capsys.readouterr().err


def test_generate_keeps_the_prompt_as_given() -> None:
    """A prompt ending in a space asks for a new word: the space is kept (only the alphabet is reduced)."""
    cfg = load_config(None, ["model.kind=sequence", "model.hidden=[8]", "sequence.context=4"])
    net = build_network(cfg, 4 * len(ALPHABET), len(ALPHABET))
    text = generate(net, "A hungry fox saw ", length=5, context=4, seed=0)
    assert text.startswith("a hungry fox saw ") and len(text) == len("a hungry fox saw ") + 5
    assert reduce_to_alphabet(" Fox!  ", strip=False) == " fox. " and reduce_to_alphabet(" Fox!  ") == "fox."
