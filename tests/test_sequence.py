"""Sequence FF: the text loader, teacher-forcing and sleep-phase negatives, seeded generation, the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from forwardforward.data import DataError
from forwardforward.data.text import ALPHABET, TextWindows, cut_strings, decode, reduce_to_alphabet, windows
from forwardforward.experiment.build import build_network, build_trainer, load_data, sample_shape
from forwardforward.experiment.cli import main
from forwardforward.experiment.config import load_config
from forwardforward.losses import SymBaLoss
from forwardforward.models.sequence import DreamNegatives, generate, generate_ids

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
    assert isinstance(trainer.negatives, DreamNegatives) and trainer.phases == "alternate"
    # A model that believes every next character is "z": its dreams must be "z" after the real start.
    net.scores = lambda x, **_: torch.nn.functional.one_hot(torch.full((x.shape[0],), 25), 30).float() * 50
    dreams = trainer.negatives.epoch_data(trainer, splits.train)
    assert torch.equal(dreams.strings[:, :4], splits.train.strings[:, :4])
    assert (dreams.strings[:, 4:] == 25).all() and (dreams.y == 25).all()
    # And with the real model they are exactly what it generates from the same generator state.
    del net.scores
    state = trainer.generator.get_state()
    dreams = trainer.negatives.epoch_data(trainer, splits.train)
    want = generate_ids(net, splits.train.strings[:, :4], 36, 1.0, torch.Generator().set_state(state))
    assert torch.equal(dreams.strings, want)


def test_sleep_phase_needs_a_threshold_loss():
    with pytest.raises(ValueError, match=r"model\.loss=softplus"):
        SymBaLoss().one_sided(torch.zeros(3), True)


@pytest.mark.parametrize("negatives", ["teacher", "sleep"])
def test_both_negative_kinds_learn_to_predict_the_next_character(tmp_path, negatives):
    # Dreams sampled at temperature 0.5 are sharper negatives; the sleep variant learns more slowly.
    epochs, extra = (6, []) if negatives == "teacher" else (8, ["sequence.temperature=0.5"])
    cfg = _cfg(tmp_path, f"sequence.negatives={negatives}", *extra)
    torch.manual_seed(0)
    splits = load_data(cfg)
    assert isinstance(splits.test, TextWindows)
    net = build_network(cfg, sample_shape(splits.train), 30)
    before = net.evaluate(splits.test)["accuracy"]
    history = build_trainer(cfg, net).fit(splits.train, epochs, 32, splits.test)
    after = history[-1]["eval/accuracy"]
    if negatives == "teacher":
        assert history[-1]["loss/0"] < history[0]["loss/0"]
    else:  # positives' goodness rises above the dreams'
        assert history[-1]["g_pos/0"] - history[-1]["g_neg/0"] > history[0]["g_pos/0"] - history[0]["g_neg/0"]
    assert after > 0.4 and after > before + 0.3, (before, after)  # 30 symbols: chance ~0.03


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
    assert ev["accuracy"] == pytest.approx(trained["test_accuracy_goodness"])
    gen = ["generate", str(out / "checkpoint.pt"), "--prompt", "The dog", "--length", "25", "--seed", "7"]
    assert main(gen) == 0
    first = capsys.readouterr().out.strip()
    assert main(gen) == 0
    assert capsys.readouterr().out.strip() == first and first.startswith("the dog") and len(first) == 32
    (tmp_path / "short.txt").write_text("too short.")
    assert main(["train", *args, f"data.root={tmp_path / 'short.txt'}", "--out", str(tmp_path / "r2")]) == 2
    assert "too short" in capsys.readouterr().err
