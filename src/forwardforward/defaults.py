"""The one source of defaults: the config schema, as plain dataclasses.

``ff train`` reads configs against these classes (OmegaConf structured configs: strict keys, typed
values), and the Python API takes its defaults from the same classes: ``FFNetwork.mlp(dims)``,
``FFLayer(block)`` and ``Trainer(net)`` build exactly what ``ff train`` builds from an empty config. Each
field's comment (on its line, or the comment lines just above it) says what it means: ``ff config`` prints
it beside the key's value, and a test checks that every key has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DataConfig:
    """What to learn from: a dataset of the registry and where its files are.

    Attributes:
        name: the dataset: ``digits`` (bundled), ``fashion-mnist``, ``mnist``, ``cifar10``, ``cifar100`` or
            ``aesop`` (text).
        root: the directory holding its files; ``None`` looks in ``FF_DATA_DIR``, then system paths.
        val_fraction: the fraction of the training set held out as the per-epoch evaluation set.
        download: download the files (checksum verified) when they are not found locally.
        train_subset: train on a seeded random subset of this many examples (for quick studies).
        center: subtract the training set's mean image and divide by its overall std, in every split.
    """

    name: str = "digits"  # the dataset: digits (bundled) | fashion-mnist | mnist | cifar10 | cifar100 | aesop
    root: str | None = None  # directory with the dataset files; else FF_DATA_DIR, then system paths
    val_fraction: float = 0.0  # fraction of the training set held out as the per-epoch evaluation set
    download: bool = True  # download (with checksum) when the files are not found locally
    train_subset: int | None = None  # train on a seeded random subset of this many examples (quick studies)
    center: bool = False  # subtract the training set's mean image, divide by its overall std (every split)


@dataclass
class ConvLayerConfig:
    """One conv FF layer of ``model.kind=cnn`` (forwardforward.conv.ConvBlock).

    Attributes:
        channels: output channels (feature maps).
        kernel: the square kernel's size.
        stride: the convolution's stride.
        padding: zero padding; ``None`` is ``kernel // 2``, which keeps the size at stride 1.
        pool: pooling after the activation: ``none``, ``max`` or ``avg``.
        pool_size: the pooling window, which is also its stride.
        norm: a normalisation inside the block, before the activation: ``none``, ``batch`` or ``layer``.
        local: locally connected, with weights not shared across positions.
        groups: a grouped convolution; one group per class keeps class groups apart (channel-wise
            competition).
    """

    channels: int = 32  # output channels (feature maps)
    kernel: int = 3  # square kernel size
    stride: int = 1  # the convolution's stride
    padding: int | None = None  # default kernel // 2 (same size)
    pool: str = "none"  # pooling after the activation: none | max | avg
    pool_size: int = 2  # the pooling window (and stride)
    norm: str = "none"  # none | batch | layer (inside the block, before the activation)
    local: bool = False  # locally connected: weights not shared across positions
    groups: int = 1  # grouped convolution; one group per class keeps class groups apart (CwComp)


@dataclass
class ModelConfig:
    """The FF network: its kind, layers, goodness, loss, label embedding and normalisation.

    Attributes:
        kind: ``mlp``, ``recurrent`` (top-down FF, section ``recurrent``), ``sequence`` (next character,
            section ``sequence``) or ``cnn`` (layers in ``conv``).
        hidden: the FF layers' widths, in order.
        activation: the layers' activation by name (``relu``, ``gelu``, ``tanh``...).
        goodness: a layer's goodness of its activities: ``meansq``, ``sumsq``, ``l2``, ``l1``, ``lp``,
            ``topk`` or ``mean``.
        p: the norm's exponent for ``goodness=lp``.
        topk: for ``goodness=topk``, how many of each sample's strongest activities count.
        loss: the local loss: ``symba``, ``softplus``, ``sigmoid_diff``, ``log_margin`` or ``channel_ce``.
        threshold: the threshold of ``softplus`` and ``sigmoid_diff``: a number or ``"width"``.
        alpha: SymBa's scale.
        temperature: softplus's margin scale (channel_ce's softmax temperature).
        floor: log_margin's smallest argument of its logarithms.
        normalize: what each layer passes on: ``rms``, ``length`` or ``none``.
        labels: how the label enters: ``overlay``, ``append`` or ``none`` (unsupervised); for a cnn also
            ``spatial`` (class gratings as a label channel), ``planes`` (a learned label channel) or
            ``channels`` (channel-wise competition: no label in the input, no negatives).
        label_strength: the label code's scale (the one-hot's value, the label channel's amplitude).
        bias: whether the FF layers have biases.
        peer_norm: Hinton's peer normalisation weight λ (his code uses 0.03); 0 disables it. A unit's running
            mean is per channel on a convolution, per channel and position on a locally connected layer.
        peer_momentum: the decay of each unit's running mean activity for peer normalisation.
        peer_gated: true lets the peer term reach a unit only through its activation (a dead ReLU gets
            none); false is Hinton's code, which reaches each unit's total input even while it is off.
        input_normalize: normalise the embedded input, label included: ``none``, ``rms`` or ``length``.
        init: the weight initialisation: ``torch`` (PyTorch's own) or ``hinton`` (N(0, 1/fan_in) weights,
            zero biases and head).
        head_bias: whether the linear head has a bias (Hinton's has none that learns).
        score_layers: the layers whose goodness predicts; ``None``: all but the first.
        head: add a linear softmax head on neutral-label features.
        head_layers: the layers the head reads; ``None``: all of them.
        weight_noise: simulated analog hardware: relative Gaussian noise on the weights (0: none).
        act_noise: simulated analog hardware: relative Gaussian noise on the activations (0: none).
        weight_bits: simulated analog hardware: weights quantised to this many bits (``None``: full
            precision).
        act_bits: simulated analog hardware: activations quantised to this many bits (``None``: full
            precision).
        conv: the conv FF layers of ``kind=cnn``, in order.
        label_grid: ``labels=planes``: each class's learned plane has ``label_grid`` squared parameters,
            resized to the image.
        channels_last: ``kind=cnn``: the NHWC memory layout (the same numbers, faster on CPU).
        test_views: test-time views for ``ff eval`` and the benchmarks, never for training: ``none``,
            ``shift`` (the image and its 8 one-pixel shifts) or ``cross`` (the 4 axis shifts).
    """

    # mlp | recurrent (top-down FF, section `recurrent`) | sequence (next char, `sequence`) | cnn (model.conv)
    kind: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [500, 500])  # the FF layers' widths, in order
    # relu | gelu | silu | tanh | sigmoid | leaky_relu | softplus | hardtanh | identity
    activation: str = "relu"
    # a layer's goodness of its activities: meansq | sumsq | l2 | l1 | lp | topk | mean
    goodness: str = "meansq"
    p: float = 2.0  # goodness=lp: the norm's exponent
    topk: int = 20  # for goodness=topk: how many of each sample's strongest activities count
    loss: str = "symba"  # the local loss: symba | softplus | sigmoid_diff | log_margin | channel_ce | cwc_exp
    threshold: Any = 2.0  # softplus / sigmoid_diff / log_margin / cwc_exp: a number or "width"
    alpha: float = 4.0  # symba's scale
    temperature: float = 1.0  # softplus's margin scale (channel_ce's softmax temperature)
    floor: float = 0.05  # log_margin: the smallest argument of its logarithms
    normalize: str = "rms"  # rms | length | none: what each layer passes on
    # how the label enters: overlay | append | none (unsupervised: no label enters the network); cnn: spatial
    # (class gratings as a label channel) | spatial_overlay (class strips added onto the image) | planes
    # (learned label channel) | channels (channel-wise competition: a channel group per class, goodness per
    # group, cross-entropy, no negatives) | overlay
    labels: str = "append"
    label_strength: float = 1.0  # the label code's scale (the one-hot's value, the label channel's amplitude)
    bias: bool = True  # the FF layers' biases
    peer_norm: float = 0.0  # Hinton's lambda (0.03); 0 disables
    peer_momentum: float = 0.9  # decay of each unit's running mean activity for peer normalisation
    # false: the peer term reaches each unit's total input even while the unit is off (Hinton's code);
    # true: only through the activation, so a dead ReLU gets none of it
    peer_gated: bool = True
    input_normalize: str = "none"  # none | rms | length: normalise the embedded input, label included
    init: str = "torch"  # torch (PyTorch's own) | hinton (N(0, 1/fan_in) weights, zero biases and head)
    head_bias: bool = True  # the linear head's bias (Hinton's code has none that learns)
    score_layers: list[int] | None = None  # layers whose goodness predicts; default: all but the first
    head: bool = True  # linear softmax head on neutral-label features
    head_layers: list[int] | None = None  # layers the head reads; default: all layers
    # Simulated analog hardware (forwardforward.analog), at training and test time, for FF and `ff compare`'s
    # backprop twin alike (a heading: a blank line keeps it out of the next key's meaning).

    weight_noise: float = 0.0  # analog: relative Gaussian noise on the weights (0: none)
    act_noise: float = 0.0  # analog: relative Gaussian noise on the activations (0: none)
    weight_bits: int | None = None  # analog: weights quantised to this many bits (null: full precision)
    act_bits: int | None = None  # analog: activations quantised to this many bits (null: full precision)
    conv: list[ConvLayerConfig] = field(default_factory=list)  # model.kind=cnn: the conv FF layers, in order
    label_grid: int = 7  # labels=planes: learned planes are label_grid^2 parameters per class, resized
    channels_last: bool = False  # model.kind=cnn: NHWC memory layout, same numbers, ~14% faster on CPU
    # test-time views for `ff eval` and the benchmarks (never for training): none | shift (the image and its
    # 8 one-pixel shifts, goodness averaged over the 9) | cross (the 4 axis shifts, 5 views)
    test_views: str = "none"


@dataclass
class TrainerConfig:
    """How the network learns: schedule, optimiser, negatives, seed, device and what the run prints.

    Attributes:
        schedule: ``all`` (every layer every batch) or ``greedy`` (layer by layer, each for ``epochs``).
        phases: how positives and negatives meet: ``together`` (one loss), ``halves`` (each its own forward
            pass and half of the loss, one update) or ``alternate`` (an update per half).
        epochs: training epochs (per layer for the greedy schedule).
        batch_size: examples per optimiser step.
        optimizer: any ``torch.optim`` class name (case-insensitive), or ``smoothed_sgd``.
        lr: the learning rate of every layer and the head, unless ``layer_lr`` / ``head_lr`` set them.
        weight_decay: the optimiser's L2 weight decay.
        decay_biases: false applies ``weight_decay`` to weights only (Hinton's code).
        momentum: passed to the optimisers that take it (SGD, RMSprop).
        optimizer_kwargs: any further optimiser arguments (``{dampening: 0.9}``, ``{delay: 0.9}``...).
        fused: torch's fused kernel where the optimiser has one (Adam, AdamW, SGD, Adagrad): the same
            update in one kernel for all parameters, a faster step on a CPU.
        layer_lr: one learning rate per layer.
        head_lr: the linear head's learning rate; ``None``: ``lr``.
        head_weight_decay: the head's weight decay; ``None``: ``weight_decay``.
        cooldown_start: the fraction of training after which the learning rate decays linearly to 0.
        cooldown_every: ``step`` or ``epoch`` (the rate changes once per epoch, as in Hinton's code).
        negatives: the negative data: ``hard``, ``random`` (wrong labels), or negative images for
            unsupervised FF: ``hybrid``, ``scff``, ``user``.
        hard_source: where hard negatives' scores come from: ``head`` (the linear head) or ``goodness``.
        hard_temperature: hard negatives: above 1 flattens, below 1 sharpens the wrong-label distribution.
        hard_warmup_epochs: hard negatives: random wrong labels for this many epochs first.
        negatives_refresh: greedy schedule: resample the whole set's negatives every this many epochs.
        seed: seeds initialisation, shuffling, augmentation, negatives and data subsets.
        device: ``auto`` (cuda, else mps, else cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        threads: ``torch.set_num_threads`` (``None``: torch's default).
        progress: a line per epoch on stderr (bars on a terminal).
        eval_every: score the held-out split after every this many epochs and after the last (0: only the
            final test); each scoring tries every label on every sample, which can cost more than an epoch.
        eval_samples: score only this many held-out samples per epoch (a fixed random subset; ``None``:
            all). The final test of ``ff train`` always uses the whole split.
        tensorboard: also log the metrics for TensorBoard.
        layerwise_step: backward and step each layer before the next forward: memory flat in depth.
        compile: ``torch.compile`` each layer.
        autocast: ``bf16`` for bfloat16 autocast of training forwards; ``None``: fp32.
        augment: ``none``, ``shift`` (random translations) or ``shift_flip`` (and left-right flips).
        augment_shift: the largest translation in pixels.
        layer_windows: per layer, the ``[start, end)`` epochs it learns in (staggered training).
    """

    schedule: str = "all"  # all (every layer every batch) | greedy (layer by layer, each for `epochs`)
    # how positives and negatives meet: together (one loss on positives and negatives) | halves (each its own
    # forward pass and half of the loss, one update) | alternate (an update per half: positives and
    # negatives never share one; the negatives are made after the positive update, by the updated model)
    phases: str = "together"
    epochs: int = 20  # per layer for the greedy schedule
    batch_size: int = 64  # examples per optimiser step
    optimizer: str = "adam"  # any torch.optim class name (case-insensitive), or smoothed_sgd
    lr: float = 0.01  # the learning rate of every layer and the head, unless layer_lr / head_lr set them
    weight_decay: float = 0.0  # L2 weight decay of the optimiser
    decay_biases: bool = True  # false: weight_decay on weights only (Hinton's code)
    momentum: float | None = None  # passed to optimisers that take it (SGD, RMSprop)
    # any further optimiser arguments, e.g. {dampening: 0.9} for sgd or {delay: 0.9} for smoothed_sgd
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    # torch's fused kernel where the optimiser has one (adam, adamw, sgd, adagrad): the same rule in one
    # kernel for all parameters, about 2x faster optimiser steps on a CPU; the others run as usual
    fused: bool = False
    layer_lr: list[float] | None = None  # one learning rate per layer
    head_lr: float | None = None  # the linear head's learning rate; default: lr
    head_weight_decay: float | None = None  # default: weight_decay
    cooldown_start: float = 1.0  # fraction of training after which lr decays linearly to 0
    cooldown_every: str = "step"  # step | epoch (the rate changes once per epoch, as in Hinton's code)
    # negative data: hard | random (wrong labels) | hybrid | scff | user (negative images: unsupervised FF)
    negatives: str = "hard"
    hard_source: str = "head"  # hard negatives' scores: head (the linear head) | goodness (all labels)
    hard_temperature: float = 1.0  # hard negatives: >1 flattens, <1 sharpens the wrong-label distribution
    hard_warmup_epochs: int = 0  # hard negatives: random wrong labels for this many epochs first
    negatives_refresh: int = 1  # greedy: resample the whole set's negatives every N epochs
    seed: int = 0  # seeds initialisation, shuffling, augmentation, negatives and data subsets
    device: str = "auto"  # where to train: auto (cuda, else mps, else cpu) | cpu | cuda | cuda:N | mps
    threads: int | None = None  # torch.set_num_threads (null: torch's default)
    progress: bool = True  # a line per epoch on stderr (loss, held-out accuracy, s); bars on a terminal
    eval_every: int = 1  # score the held-out split every N epochs and after the last (0: the final test only)
    eval_samples: int | None = None  # per-epoch scoring on this many held-out samples (null: all)
    tensorboard: bool = False  # also log the metrics for TensorBoard (OUT/tensorboard)
    layerwise_step: bool = False  # backward + step each layer before the next forward: memory flat in depth
    compile: bool = False  # torch.compile each layer
    autocast: str | None = None  # bf16: bfloat16 autocast for training forwards; null: fp32
    augment: str = "none"  # none | shift (random translations) | shift_flip (and left-right flips: CIFAR)
    augment_shift: int = 2  # the largest translation in pixels
    layer_windows: list[list[int]] | None = None  # per layer [start, end) epochs it learns in (staggered)


@dataclass
class RecurrentConfig:
    """model.kind=recurrent (forwardforward.recurrent): Hinton's recurrent net with top-down input.

    Attributes:
        damping: the new state is ``damping * computed + (1 - damping) * old``; 0.7, the paper's "0.3 of
            the old state plus 0.7 of the computed one".
        iterations: synchronous steps per example.
        score_from: the first step (1-based) whose goodness prediction averages.
        score_to: the last step (1-based) whose goodness prediction averages.
        train_from: the first step whose goodness is trained.
    """

    damping: float = 0.7  # new state = damping * computed + (1 - damping) * old (0.7: as published)
    iterations: int = 8  # synchronous steps per example
    score_from: int = 3  # prediction averages goodness over steps score_from..score_to (1-based)
    score_to: int = 5  # the last step prediction averages goodness over (1-based)
    train_from: int = 1  # first step whose goodness is trained


@dataclass
class SequenceConfig:
    """model.kind=sequence (forwardforward.sequence): next-character FF on a text corpus (data.root).

    Attributes:
        negatives: ``teacher`` (real context, a predicted wrong character) or ``sleep`` (generated text).
        context: characters of context, one-hot coded.
        num_strings: training strings cut from the corpus.
        string_length: characters per string.
        eval_strings: held-out strings for the per-character accuracy.
        temperature: the sampling temperature of generation (sleep phase, ``ff generate``); 0 is argmax.
        dreams: sleep phase: ``step`` (the chains advance one character per sleep update) or ``epoch`` (all
            at the epoch's start).
        dream_length: sleep phase: characters a dream runs from real text before it restarts; ``None``: to
            the string's end.
        sleep_step: sleep phase: ``paired`` (wake and sleep gradients, one optimiser step) or ``separate``
            (a step each).
    """

    negatives: str = "teacher"  # teacher (real context + predicted wrong char) | sleep (generated text)
    context: int = 10  # characters of context, one-hot: context * 30 inputs
    num_strings: int = 248  # training strings cut from the corpus
    string_length: int = 100  # characters per string
    eval_strings: int = 62  # held-out strings for per-character accuracy
    temperature: float = 1.0  # sampling temperature of generation (sleep phase, ff generate); 0 = argmax
    # The sleep phase (negatives=sleep), see forwardforward.models.sequence.DreamNegatives.

    # sleep: step (chains advance one character per sleep update) | epoch (all at epoch start)
    dreams: str = "step"
    # sleep: characters a dream runs from real text, then restarts; null: to the string's end
    dream_length: int | None = 3
    # sleep: paired (wake + sleep gradients, one optimiser step) | separate (a step each)
    sleep_step: str = "paired"


@dataclass
class UnsupConfig:
    """Negative images for unsupervised FF (``trainer.negatives=hybrid | scff | user``).

    Attributes:
        blur_steps: hybrid: blurs of the random bits before thresholding (more: larger blobs).
        pairs: scff: how a pair of images enters the network, ``mean`` (their average: the two halves'
            weights tied) or ``concat`` (side by side, or stacked as channels: each half its own weights).
        user_source: user: ``noise``, a dataset name, or a ``.pt`` / ``.npy`` file of images.
        user_root: user: that dataset's directory.
        user_resize: user: resize the negative images to the data's height and width.
    """

    blur_steps: int = 6  # hybrid: blurs of the random bits before thresholding (more: larger blobs)
    # scff: how a pair of images enters the network: mean (their average; weights of the two halves tied) |
    # concat (the two images side by side, or stacked as channels, each half with its own weights)
    pairs: str = "mean"
    user_source: str = "noise"  # user: noise | a dataset name (digits, mnist...) | a .pt/.npy file of images
    user_root: str | None = None  # user: that dataset's directory
    user_resize: bool = False  # user: resize the bad images to the data's height and width


@dataclass
class ProbeConfig:
    """The linear probe (``ff probe``, and the end of unsupervised ``ff train``).

    Attributes:
        layers: the layers the probe reads; ``None``: the last three (all when fewer).
        epochs: the probe's training epochs.
        lr: the probe's learning rate (Adam).
        batch_size: the probe's batch size.
        weight_decay: the probe's weight decay.
        raw: also probe raw pixels the same way: the baseline the features must beat.
        labels: how many labelled training images the probe learns from (a seeded draw; ``None``: all);
            the network still trains on every image, so this measures label efficiency.
    """

    layers: list[int] | None = None  # layers the probe reads; default: the last three (all when fewer)
    epochs: int = 20  # the probe's training epochs
    lr: float = 0.001  # the probe's learning rate (Adam)
    batch_size: int = 256  # the probe's batch size
    weight_decay: float = 0.0  # the probe's weight decay
    raw: bool = False  # also probe raw pixels, the same way: the baseline features must beat
    # how many labelled training images the probe learns from (a seeded draw, trainer.seed; null: all); the
    # network still trains on every image: this measures how label-efficient its features are
    labels: int | None = None


@dataclass
class Config:
    """The whole experiment: the user's modules to import, then one section per part.

    Attributes:
        imports: the user's own modules, imported before anything is built, so the names of the pieces
            they register (a goodness, a negatives class, a dataset...) are known: each a dotted module name
            importable from the current folder, or the path of a ``.py`` file.
        data: the dataset (:class:`DataConfig`).
        model: the network (:class:`ModelConfig`).
        trainer: how it learns (:class:`TrainerConfig`).
        unsup: negative images for unsupervised FF (:class:`UnsupConfig`).
        probe: the linear probe (:class:`ProbeConfig`).
        recurrent: the recurrent network's settings (:class:`RecurrentConfig`).
        sequence: the next-character model's settings (:class:`SequenceConfig`).
    """

    # your own modules, imported first so that the pieces they register can be named below: dotted names
    # importable from the current folder, or .py paths
    imports: list[str] = field(default_factory=list)
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
