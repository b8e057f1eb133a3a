"""forwardforward: Hinton's Forward-Forward algorithm and its successors, in PyTorch.

import forwardforward as ff
net = ff.FFNetwork.mlp([784, 1000, 1000], num_classes=10, loss="symba", goodness="meansq")
trainer = ff.Trainer(net, negatives="hard", lr=1e-3)
splits = ff.data.load("fashion-mnist", root="../shared/data")
trainer.fit(splits.train, epochs=10, batch_size=128)
print(net.evaluate(splits.test))
"""

# augment, competition, conv and spatial_labels also register the CNN pieces by name.
from . import (
    analog,
    augment,
    blackbox,
    cascade,
    competition,
    conv,
    data,
    goodness,
    image_negatives,
    int8,
    labels,
    losses,
    negatives,
    normalize,
    probe,
    spatial_labels,
    stream,
    unsupervised,
)
from .baselines import BackpropMLP, train_backprop
from .blackbox import BlackBox, BlackBoxError
from .callbacks import Callback
from .cascade import CascadeScorer
from .checkpoint import load_checkpoint, save_atomic
from .config import ConfigError, load_config
from .int8 import Int8Linear, quantize_int8
from .layers import FFLayer, LayerStats, linear_layer
from .network import FFNetwork
from .train import NonFiniteLossError, Trainer
from .unsupervised import UnsupervisedTrainer

__version__ = "0.1.0"

__all__ = [
    "BackpropMLP",
    "BlackBox",
    "BlackBoxError",
    "Callback",
    "CascadeScorer",
    "ConfigError",
    "FFLayer",
    "FFNetwork",
    "Int8Linear",
    "LayerStats",
    "NonFiniteLossError",
    "Trainer",
    "UnsupervisedTrainer",
    "__version__",
    "analog",
    "augment",
    "blackbox",
    "cascade",
    "competition",
    "conv",
    "data",
    "goodness",
    "image_negatives",
    "int8",
    "labels",
    "linear_layer",
    "load_checkpoint",
    "load_config",
    "losses",
    "negatives",
    "normalize",
    "probe",
    "quantize_int8",
    "save_atomic",
    "spatial_labels",
    "stream",
    "train_backprop",
    "unsupervised",
]
