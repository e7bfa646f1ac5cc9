"""Spectrogram images: the 3-channel pictures that image networks (``cnn5-img``) take.

GTZAN's popular image version holds one 432×288 PNG per 30 s clip: a mel spectrogram in
dB drawn with a colour map, low frequencies at the bottom. :func:`spectrogram_image`
renders the same kind of picture from audio; :func:`read_image` reads a user's own PNG or
JPEG into the network's input layout.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from genrekit.errors import FeatureError, ParameterError
from genrekit.features.spectral import LogMelSpec

IMAGE_HEIGHT, IMAGE_WIDTH = 288, 432
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})
#: The largest image read (decoding a small file that declares a huge image would fill memory).
MAX_IMAGE_PIXELS = 4096 * 4096


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def spectrogram_image(
    y: np.ndarray,
    sr: int,
    *,
    spec: LogMelSpec | None = None,
    height: int = IMAGE_HEIGHT,
    width: int = IMAGE_WIDTH,
    cmap: str = "magma",
) -> np.ndarray:
    """A log-mel spectrogram drawn as an RGB image, low frequencies at the bottom.

    The dB range ``[-top_db, 0]`` maps onto the colour map, so loudness is comparable
    between images; the time axis is resampled to ``width`` columns.

    Returns
    -------
    np.ndarray [shape=(height, width, 3)], uint8
    """
    import matplotlib
    from PIL import Image

    for name, value in (("height", height), ("width", width)):
        if value < 8:
            raise ParameterError(f"{name}={value}: expected at least 8 pixels")
    spec = spec or LogMelSpec()
    top_db = spec.top_db or 80.0
    db = spec.compute(y, sr)
    level = np.clip((db + top_db) / top_db, 0.0, 1.0)[::-1]  # row 0 = highest mel band
    rgb = (matplotlib.colormaps[cmap](level)[..., :3] * 255).round().astype(np.uint8)
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def audio_images(
    y: np.ndarray,
    sr: int,
    *,
    seconds: float = 30.0,
    spec: LogMelSpec | None = None,
    height: int = IMAGE_HEIGHT,
    width: int = IMAGE_WIDTH,
) -> tuple[np.ndarray, bool]:
    """One image per ``seconds`` of audio (GTZAN's images are of whole 30 s clips).

    A clip shorter than ``seconds`` is zero-padded (drawn as silence on the right) so that
    every image has the same time scale; ``padded`` says so.

    Returns
    -------
    images : np.ndarray [shape=(n_images, 3, height, width)], float32 in [0, 1]
    padded : bool
    """
    from genrekit.features.chunks import frame_windows

    spec = spec or LogMelSpec()
    if seconds <= 0:
        raise ParameterError(f"seconds={seconds} must be > 0")
    n_frames = 1 + int(seconds * sr) // spec.hop_length
    windows, _, padded = frame_windows(y, n_frames=n_frames, hop_length=spec.hop_length)
    images = [image_tensor(spectrogram_image(w, sr, spec=spec, height=height, width=width)) for w in windows]
    return np.stack(images), padded


def read_image(path: str | os.PathLike, *, height: int = IMAGE_HEIGHT, width: int = IMAGE_WIDTH) -> np.ndarray:
    """An image file as float32 ``(3, height, width)`` in [0, 1]; other sizes are resized.

    Raises
    ------
    FeatureError
        naming the file, when it is not a readable image, or declares more than
        :data:`MAX_IMAGE_PIXELS` (refused from its header, before decoding)
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:  # reads the header only
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise FeatureError(f"{path}: a {image.width} x {image.height} image; expected at most "
                                   f"{MAX_IMAGE_PIXELS} pixels (a spectrogram image is {width} x {height})")
            rgb = image.convert("RGB")
            if rgb.size != (width, height):
                rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(rgb, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise FeatureError(f"{path}: not a readable image (expected PNG or JPEG): {exc}") from exc
    return pixels.transpose(2, 0, 1)


def image_tensor(rgb: np.ndarray) -> np.ndarray:
    """uint8 ``(height, width, 3)`` -> float32 ``(3, height, width)`` in [0, 1], as :func:`read_image`."""
    return (np.asarray(rgb, dtype=np.float32) / 255.0).transpose(2, 0, 1)
