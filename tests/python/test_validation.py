import numpy as np
import pytest

from twinscore._validation import as_vector, check_float, check_int


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
