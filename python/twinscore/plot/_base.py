"""What every plot shares: matplotlib imported on first use, a new or given
Axes, argument checks and the colours.

matplotlib is an optional dependency (``pip install "twinscore[plot]"``): the
package imports without it, and the first plot asks for it by name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# One palette for every plot and the report: converters / the target group
# in the first colour, the rest in the second, references in grey.
COLORS = {"main": "#1f6fb2", "second": "#e07b39", "good": "#2e8b57", "bad": "#c0392b", "ref": "#8c8c8c",
          "light": "#c6dbef"}


def pyplot():
    """matplotlib.pyplot, or an ImportError saying how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('twinscore.plot needs matplotlib: pip install "twinscore[plot]"') from None
    return plt


def axes(ax, figsize=(6.4, 4.0)):
    """``ax`` itself, or the Axes of a new pyplot figure (shown inline by Jupyter)."""
    if ax is None:
        _, ax = pyplot().subplots(figsize=figsize, layout="constrained")
        return ax
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax


def frame(value, name: str, columns) -> pd.DataFrame:
    """``value`` as a DataFrame holding ``columns``, else a TypeError / KeyError naming ``name``."""
    if not isinstance(value, pd.DataFrame):
        raise TypeError(f"{name} must be a DataFrame, got {type(value).__name__}")
    missing = [c for c in columns if c not in value.columns]
    if missing:
        raise KeyError(f"{name} lacks the columns {missing} (columns: {list(value.columns)})")
    if value.empty:
        raise ValueError(f"{name} is empty")
    return value


def percent_axis(axis) -> None:
    """Tick labels of a 0-1 axis as percentages."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def heatmap(ax, values: np.ndarray, row_labels, col_labels, *, fmt: str, cmap: str, center: float | None = None,
            colorbar: str | None = None):
    """An annotated heat map of ``values`` (rows top to bottom as given); returns the image."""
    finite = values[np.isfinite(values)]
    if center is None or finite.size == 0:
        vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    else:  # symmetric around the centre, so the centre colour means "average"
        half = max(np.abs(finite - center).max(), 1e-12)
        vmin, vmax = center - half, center + half
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(col_labels)), labels=[str(c) for c in col_labels])
    ax.set_yticks(range(len(row_labels)), labels=[str(r) for r in row_labels])
    if values.size <= 400:  # numbers only where they stay readable
        for (i, j), v in np.ndenumerate(values):  # a loop over the grid's few cells
            if np.isfinite(v):
                r, g, b, _ = image.cmap(image.norm(v))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # white text on dark cells
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=colorbar)
    return image
