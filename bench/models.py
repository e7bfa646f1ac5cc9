"""The model files the speed and memory benchmarks run: the classical default trained on
gtzan-mini, and the edge-cnn and short-chunk-resnet networks (untrained: weights change neither speed
nor memory)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def benchmark_models(data: Path, folder: Path) -> dict[str, Path]:
    """``{"ensemble": model.genrekit, "edge-cnn": ..., "short-chunk-resnet": ...}`` written in ``folder``."""
    from genrekit.datasets import load_gtzan
    from genrekit.features import FeatureCache, FeatureSpec
    from genrekit.models import save_model
    from genrekit.models.nets import build_network
    from genrekit.models.nets.artifact import save_network
    from genrekit.train import train_model

    labels = sorted(p.name for p in data.iterdir())
    ensemble = train_model(load_gtzan(data), spec=FeatureSpec("fma518"), model="ensemble",
                           cache=FeatureCache(ROOT / "bench" / "out" / "cache"), progress=False).model
    models = {"ensemble": save_model(ensemble, folder / "model.genrekit")}
    for preset in ("edge-cnn", "short-chunk-resnet"):
        models[preset] = save_network(folder / f"{preset}.safetensors", build_network(preset, len(labels)),
                                      preset=preset, labels=labels)
    return models
