"""Spectrogram images for image networks: rendering, reading, image datasets."""

import numpy as np
import pytest

from genrekit.datasets import load_dataset, load_folder
from genrekit.errors import DatasetError, FeatureError
from genrekit.features.images import IMAGE_HEIGHT, IMAGE_WIDTH, audio_images, read_image, spectrogram_image

SR = 22050


def _tone(frequency: float, seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_image_size_and_orientation():
    low = spectrogram_image(_tone(100.0), SR)
    high = spectrogram_image(_tone(6000.0), SR)
    assert low.shape == (IMAGE_HEIGHT, IMAGE_WIDTH, 3) and low.dtype == np.uint8
    brightest_row = lambda image: int(image.astype(float).sum(axis=(1, 2)).argmax())  # noqa: E731
    # Low frequencies are drawn at the bottom (row 287), high ones nearer the top.
    assert brightest_row(low) > 250 and brightest_row(high) < brightest_row(low) - 50


def test_audio_images_one_per_30_seconds_and_padding(clip):
    from genrekit import audio

    y, sr = audio.load(clip, sr=SR)
    images, padded = audio_images(y, sr)
    assert images.shape == (1, 3, IMAGE_HEIGHT, IMAGE_WIDTH) and not padded
    assert images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1
    short, padded = audio_images(y[: 10 * sr], sr)
    assert short.shape[0] == 1 and padded
    # Same time scale: the first third is the clip's first 10 s (dB relative to a different
    # peak, so compared by correlation); the rest is silence, one flat colour.
    assert np.corrcoef(short[..., :140].ravel(), images[..., :140].ravel())[0, 1] > 0.9
    assert np.ptp(short[..., 150:], axis=(2, 3)).max() == 0


def test_read_image_resizes_and_names_bad_files(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((100, 200, 3), 255, dtype=np.uint8)).save(tmp_path / "small.png")
    pixels = read_image(tmp_path / "small.png")
    assert pixels.shape == (3, IMAGE_HEIGHT, IMAGE_WIDTH) and np.allclose(pixels, 1.0)
    (tmp_path / "fake.png").write_text("not an image")
    with pytest.raises(FeatureError, match="fake.png: not a readable image"):
        read_image(tmp_path / "fake.png")


def test_an_image_that_declares_a_huge_size_is_refused_before_it_is_decoded(tmp_path):
    """A few hundred bytes of PNG can declare 50,000 x 50,000 pixels: Pillow's own bomb error
    escaped, and below Pillow's limit (179 M pixels) the whole image would have been decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    for side, message in ((50_000, "not a readable image .*decompression bomb"),
                          (4_100, "a 4100 x 4100 image; expected at most 16777216 pixels")):
        path = tmp_path / f"{side}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                         + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
        with pytest.raises(FeatureError, match=f"{side}.png: {message}"):
            read_image(path)


def test_image_folders_load_as_datasets(tmp_path):
    from PIL import Image

    for genre in ("blues", "rock"):
        (tmp_path / genre).mkdir()
        for i in range(2):
            Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / genre / f"{genre}{i:05d}.png")
    (tmp_path / "jazz").mkdir()
    dataset = load_dataset(tmp_path)
    assert dataset.labels == ["blues", "rock"] and len(dataset.tracks) == 4
    assert [p.reason for p in dataset.problems] == ["genre folder contains no image files"]
    with pytest.raises(DatasetError, match="no audio files found"):  # read as audio, the tree has none
        load_folder(tmp_path)
