"""The musicnn architecture (Pons & Serra 2019) as a plain ``nn.Module``.

A front end of musically motivated filters over a log-mel patch ``(batch, frames, 96)``:
vertical "timbral" filters (7 frames by 38 or 67 bands) and horizontal "temporal" ones
(128, 64 or 32 frames by 1 band), each followed by ReLU, batch norm and a max over
frequency; a mid end of three 1-D convolutions over time with residual connections,
densely connected to the front end; a back end of max and mean pooling over time, a
200-unit dense layer (the embedding, "penultimate") and the 50 tag logits.

Layer sizes and orders follow the ``musicnn`` package's ``models.py``; the weights come from
its checkpoints through :mod:`genrekit.features.musicnn.convert`. TensorFlow pads its
"same" convolutions with the extra frame after, not before, and flattens the pooled
``(channels, [max, mean])`` pairs interleaved: both are reproduced, or the converted weights
would not mean what they meant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default
# A filter that moves its batch-normed output by at most this much per unit of input is a
# constant (skip_silent_filters): musicnn's log-mel, normalised, stays within a few units, so
# such a filter moves by a few thousandths at most, and the tags and embeddings by a few
# 1e-6, as much as float32's own rounding does (tests/test_musicnn.py). 1e-4 kept 32 more
# of MTT_musicnn's filters, for no difference above that rounding.
SILENT_REACH = 1e-3
# onnxruntime keeps a convolution's output in its blocked layout through the max over
# frequency only when the channels fill its blocks (8 floats with AVX2): a multiple of 8
# filters saves reordering the wide output, 8-10% of the default's time on such a CPU
COMPUTED_MULTIPLE = 8


def _same_time_padding(kernel: int) -> tuple[int, int, int, int]:
    before = (kernel - 1) // 2
    return (0, 0, before, kernel - 1 - before)


def _compute_every_filter(block: nn.Module, _incompatible_keys) -> None:
    block.skip_silent_filters(-1.0)


class _FrontEndBlock(nn.Module):
    """Conv over (time, frequency), ReLU, batch norm, max over the remaining frequencies."""

    def __init__(self, filters: int, kernel: tuple[int, int], padding: tuple[int, int, int, int]):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(1, filters, kernel)
        self.norm = nn.BatchNorm2d(filters, eps=EPSILON)
        # set by skip_silent_filters; not in the state dict
        self.register_buffer("live_filters", None, persistent=False)
        self.register_buffer("silent_filters", None, persistent=False)
        self.register_buffer("filter_order", None, persistent=False)
        # new weights may move other filters: loading them computes every filter again
        self.register_load_state_dict_post_hook(_compute_every_filter)

    def reaches(self) -> torch.Tensor:
        """How far each filter can move its batch-normed output per unit of the largest input
        value ``(filters,)``: its weights' L1 norm times its batch norm's scale."""
        with torch.no_grad():
            scale = self.norm.weight.abs() / torch.sqrt(self.norm.running_var + self.norm.eps)
            return self.conv.weight.abs().flatten(1).sum(dim=1) * scale

    def skip_silent_filters(self, reach: float = SILENT_REACH, multiple: int = COMPUTED_MULTIPLE) -> int:
        """Compute in inference only the filters whose output can move: a filter whose
        weights' L1 norm, times its batch norm's scale, is at most ``reach`` moves its output
        by at most ``reach`` per unit of the largest input value, so it gives the constant
        ``norm(relu(bias))``. The filters computed are rounded up to a ``multiple`` with the
        silent ones nearest to moving. Returns how many filters are computed. Call it again
        after changing the weights."""
        reaches = self.reaches()
        moves = reaches > reach
        nearest = [i for i in torch.argsort(reaches, descending=True).tolist() if not moves[i]]
        n_moving = int(moves.sum())
        moves[nearest[:(-n_moving) % multiple]] = True
        live, silent = torch.nonzero(moves).flatten(), torch.nonzero(~moves).flatten()
        if len(silent) == 0:
            self.live_filters = self.silent_filters = self.filter_order = None
        else:
            self.live_filters, self.silent_filters = live, silent
            self.filter_order = torch.argsort(torch.cat([live, silent]))
        return len(live)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, frames, mels) -> (batch, filters, frames)
        x = F.pad(x, self.padding)
        if self.training or self.norm.training or self.norm.running_var is None:  # batch statistics
            return self.norm(F.relu(self.conv(x))).amax(dim=3)
        # In inference, ReLU and batch norm are monotone per channel, so the max over
        # frequency can come first and they run on a tensor 30-96 times smaller: a channel
        # whose norm scales by a > 0 keeps max(conv), one with a < 0 takes min(conv), which
        # is -max of the negated filter. The same values, bit for bit (rounding is
        # monotone too); the max is a MaxPool, which onnxruntime runs in its blocked
        # layout where the filters fill its blocks (COMPUTED_MULTIPLE), so the wide conv
        # output is not reordered.
        norm = (self.norm.running_mean, self.norm.running_var, self.norm.weight, self.norm.bias)
        if self.live_filters is None:
            return self._pooled_first(x, self.conv.weight, self.conv.bias, *norm)
        # Only the filters that can move are convolved (80 of MSD_musicnn's 561, 232 of
        # MTT_musicnn's: the others died in training); the rest are constants.
        live = self.live_filters
        constant = self.silent_values()[None, :, None].expand(x.shape[0], -1, x.shape[2] - self.conv.kernel_size[0] + 1)
        if len(live) == 0:
            return constant.to(x.dtype).index_select(1, self.filter_order)
        moving = self._pooled_first(x, *(t.index_select(0, live) for t in (self.conv.weight, self.conv.bias, *norm)))
        return torch.cat([moving, constant.to(moving.dtype)], dim=1).index_select(1, self.filter_order)

    def silent_values(self) -> torch.Tensor:
        """The constant output of each silent filter ``(n_silent,)``: ``norm(relu(bias))``."""
        silent = self.silent_filters
        norm = (self.norm.running_mean, self.norm.running_var, self.norm.weight, self.norm.bias)
        return F.batch_norm(F.relu(self.conv.bias.index_select(0, silent))[None],
                            *(t.index_select(0, silent) for t in norm), False, 0.0, self.norm.eps)[0]

    def _pooled_first(self, x, weight, bias, mean, var, scale, shift) -> torch.Tensor:
        sign = torch.where(scale < 0, -1.0, 1.0).to(x.dtype)
        z = F.conv2d(x, weight * sign[:, None, None, None], bias * sign, self.conv.stride, self.conv.padding,
                     self.conv.dilation, self.conv.groups)
        peak = F.max_pool2d(z, kernel_size=(1, z.shape[3]))  # (batch, filters, frames, 1)
        return F.batch_norm(F.relu(peak * sign[:, None, None]), mean, var, scale, shift, False, 0.0,
                            self.norm.eps).squeeze(3)


def front_end(network: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Log-mel patches ``(batch, frames, mels)`` -> the front end's filters ``(batch, 561, frames)``."""
    x = network.input_norm(x.unsqueeze(1))
    return torch.cat([block(x) for block in (*network.timbral, *network.temporal)], dim=1)


def _first_mid_end_conv(network: nn.Module, conv: nn.Conv1d, frontend: torch.Tensor) -> torch.Tensor:
    """The mid end's first convolution of the front end's output, reading only the channels
    that move; the constant ones (silent filters) add a fixed pattern, the same for every
    patch but where the zero padding at its ends cuts it, summed once in float64."""
    # a mid end trained on its own (bench/musicnn.py --finetune-midend) has no front end here
    blocks = (*getattr(network, "timbral", ()), *getattr(network, "temporal", ()))
    if (not blocks or any(block.training or block.norm.training for block in blocks)
            or all(block.live_filters is None for block in blocks)):
        return conv(F.pad(frontend, (3, 3)))
    moving, silent, values, offset = [], [], [], 0
    for block in blocks:
        every = torch.arange(block.conv.out_channels, device=frontend.device)
        if block.live_filters is None:
            moving.append(offset + every)
        else:
            moving.append(offset + block.live_filters)
            silent.append(offset + block.silent_filters)
            values.append(block.silent_values())
        offset += block.conv.out_channels
    moving, silent = torch.cat(moving), torch.cat(silent)
    if len(moving):
        out = F.conv1d(F.pad(frontend.index_select(1, moving), (3, 3)), conv.weight.index_select(1, moving), conv.bias)
    else:  # every filter silent
        out = conv.bias[None, :, None].expand(frontend.shape[0], -1, frontend.shape[2])
    exact = {"device": "cpu", "dtype": torch.float64}  # on the CPU: Apple's MPS has no float64
    pattern = (conv.weight.index_select(1, silent).to(**exact) * torch.cat(values).to(**exact)[None, :, None]).sum(1)
    ones = F.pad(torch.ones_like(frontend[:1, :1]), (3, 3))
    return out + F.conv1d(ones, pattern[:, None, :].to(frontend))


def mid_end_pooled(network: nn.Module, frontend: torch.Tensor) -> torch.Tensor:
    """The front end's output -> the mid end's residual layers, max- and mean-pooled over time
    ``(batch, 1506)``."""
    features, previous = [frontend], None
    for index, (conv, norm) in enumerate(zip(network.midend, network.midend_norms, strict=True)):
        if index == 0:
            out = norm(F.relu(_first_mid_end_conv(network, conv, frontend)))
        else:
            out = norm(F.relu(conv(F.pad(features[-1], (3, 3)))))
        previous = out if index == 0 else out + previous
        features.append(previous)
    midend = torch.cat(features, dim=1)  # (batch, 753, frames)
    return torch.stack([midend.amax(dim=2), midend.mean(dim=2)], dim=2).flatten(1)  # max, mean interleaved


class MusiCNN(nn.Module):
    """musicnn: log-mel patches ``(batch, frames, n_mels)`` -> tag logits ``(batch, n_tags)``.

    :meth:`embed` also returns the 200-dimensional embedding (after the dense layer's batch
    norm, as musicnn's ``penultimate``). Any number of frames >= 1 works; the models were
    trained on 187 (3 s).
    """

    def __init__(self, n_tags: int = 50, n_mels: int = 96, midend_filters: int = 64, backend_units: int = 200,
                 frontend_scale: float = 1.6):
        super().__init__()
        timbral, temporal = int(frontend_scale * 128), int(frontend_scale * 32)
        self.input_norm = nn.BatchNorm2d(1, eps=EPSILON)
        self.timbral = nn.ModuleList(
            _FrontEndBlock(timbral, (7, int(share * n_mels)), (0, 0, 3, 3)) for share in (0.4, 0.7))
        self.temporal = nn.ModuleList(
            _FrontEndBlock(temporal, (length, 1), _same_time_padding(length)) for length in (128, 64, 32))
        frontend_channels = 2 * timbral + 3 * temporal
        self.midend = nn.ModuleList(
            nn.Conv1d(channels, midend_filters, 7) for channels in (frontend_channels, midend_filters, midend_filters))
        self.midend_norms = nn.ModuleList(nn.BatchNorm1d(midend_filters, eps=EPSILON) for _ in range(3))
        pooled = 2 * (frontend_channels + 3 * midend_filters)
        self.pool_norm = nn.BatchNorm1d(pooled, eps=EPSILON)
        self.dense = nn.Linear(pooled, backend_units)
        self.dense_norm = nn.BatchNorm1d(backend_units, eps=EPSILON)
        self.dropout = nn.Dropout(0.5)
        self.classifier = nn.Linear(backend_units, n_tags)

    def skip_silent_filters(self, reach: float = SILENT_REACH, multiple: int = COMPUTED_MULTIPLE) -> tuple[int, int]:
        """Compute in inference only the front-end filters that can move
        (:meth:`_FrontEndBlock.skip_silent_filters`); ``reach=inf, multiple=1`` skips every
        filter, a negative ``reach`` none. Returns (filters computed, all filters)."""
        blocks = (*self.timbral, *self.temporal)
        computed = sum(block.skip_silent_filters(reach, multiple) for block in blocks)
        return computed, sum(block.conv.out_channels for block in blocks)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(batch, frames, n_mels)`` -> the front and mid end's features pooled over time
        ``(batch, 1506)``, what the back end's dense layer reads (before its batch norm)."""
        return mid_end_pooled(self, front_end(self, x))

    def back_end(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`pooled`'s output ``(batch, 1506)`` -> (embedding ``(batch, 200)``, logits ``(batch, n_tags)``)."""
        embedding = self.dense_norm(F.relu(self.dense(self.dropout(self.pool_norm(pooled)))))
        return embedding, self.classifier(self.dropout(embedding))

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(batch, frames, n_mels)`` -> (embedding ``(batch, 200)``, logits ``(batch, n_tags)``)."""
        return self.back_end(self.pooled(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x)[1]


class PatchFeatures(nn.Module):
    """The ``musicnn`` feature vectors of a signal's segment and windows as a module, for
    export: its patches ``(n_patches, frames, n_mels)`` and a pooling matrix ``(m, n_patches)``
    (:func:`genrekit.features.musicnn.pooling_matrix`) -> ``(m, (200 + n_tags) * n_networks)``,
    each row the embedding and the tag probabilities per network averaged as the row says
    (as :func:`genrekit.features.musicnn.patch_features`, then the matrix)."""

    def __init__(self, networks: list[MusiCNN]):
        super().__init__()
        self.networks = nn.ModuleList(networks)

    def forward(self, patches: torch.Tensor, pooling: torch.Tensor) -> torch.Tensor:
        rows = []
        for network in self.networks:
            embedding, logits = network.embed(patches)
            rows += [embedding, torch.sigmoid(logits)]
        return pooling @ torch.cat(rows, dim=1)


class MusicnnPooling(nn.Module):
    """A :class:`MusiCNN`'s front and mid end alone (its modules, not copies): log-mel
    patches ``(batch, frames, n_mels)`` -> :meth:`MusiCNN.pooled` ``(batch, 1506)``. What a
    genre network keeps frozen when it retrains the back end."""

    def __init__(self, network: MusiCNN):
        super().__init__()
        self.input_norm, self.timbral, self.temporal = network.input_norm, network.timbral, network.temporal
        self.midend, self.midend_norms = network.midend, network.midend_norms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mid_end_pooled(self, front_end(self, x))


class TaggerStudent(nn.Module):
    """MTT_musicnn's embedding and tag logits predicted from MSD_musicnn's pooled front and
    mid end (:meth:`MusiCNN.pooled`): ``(batch, 1506) -> (batch, 200 + 50)``. An MLP distilled
    from MTT_musicnn's outputs on unlabelled audio (``bench/student.py``), its members side by
    side in one hidden layer, the input's standardisation folded into the first layer and the
    members' average into the last. It reads only the ``keep`` columns that move."""

    def __init__(self, keep: torch.Tensor, hidden: int, outputs: int):
        super().__init__()
        self.register_buffer("keep", keep.to(torch.long))
        self.hidden = nn.Linear(len(keep), hidden)
        self.out = nn.Linear(hidden, outputs)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.hidden(torch.index_select(pooled, 1, self.keep))))


class StridedTaggers(nn.Module):
    """Both taggers' features as :class:`PatchFeatures` gives them, with MTT_musicnn heard on
    the patches ``heard`` selects only (a ``(k, n_patches)`` matrix, one 1 per row:
    :func:`genrekit.features.musicnn.hearing_matrix`; one patch in three for the shipped
    default): MSD_musicnn on every patch, ``student`` guessing MTT_musicnn's features from it
    on every patch, and the guesses moved by the mean of (MTT_musicnn - guess) over the heard
    patches (a control variate: the guesses' errors are largely shared by a segment's
    patches, so a few true patches correct most of them). A heard patch keeps its true
    features, so the mean over all the patches is the guesses' mean plus the correction. The
    correction is taken over all the patches of a call: give it one 30 s segment at a time.
    Hearing every patch gives the exact features; ``heard`` is an input, so one exported
    graph serves both. (A matrix rather than indices: selecting and placing rows is then a
    product, and the graph needs no scatter operator.)"""

    def __init__(self, msd: MusiCNN, mtt: MusiCNN, student: TaggerStudent):
        super().__init__()
        self.msd, self.mtt, self.student = msd, mtt, student

    def forward(self, patches: torch.Tensor, pooling: torch.Tensor, heard: torch.Tensor) -> torch.Tensor:
        pooled = self.msd.pooled(patches)
        embedding, logits = self.msd.back_end(pooled)
        guess = self.student(pooled)
        width = embedding.shape[1]
        guess = torch.cat([guess[:, :width], torch.sigmoid(guess[:, width:])], dim=1)
        selected = (heard @ patches.flatten(1)).reshape(-1, *patches.shape[1:])  # exact: one 1 per row
        heard_embedding, heard_logits = self.mtt.embed(selected)
        true = torch.cat([heard_embedding, torch.sigmoid(heard_logits)], dim=1)
        correction = (true - heard @ guess).mean(dim=0, keepdim=True)
        unheard = 1.0 - heard.sum(dim=0).unsqueeze(1)  # 1 where the student's guess stands, 0 where heard
        mtt = unheard * (guess + correction) + heard.T @ true
        features = pooling @ torch.cat([embedding, torch.sigmoid(logits), mtt], dim=1)
        tags = 2 * width + logits.shape[1]  # pooled tags stay probabilities; a clamp per patch would move the mean
        return torch.cat([features[:, :tags], features[:, tags:].clamp(0.0, 1.0)], dim=1)
