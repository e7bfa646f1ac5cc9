"""Networks of the deep-model issue: front end, windows, preset shapes and sizes."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the 'deep' extra; install genrekit[deep]")

from genrekit import audio  # noqa: E402
from genrekit.errors import ModelError, ParameterError  # noqa: E402
from genrekit.features import log_mel  # noqa: E402
from genrekit.features.chunks import frame_windows  # noqa: E402
from genrekit.models.nets import PRESETS, FrontEndConfig, LogMelFrontEnd, build_network, count_parameters  # noqa: E402

# Parameter counts for 10 genres; a change here is a change of architecture.
PARAMETERS = {
    "edge-cnn": 567562,
    "cnn4": 2667786,
    "crnn1": 1357706,
    "crnn2": 3325322,
    "cnn5-img": 197450,
    "cnn4-2x2": 991466,
    "short-chunk-resnet": 688140,
    "musicnn-finetune": 306822,  # trainable: the back end; the pretrained front and mid end are frozen
}


def test_front_end_matches_librosa_log_mel(clip):
    y, sr = audio.load(clip, duration=6.0)
    expected = log_mel(y=y, sr=sr, n_mels=128, hop_length=512, n_fft=2048)
    frontend = LogMelFrontEnd(FrontEndConfig())
    with torch.no_grad():
        ours = frontend(torch.from_numpy(y)[None])[0, 0].numpy()
    assert ours.shape == expected.shape
    error = np.abs(ours - expected)  # dB; float32 STFT against librosa's
    worst = np.unravel_index(error.argmax(), error.shape)
    assert error[worst] < 0.01, f"{error[worst]} dB at (band, frame) {worst}: {ours[worst]} vs {expected[worst]}"


def test_frame_windows_give_exact_frame_counts():
    y = np.random.default_rng(0).normal(size=22050 * 10).astype(np.float32)
    windows, starts, padded = frame_windows(y, n_frames=128, hop_length=512)
    assert windows.shape == (3, 127 * 512) and not padded and list(starts) == [0, 65024, 130048]
    assert LogMelFrontEnd()(torch.from_numpy(windows)).shape == (3, 1, 128, 128)
    overlapping, _, _ = frame_windows(y, n_frames=128, overlap=0.5)
    assert len(overlapping) == 5
    short, _, padded = frame_windows(y[:1000])
    assert padded and short.shape == (1, 127 * 512) and np.all(short[0, 1000:] == 0)
    with pytest.raises(ParameterError, match="overlap=1"):
        frame_windows(y, overlap=1)


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_shapes_sizes_and_gradients(name):
    preset = PRESETS[name]
    net = build_network(name, 10)
    if preset.input_kind == "image":
        x = torch.rand(2, 3, 288, 432)
    else:
        x = 0.1 * torch.randn(2, (preset.n_frames - 1) * preset.frontend.hop_length)
        assert net.frontend(x).shape == (2, 1, preset.frontend.n_mels, preset.n_frames)
    logits = net(x)
    assert logits.shape == (2, 10) and torch.all(torch.isfinite(logits))
    assert count_parameters(net) == PARAMETERS[name]
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_edge_cnn_fits_the_phone_budget():
    assert count_parameters(build_network("edge-cnn", 10)) < 1_000_000  # <= 1 MB once int8


def test_unknown_network():
    with pytest.raises(ModelError, match="network 'vgg' is unknown"):
        build_network("vgg", 10)
