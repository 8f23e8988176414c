import numpy as np
import pytest

from core.classifier.hierarchy import Hierarchy
from core.classifier.inputs import SINGLE_MODALITY, check_labels, prepare_inputs


def test_single_array_is_one_modality_and_nan_rows_are_masked():
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    X[2] = np.nan
    data = prepare_inputs(X)
    assert data.names == (SINGLE_MODALITY,) and data.dims == (3,)
    assert data.present[:, 0].tolist() == [True, True, False, True]
    assert data.tokens[0].dtype.is_floating_point and not data.tokens[0].isnan().any()
    sub = data.subset(np.array([3, 2]))
    assert sub.n_rows == 2 and sub.present[:, 0].tolist() == [True, False]


def test_modality_absent_at_predict_time_is_missing_everywhere():
    data = prepare_inputs({"text": np.ones((2, 4))}, names=("frames", "text"), dims=(3, 4))
    assert data.dims == (3, 4)
    assert not data.present[:, 0].any() and data.present[:, 1].all()


def test_standardisation_uses_present_rows_only():
    X = np.array([[1.0], [3.0], [np.nan]])
    means, scales = prepare_inputs(X).standardisation()
    assert means[0].item() == pytest.approx(2.0) and scales[0].item() == pytest.approx(1.0)


def test_labels_are_closed_upward_and_shape_checked():
    h = Hierarchy([[], [0], [1]])
    closed = check_labels(np.array([[0, 0, 1]]), 1, h)
    assert closed.tolist() == [[True, True, True]]
    with pytest.raises(ValueError, match="labels must have shape"):
        check_labels(np.zeros((2, 2)), 2, h)
