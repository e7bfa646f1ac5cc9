"""Genre networks from the literature, plus genrekit's default, as plain ``nn.Module``s.

Every body takes a batch of log-mel chunks ``[shape=(batch, 1, n_mels, n_frames)]`` (or,
for ``cnn5-img``, spectrogram images ``(batch, 3, 288, 432)``) and returns logits
``(batch, n_classes)``. :class:`GenreNet` puts the log-mel front end in front of a body,
so a model takes waveform chunks. Networks read no files and no config (``musicnn-finetune``
starts from the pretrained weights shipped with genrekit): a trainer runs them.

A body with a pretrained part it does not train has ``frozen_features(x)`` and a ``head``
module, ``body(x) == body.head(body.frozen_features(x))``: the trainer computes the frozen
part once per example and trains the head alone.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from genrekit.errors import ModelError
from genrekit.features import musicnn
from genrekit.features.musicnn.network import MusiCNN, MusicnnPooling
from genrekit.models.nets.frontend import FrontEndConfig, LogMelFrontEnd

logger = logging.getLogger(__name__)


def _xavier(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _flat_size(features: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        return int(features(torch.zeros(1, *shape)).flatten(1).shape[1])


class EdgeCNN(nn.Module):
    """Small CNN for phones: three conv layers of 32, 32 and 64 filters with 2×6 kernels and
    2×6 max-pooling, batch norm, no non-linearity between conv layers, a 512-unit tanh layer
    (L1/L2 penalties are the trainer's, on every parameter) and a softmax output. Input: 7.5 s fragments
    (a 30 s clip in four), 128 mel bands × 324 frames."""

    def __init__(self, n_classes: int, n_mels: int = 128, n_frames: int = 324):
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in ((1, 32), (32, 32), (32, 64)):
            # "same" padding for an even 2x6 kernel: 0/1 rows, 2/3 columns.
            layers += [nn.ZeroPad2d((2, 3, 0, 1)), nn.Conv2d(c_in, c_out, (2, 6)), nn.BatchNorm2d(c_out), nn.MaxPool2d((2, 6))]
        self.features = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(_flat_size(self.features, (1, n_mels, n_frames)), 512), nn.Tanh())
        self.classifier = nn.Linear(512, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dense(self.features(x)))


def _conv_block(c_in: int, c_out: int, pool: tuple[int, int]) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(pool)]


class CNN4(nn.Module):
    """Four 3×3 conv layers (64, 128, 256, 512 channels) reducing 128×128 to 2×2, then three
    dense layers with 0.5 dropout; Xavier-uniform init. Published with sigmoid outputs, binary
    cross-entropy and RMSprop (the trainer's choice); the logits serve both variants."""

    def __init__(self, n_classes: int, n_mels: int = 128, n_frames: int = 128):
        super().__init__()
        pools = ((2, 2), (4, 4), (4, 4), (2, 2))
        channels = (1, 64, 128, 256, 512)
        self.features = nn.Sequential(*[m for i, p in enumerate(pools) for m in _conv_block(channels[i], channels[i + 1], p)])
        size = _flat_size(self.features, (1, n_mels, n_frames))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.5), nn.Linear(size, 512), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(512, 128), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(128, n_classes),
        )
        _xavier(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class CRNN(nn.Module):
    """Conv layers, then one 256-unit GRU over the remaining time steps: the idea of Choi et al.
    2017's CRNN (theirs: four conv layers, then two GRU layers over 15 steps).

    ``crnn1``: CNN4 without its last conv layer, 128×128 input. ``crnn2``: four conv layers
    on a 256×256 input.
    """

    def __init__(self, n_classes: int, n_mels: int, n_frames: int, channels: tuple[int, ...], pools: tuple[tuple[int, int], ...]):
        super().__init__()
        chain = (1, *channels)
        self.features = nn.Sequential(*[m for i, p in enumerate(pools) for m in _conv_block(chain[i], chain[i + 1], p)])
        with torch.no_grad():
            _, c, f, _ = self.features(torch.zeros(1, 1, n_mels, n_frames)).shape
        self.gru = nn.GRU(c * f, 256, batch_first=True)
        self.dropout = nn.Dropout(0.5)
        self.classifier = nn.Linear(256, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.features(x)  # (batch, channels, freq, time)
        sequence = maps.permute(0, 3, 1, 2).flatten(2)  # (batch, time, channels * freq)
        _, hidden = self.gru(sequence)
        return self.classifier(self.dropout(hidden[-1]))


class CNN5Image(nn.Module):
    """Five 3×3 conv layers (stride 1, no padding, 8 → 128 channels), each with batch norm,
    ReLU and 2×2 max-pooling, then dropout and one dense layer, on 3-channel 288×432
    spectrogram images."""

    def __init__(self, n_classes: int, height: int = 288, width: int = 432):
        super().__init__()
        layers: list[nn.Module] = []
        chain = (3, 8, 16, 32, 64, 128)
        for c_in, c_out in zip(chain, chain[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(_flat_size(self.features, (3, height, width)), n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class CNN4Small(nn.Module):
    """Four conv layers with 2×2 filters and strides 2, 1, 2, 1, each with batch norm, ReLU and
    2×2 max-pooling of stride 1; Xavier init; one dense layer (L2 0.019 is the trainer's weight
    decay, on every parameter)."""

    def __init__(self, n_classes: int, n_mels: int = 128, n_frames: int = 128):
        super().__init__()
        layers: list[nn.Module] = []
        chain = (1, 32, 64, 64, 128)
        for (c_in, c_out), stride in zip(zip(chain, chain[1:]), (2, 1, 2, 1)):
            layers += [nn.Conv2d(c_in, c_out, 2, stride=stride), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2, stride=1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(_flat_size(self.features, (1, n_mels, n_frames)), n_classes))
        _xavier(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ResidualBlock(nn.Module):
    """Two 3×3 conv layers with batch norm and a shortcut, then 2×2 max-pooling."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity() if c_in == c_out else nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.body(x) + self.shortcut(x)))


class ShortChunkResNet(nn.Module):
    """The short-chunk-resnet preset: a short-chunk residual CNN after Won et al. 2020, smaller
    (6 blocks of 32 to 128 channels, max-pooling, no hidden dense layer; theirs: 7 strided blocks
    of 128 to 512), for ~3 s chunks, with global max + mean pooling so it accepts any length."""

    def __init__(self, n_classes: int, channels: tuple[int, ...] = (32, 32, 64, 64, 128, 128), dropout: float = 0.5):
        super().__init__()
        self.input_norm = nn.BatchNorm2d(1)
        chain = (1, *channels)
        self.blocks = nn.Sequential(*[ResidualBlock(a, b) for a, b in zip(chain, chain[1:])])
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * channels[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.blocks(self.input_norm(x)).flatten(2)
        pooled = torch.cat([maps.amax(dim=2), maps.mean(dim=2)], dim=1)
        return self.classifier(self.dropout(pooled))


class MusicnnBackEnd(nn.Module):
    """musicnn's back end (batch norm, dropout, 200-unit dense layer, ReLU, batch norm) with
    its pretrained weights, then a new output layer: pooled features ``(batch, 1506)`` ->
    genre logits. Its batch norms keep their pretrained statistics in training too: a few
    hundred genre examples would only make them worse."""

    def __init__(self, network: MusiCNN, n_classes: int):
        super().__init__()
        self.pool_norm, self.dense, self.dense_norm = network.pool_norm, network.dense, network.dense_norm
        self.dropout = nn.Dropout(0.5)
        self.classifier = nn.Linear(network.dense.out_features, n_classes)

    def train(self, mode: bool = True) -> MusicnnBackEnd:
        super().train(mode)
        self.pool_norm.eval()
        self.dense_norm.eval()
        return self

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        embedding = self.dense_norm(torch.relu(self.dense(self.dropout(self.pool_norm(pooled)))))
        return self.classifier(self.dropout(embedding))


def _tag_key(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


class MusicnnFinetune(nn.Module):
    """The pretrained ``MSD_musicnn`` fine-tuned for genres: its front and mid end frozen
    (weights and batch-norm statistics), its back end retrained (:class:`MusicnnBackEnd`).
    Input: musicnn's log-mel patches ``(batch, 1, 96, 187)``. Genres named like one of MSD's
    tags start from the tag's output weights (:meth:`start_from_tags`)."""

    def __init__(self, n_classes: int):
        super().__init__()
        network, self.tags = musicnn.load_musicnn("MSD_musicnn")
        network = copy.deepcopy(network)
        self.frozen = MusicnnPooling(network).requires_grad_(False)
        self.head = MusicnnBackEnd(network, n_classes)

    def start_from_tags(self, labels: Sequence[str]) -> list[str]:
        """Start the output row of each genre named like one of the network's tags (case,
        spaces and hyphens aside: "hiphop" is "Hip-Hop") from that tag's weights, what the
        network already knows of the genre; the other rows keep their random start.
        Returns the genres that matched."""
        if len(labels) != self.head.classifier.out_features:
            raise ModelError(f"{len(labels)} labels for a network of {self.head.classifier.out_features} genres")
        index = {_tag_key(tag): i for i, tag in enumerate(self.tags)}
        tag_layer = musicnn.load_musicnn("MSD_musicnn")[0].classifier  # the loaded network, never trained here
        matched = []
        with torch.no_grad():
            for row, label in enumerate(labels):
                if _tag_key(label) in index:
                    self.head.classifier.weight[row] = tag_layer.weight[index[_tag_key(label)]]
                    self.head.classifier.bias[row] = tag_layer.bias[index[_tag_key(label)]]
                    matched.append(label)
        return matched

    def train(self, mode: bool = True) -> MusicnnFinetune:
        super().train(mode)
        self.frozen.eval()
        return self

    def frozen_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.frozen(x.squeeze(1).transpose(1, 2))  # musicnn reads (batch, frames, mels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.frozen_features(x))


class GenreNet(nn.Module):
    """Log-mel front end + body: waveform chunks ``(batch, samples)`` in, logits out."""

    def __init__(self, frontend: LogMelFrontEnd, body: nn.Module):
        super().__init__()
        self.frontend = frontend
        self.body = body

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.body(self.frontend(waveform))


@dataclass(frozen=True)
class Preset:
    """A named architecture with its input and the training set-up it takes from its source
    (what it leaves unset, :meth:`genrekit.train.TrainConfig.resolved` fills)."""

    build: Callable[[int], nn.Module]
    frontend: FrontEndConfig | None
    n_frames: int | None
    training: dict = field(default_factory=dict)
    input_kind: str = "waveform"
    description: str = ""


PRESETS: dict[str, Preset] = {
    "edge-cnn": Preset(
        lambda n: EdgeCNN(n), FrontEndConfig(n_mels=128), 324,
        {"optimizer": "sgd", "lr": 0.01, "batch_size": 16, "l1": 1e-5, "l2": 1e-4, "loss": "ce"},
        description="3-layer CNN for phones, 7.5 s fragments",
    ),
    "cnn4": Preset(
        lambda n: CNN4(n), FrontEndConfig(n_mels=128), 128,
        {"optimizer": "rmsprop", "lr": 1e-3, "batch_size": 32, "loss": "bce"},
        description="4 conv layers 3x3, 128x128 to 2x2, 3 dense layers",
    ),
    "crnn1": Preset(
        lambda n: CRNN(n, 128, 128, (64, 128, 256), ((2, 2), (4, 4), (4, 4))), FrontEndConfig(n_mels=128), 128,
        {"optimizer": "rmsprop", "lr": 1e-3, "batch_size": 32, "loss": "ce"},
        description="cnn4 without its last conv layer + GRU(256)",
    ),
    "crnn2": Preset(
        lambda n: CRNN(n, 256, 256, (64, 128, 256, 512), ((2, 2), (4, 4), (4, 4), (2, 2))), FrontEndConfig(n_mels=256), 256,
        {"optimizer": "rmsprop", "lr": 1e-3, "batch_size": 16, "loss": "ce"},
        description="4 conv layers on 256x256 + GRU(256)",
    ),
    "cnn5-img": Preset(
        lambda n: CNN5Image(n), None, None,
        {"optimizer": "adam", "lr": 5e-4, "batch_size": 16, "loss": "ce"},
        input_kind="image",
        description="5 conv layers on 3x288x432 spectrogram images",
    ),
    "cnn4-2x2": Preset(
        lambda n: CNN4Small(n), FrontEndConfig(n_mels=128), 128,
        {"optimizer": "adam", "lr": 1e-3, "batch_size": 32, "l2": 0.019, "loss": "ce"},
        description="4 conv layers 2x2, strides 2,1,2,1, one dense layer",
    ),
    "short-chunk-resnet": Preset(
        lambda n: ShortChunkResNet(n), FrontEndConfig(n_mels=128), 128,
        {"optimizer": "adamw", "lr": 1e-3, "batch_size": 32, "loss": "ce", "label_smoothing": 0.1,
         "mixup": 0.2, "specaugment": True, "schedule": "cosine"},
        description="short-chunk residual CNN with SpecAugment, mixup, label smoothing, cosine LR",
    ),
    "musicnn-finetune": Preset(
        MusicnnFinetune,
        FrontEndConfig(sample_rate=musicnn.SAMPLE_RATE, n_fft=musicnn.N_FFT, hop_length=musicnn.HOP_LENGTH,
                       n_mels=musicnn.N_MELS, top_db=None, pad_mode="reflect", compression="log10(1+10000x)"),
        musicnn.PATCH_FRAMES,
        {"optimizer": "adamw", "lr": 1e-3, "batch_size": 32, "l2": 1e-2, "loss": "ce", "label_smoothing": 0.1},
        description="pretrained musicnn (MSD), back end retrained, 3 s patches",
    ),
}


def build_network(name: str, n_classes: int, *, labels: Sequence[str] | None = None) -> nn.Module:
    """The named preset for ``n_classes`` genres: a :class:`GenreNet` (waveform in), or the
    bare image network for image presets. ``labels`` (the genres, for a network about to be
    trained) let a pretrained body start from what it knows of them."""
    if name not in PRESETS:
        from genrekit.models.catalogue import renamed_note

        raise ModelError(f"network {name!r} is unknown; expected one of {', '.join(PRESETS)}" + renamed_note(name))
    if n_classes < 2:
        raise ModelError(f"n_classes={n_classes} must be >= 2")
    preset = PRESETS[name]
    body = preset.build(n_classes)
    if labels is not None and hasattr(body, "start_from_tags"):
        matched = body.start_from_tags(labels)
        logger.info("%s: %d genre(s) start from the pretrained tags of the same name: %s", name, len(matched),
                    ", ".join(matched) or "none")
    return body if preset.frontend is None else GenreNet(LogMelFrontEnd(preset.frontend), body)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
