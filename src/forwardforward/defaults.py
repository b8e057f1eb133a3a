"""The one source of defaults: the config schema, as plain dataclasses.

``ff train`` reads configs against these classes (OmegaConf structured configs: strict keys, typed
values), and the Python API takes its defaults from the same classes: ``FFNetwork.mlp(dims)``,
``FFLayer(block)`` and ``Trainer(net)`` build exactly what ``ff train`` builds from an empty config. Each
field's comment says what it means (``ff config`` prints them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DataConfig:
    name: str = "digits"  # digits | fashion-mnist | mnist
    root: str | None = None  # directory with the dataset files; else FF_DATA_DIR, then system paths
    val_fraction: float = 0.0  # fraction of train held out for validation
    download: bool = True  # download (with checksum) when the files are not found locally
    train_subset: int | None = None  # train on a seeded random subset of this many examples (quick studies)
    center: bool = False  # subtract the training set's mean image, divide by its overall std (every split)


@dataclass
class ConvLayerConfig:
    """One conv FF layer of ``model.kind=cnn`` (forwardforward.conv.ConvBlock)."""

    channels: int = 32
    kernel: int = 3
    stride: int = 1
    padding: int | None = None  # default kernel // 2 (same size)
    pool: str = "none"  # none | max | avg
    pool_size: int = 2
    norm: str = "none"  # none | batch | layer (inside the block, before the activation)
    local: bool = False  # locally connected: weights not shared across positions
    groups: int = 1  # grouped convolution; one group per class keeps class groups apart (CwComp)


@dataclass
class ModelConfig:
    # mlp | recurrent (top-down FF, section `recurrent`) | sequence (next char, `sequence`) | cnn (model.conv)
    kind: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [500, 500])
    activation: str = "relu"
    goodness: str = "meansq"  # sumsq | meansq | l2 | l1 | lp | topk
    p: float = 2.0  # for goodness=lp
    topk: int = 20  # for goodness=topk: how many of each sample's strongest activities count
    loss: str = "symba"  # symba | softplus | sigmoid_diff
    threshold: Any = 2.0  # softplus / sigmoid_diff: a number or "width"
    alpha: float = 4.0  # symba's scale
    temperature: float = 1.0  # softplus's margin scale (channel_ce's softmax temperature)
    floor: float = 0.05  # log_margin: the smallest argument of its logarithms
    normalize: str = "rms"  # rms | length | none: what each layer passes on
    labels: str = "append"  # overlay | append | none (unsupervised: no label enters the network)
    # cnn: spatial (class gratings as a label channel) | planes (learned label channel) | channels
    # (channel-wise competition: a channel group per class, goodness per group, cross-entropy, no negatives)
    # | overlay
    label_strength: float = 1.0
    bias: bool = True
    peer_norm: float = 0.0  # Hinton's lambda (0.03); 0 disables
    peer_momentum: float = 0.9  # decay of each unit's running mean activity for peer normalisation
    # false: the peer term reaches each unit's total input even while the unit is off (Hinton's code);
    # true: only through the activation, so a dead ReLU gets none of it
    peer_gated: bool = True
    input_normalize: str = "none"  # none | rms | length: normalise the embedded input, label included
    init: str = "torch"  # torch (PyTorch's own) | hinton (N(0, 1/fan_in) weights, zero biases and head)
    head_bias: bool = True  # the linear head's bias (Hinton's code has none that learns)
    score_layers: list[int] | None = None  # default: all but the first
    head: bool = True  # linear softmax head on neutral-label features
    head_layers: list[int] | None = None  # default: all layers
    # Simulated analog hardware (forwardforward.analog), at training and test time, for FF and `ff compare`'s
    # backprop twin alike: relative Gaussian noise on weights / activations, k-bit weights / activations.
    weight_noise: float = 0.0
    act_noise: float = 0.0
    weight_bits: int | None = None
    act_bits: int | None = None
    conv: list[ConvLayerConfig] = field(default_factory=list)  # model.kind=cnn: the conv FF layers, in order
    label_grid: int = 7  # labels=planes: learned planes are label_grid^2 parameters per class, resized
    channels_last: bool = False  # model.kind=cnn: NHWC memory layout, same numbers, ~14% faster on CPU
    # Test-time views for `ff eval` and the benchmarks (never for training): none | shift (the image and its
    # 8 one-pixel shifts, goodness averaged over the 9) | cross (the 4 axis shifts, 5 views)
    test_views: str = "none"


@dataclass
class TrainerConfig:
    schedule: str = "all"  # all | greedy
    # together (one loss on positives and negatives) | halves (each its own forward pass and half of the
    # loss, one update) | alternate (an update per half: positives and negatives never share one)
    phases: str = "together"
    epochs: int = 20  # per layer for the greedy schedule
    batch_size: int = 64
    optimizer: str = "adam"  # any torch.optim class name
    lr: float = 0.01
    weight_decay: float = 0.0
    decay_biases: bool = True  # false: weight_decay on weights only (Hinton's code)
    momentum: float | None = None  # passed to optimisers that take it (SGD, RMSprop)
    # any further optimiser arguments, e.g. {dampening: 0.9} for sgd or {delay: 0.9} for smoothed_sgd
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    layer_lr: list[float] | None = None  # one learning rate per layer
    head_lr: float | None = None
    head_weight_decay: float | None = None  # default: weight_decay
    cooldown_start: float = 1.0  # fraction of training after which lr decays linearly to 0
    cooldown_every: str = "step"  # step | epoch (the rate changes once per epoch, as in Hinton's code)
    negatives: str = "hard"  # hard | random
    hard_source: str = "head"  # head | goodness
    hard_temperature: float = 1.0
    hard_warmup_epochs: int = 0
    negatives_refresh: int = 1  # greedy: resample the whole set's negatives every N epochs
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None  # torch.set_num_threads
    progress: bool = True
    tensorboard: bool = False
    layerwise_step: bool = False  # backward + step each layer before the next forward: memory flat in depth
    compile: bool = False  # torch.compile each layer
    autocast: str | None = None  # bf16: bfloat16 autocast for training forwards; null: fp32
    augment: str = "none"  # none | shift (random translations) | shift_flip (and left-right flips: CIFAR)
    augment_shift: int = 2  # the largest translation in pixels
    layer_windows: list[list[int]] | None = None  # per layer [start, end) epochs it learns in (staggered)


@dataclass
class RecurrentConfig:
    """model.kind=recurrent (forwardforward.recurrent): Hinton's recurrent net with top-down input."""

    damping: float = 0.3  # new state = damping * computed + (1 - damping) * old
    iterations: int = 8  # synchronous steps per example
    score_from: int = 3  # prediction averages goodness over steps score_from..score_to (1-based)
    score_to: int = 5
    train_from: int = 1  # first step whose goodness is trained


@dataclass
class SequenceConfig:
    """model.kind=sequence (forwardforward.sequence): next-character FF on a text corpus (data.root)."""

    negatives: str = "teacher"  # teacher (real context + predicted wrong char) | sleep (generated text)
    context: int = 10  # characters of context, one-hot: context * 30 inputs
    num_strings: int = 248  # training strings cut from the corpus
    string_length: int = 100
    eval_strings: int = 62  # held-out strings for per-character accuracy
    temperature: float = 1.0  # sampling temperature of generation (sleep phase, ff generate); 0 = argmax
    # The sleep phase (negatives=sleep), see forwardforward.models.sequence.DreamNegatives:
    dreams: str = "step"  # step (chains advance one character per sleep update) | epoch (all at epoch start)
    dream_length: int | None = 3  # characters a dream runs from real text, then restarts; null: to string end
    sleep_step: str = "paired"  # paired (wake + sleep gradients, one optimiser step) | separate (a step each)


@dataclass
class UnsupConfig:
    """Negative images for unsupervised FF (``trainer.negatives=hybrid | scff | user``)."""

    blur_steps: int = 6  # hybrid: blurs of the random bits before thresholding (more: larger blobs)
    user_source: str = "noise"  # user: noise | a dataset name (digits, mnist...) | a .pt/.npy file of images
    user_root: str | None = None  # user: that dataset's directory
    user_resize: bool = False  # user: resize the bad images to the data's height and width


@dataclass
class ProbeConfig:
    """The linear probe (``ff probe``, and the end of unsupervised ``ff train``)."""

    layers: list[int] | None = None  # default: the last three hidden layers (all when fewer)
    epochs: int = 20
    lr: float = 0.001
    batch_size: int = 256
    weight_decay: float = 0.0
    raw: bool = False  # also probe raw pixels, the same way: the baseline features must beat
    # How many labelled training images the probe learns from (a seeded draw, trainer.seed; None: all).
    # The network still trains on every image; this measures how label-efficient its features are.
    labels: int | None = None


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    unsup: UnsupConfig = field(default_factory=UnsupConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    recurrent: RecurrentConfig = field(default_factory=RecurrentConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)


#: The defaults of each section, for the Python API's signatures.
MODEL = ModelConfig()
TRAINER = TrainerConfig()

__all__ = [
    "MODEL",
    "TRAINER",
    "Config",
    "ConvLayerConfig",
    "DataConfig",
    "ModelConfig",
    "ProbeConfig",
    "RecurrentConfig",
    "SequenceConfig",
    "TrainerConfig",
    "UnsupConfig",
]
