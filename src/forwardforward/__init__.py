"""forwardforward: Hinton's Forward-Forward algorithm and its successors, in PyTorch.

Example::

    import forwardforward as ff
    net = ff.FFNetwork.mlp([784, 1000, 1000], num_classes=10)
    trainer = ff.Trainer(net)
    splits = ff.data.load("fashion-mnist")   # $FF_DATA_DIR, system folders, else a checksummed download
    trainer.fit(splits.train, epochs=10, batch_size=128)
    print(net.evaluate(splits.test))
    trainer.save_checkpoint("net.pt"); net = ff.load("net.pt")   # also a run folder of `ff train`

The public API is what this module exports: the layer, the network, the trainer and its callbacks, the data
loaders, configs and checkpoints. The pieces live in sub-packages whose names show the architecture
(docs/architecture.md): the core (goodness, losses, normalize, activations, init, optim, layers, network),
``labels``, ``negatives``, ``models``, ``training``, ``inference``, ``hardware``, ``evaluation`` and
``experiment``.
"""

from __future__ import annotations

# Importing the sub-packages registers every piece by name (configs and the CLI refer to them so).
from . import data, evaluation, experiment, hardware, inference, labels, models, negatives, training
from .evaluation import baselines, probe
from .experiment.config import ConfigError, load_config
from .experiment.loading import load
from .hardware import analog, blackbox
from .layers import FFLayer, LayerStats, linear_layer
from .network import FFNetwork
from .training.callbacks import Callback
from .training.checkpoint import load_checkpoint, save_atomic
from .training.trainer import NonFiniteLossError, Trainer
from .version import __version__

__all__ = [
    "Callback",
    "ConfigError",
    "FFLayer",
    "FFNetwork",
    "LayerStats",
    "NonFiniteLossError",
    "Trainer",
    "__version__",
    "analog",
    "baselines",
    "blackbox",
    "data",
    "evaluation",
    "experiment",
    "hardware",
    "inference",
    "labels",
    "linear_layer",
    "load",
    "load_checkpoint",
    "load_config",
    "models",
    "negatives",
    "probe",
    "save_atomic",
    "training",
]
