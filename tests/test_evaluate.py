import numpy as np
import pytest

from genrekit.errors import ParameterError
from genrekit.evaluate import aggregate_tracks, classification_scores, evaluation_metrics, metrics_markdown


def test_scores_by_hand():
    labels = ["a", "b", "c", "d"]
    y = np.array([0, 0, 1, 1, 2, 3])
    proba = np.array([
        [0.7, 0.1, 0.1, 0.1],  # a -> a
        [0.15, 0.5, 0.3, 0.05],  # a -> b (a is 3rd: hit in top 3)
        [0.1, 0.6, 0.2, 0.1],  # b -> b
        [0.1, 0.25, 0.6, 0.05],  # b -> c
        [0.1, 0.1, 0.7, 0.1],  # c -> c
        [0.4, 0.3, 0.2, 0.1],  # d -> a (d last: miss in top 3)
    ])
    m = classification_scores(y, proba, labels)
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 0.5 + 1 + 0) / 4)
    assert m["top3_accuracy"] == pytest.approx(5 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0]]
    assert m["confusion_matrix_normalized"][0] == [0.5, 0.5, 0.0, 0.0]
    assert m["per_genre"]["b"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_genre"]["d"]["recall"] == 0 and m["per_genre"]["d"]["support"] == 1
    assert "| a | 1 | 1 | 0 | 0 |" in metrics_markdown(m)


def test_aggregation_mean_and_vote():
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8]])
    tracks = np.array(["t2", "t2", "t2", "t1"])
    mean, order = aggregate_tracks(proba, tracks)
    assert list(order) == ["t2", "t1"]
    assert np.allclose(mean[0], [0.5833333, 0.4166667]) and np.allclose(mean[1], [0.2, 0.8])
    vote, _ = aggregate_tracks(proba, tracks, method="vote")
    assert np.allclose(vote[0], [1 / 3, 2 / 3])
    with pytest.raises(ParameterError, match="aggregation='max'"):
        aggregate_tracks(proba, tracks, method="max")


def test_chunk_and_track_levels_are_separate():
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8]])
    tracks = np.array(["t2", "t2", "t2", "t1"])
    y = np.array([0, 0, 0, 1])
    m = evaluation_metrics(y, proba, tracks, ["x", "y"], chunked=True)
    assert m["accuracy"] == m["track_accuracy"] == 1.0 and m["n"] == 2
    assert m["chunk_accuracy"] == 0.5 and m["chunk_n"] == 4
    flat = evaluation_metrics(y[:2], proba[:2], np.array(["u", "v"]), ["x", "y"], chunked=False)
    assert "chunk_accuracy" not in flat and flat["accuracy"] == 0.5
