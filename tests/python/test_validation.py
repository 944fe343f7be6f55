import numpy as np
import pandas as pd
import pytest

from twinscore._validation import as_matrix, as_vector, check_float, check_int


def test_as_matrix_keeps_a_fitting_array_and_refuses_bad_ones():
    X = np.ones((3, 2), dtype=np.float32)
    assert as_matrix(X) is X
    assert as_matrix(pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]}), allow_nan=True).dtype == np.float32
    with pytest.raises(TypeError, match="X must be numeric"):
        as_matrix(np.array([["a"]]))
    with pytest.raises(ValueError, match="2-D"):
        as_matrix(np.ones(3))
    with pytest.raises(ValueError, match="empty"):
        as_matrix(np.ones((0, 3)))
    with pytest.raises(ValueError, match="NaN at row 1, column 0"):
        as_matrix(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="infinite"):
        as_matrix(np.array([[np.inf]]), allow_nan=True)
    with pytest.raises(TypeError, match="'s'"):
        as_matrix(pd.DataFrame({"s": ["x"]}))


def test_scalars_and_vectors():
    assert check_int(np.int64(3), "k", min_value=1) == 3
    with pytest.raises(TypeError, match="k must be an integer"):
        check_int(True, "k")
    with pytest.raises(ValueError, match="k must be >= 1"):
        check_int(0, "k", min_value=1)
    with pytest.raises(ValueError, match="half_life"):
        check_float(-1.0, "half_life", min_value=0, strict_min=True)
    with pytest.raises(ValueError, match="finite"):
        check_float(float("nan"), "tol")
    with pytest.raises(ValueError, match="3 values, expected 2"):
        as_vector([1, 2, 3], "y", 2)
    with pytest.raises(ValueError, match="non-finite value at position 1"):
        as_vector([1, np.nan], "w")
