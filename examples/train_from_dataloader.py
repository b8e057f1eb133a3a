"""Train Forward-Forward on data you already hold as a PyTorch ``Dataset`` / ``DataLoader``.

    python examples/train_from_dataloader.py            # a few seconds on one CPU thread

Your pipeline hands out ``(x, y)`` batches; ``Trainer.fit`` and ``net.evaluate`` take the ``DataLoader``
itself. FF reads it once into memory, because every epoch draws its own batches and negative labels from
the whole set (the loader's own batching and shuffling are not used). Here the data are the bundled 8x8
digits, wrapped in a ``TensorDataset`` as a user's own data would be. Then the trained network is saved,
loaded back with ``ff.load`` and asked about one image as a NumPy array.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

import forwardforward as ff


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    digits = ff.data.load("digits")  # stands in for your own tensors
    train = DataLoader(TensorDataset(digits.train.x, digits.train.y), batch_size=64, shuffle=True)
    test = DataLoader(TensorDataset(digits.test.x, digits.test.y), batch_size=256)

    net = ff.FFNetwork.mlp([64, 200, 200], num_classes=10)
    trainer = ff.Trainer(net, lr=0.03, progress=False)
    trainer.fit(train, epochs=args.epochs, batch_size=64)
    result = net.evaluate(test)
    goodness, head = result["accuracy"], result["head_accuracy"]
    print(f"test accuracy by goodness {goodness:.3f}, by the linear head {head:.3f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = trainer.save_checkpoint(Path(tmp) / "digits.pt")
        loaded = ff.load(path)
    image = digits.test.x[0, 0].numpy()  # one [8, 8] image, as NumPy
    print(f"first test image: predicted {int(loaded.predict(image)[0])}, label {int(digits.test.y[0])}")


if __name__ == "__main__":
    main()
