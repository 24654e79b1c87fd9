"""Plotly figures of scaling results; the dashboard shows them and the report saves them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

PALETTE = ["#2f6fde", "#e4572e", "#17a589", "#8e44ad", "#f1c40f", "#34495e", "#e67e22", "#16a085"]


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def is_exponential(levels: list[int]) -> bool:
    """True when levels double (1, 2, 4, ...), possibly ending at a non-power of two."""
    levels = sorted(set(levels))
    return len(levels) >= 3 and all(b == 2 * a for a, b in zip(levels[:-2], levels[1:-1]))


def tick_labels(levels: list[int]) -> list[str]:
    """Level labels, leaving out one that would overlap the next on a log axis (e.g. 64 before 71)."""
    return ["" if i + 1 < len(levels) and levels[i + 1] / n < 1.3 and n > 2 else str(n)
            for i, n in enumerate(levels)]


def accuracy_curves(curves: pd.DataFrame, labels: dict[str, str] | None = None) -> go.Figure:
    """Accuracy against names per class, one line per run x aggregation, with 95% CI bands.

    When a curve has several name orders, the band shows their min..max and the line their mean.
    """
    fig = go.Figure()
    for i, ((run_id, agg), c) in enumerate(curves.groupby(["run_id", "aggregation"], sort=False)):
        c = c.sort_values("n_names")
        colour = PALETTE[i % len(PALETTE)]
        name = f"{(labels or {}).get(run_id, run_id)} · {agg}"
        repeated = c["repeats"].max() > 1 if "repeats" in c else False
        y = c["mean_accuracy"] if repeated else c["accuracy"]
        low = c["min_accuracy"] if repeated else c["ci_low"]
        high = c["max_accuracy"] if repeated else c["ci_high"]
        fig.add_trace(go.Scatter(
            x=np.r_[c["n_names"], c["n_names"][::-1]], y=np.r_[high, low[::-1]], fill="toself",
            mode="lines", fillcolor=_rgba(colour, 0.15), line={"width": 0}, hoverinfo="skip", showlegend=False,
            legendgroup=name))
        fig.add_trace(go.Scatter(
            x=c["n_names"], y=y, mode="lines+markers", name=name, legendgroup=name,
            line={"color": colour, "width": 2.5}, marker={"size": 8},
            customdata=np.c_[c["ci_low"], c["ci_high"], c["n_candidates"], c["n_images"]],
            hovertemplate=("<b>%{fullData.name}</b><br>names per class: %{x}<br>accuracy: %{y:.3f}"
                           "<br>95% CI: %{customdata[0]:.3f} – %{customdata[1]:.3f}"
                           "<br>candidate labels: %{customdata[2]}<br>images: %{customdata[3]}<extra></extra>")))
    levels = sorted(curves["n_names"].unique()) if not curves.empty else [1]
    xaxis = {"title": "names per class", "tickvals": levels, "ticktext": tick_labels(levels)}
    if is_exponential(levels):
        xaxis.update(type="log")
    fig.update_layout(xaxis=xaxis, yaxis={"title": "accuracy", "tickformat": ".0%"},
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": -0.2},
                      template="plotly_white", height=420)
    return fig


def per_class_lines(table: pd.DataFrame) -> go.Figure:
    """Accuracy of each class against names per class."""
    fig = go.Figure()
    for i, (label, c) in enumerate(table.groupby("label")):
        fig.add_trace(go.Scatter(x=c["n_names"], y=c["accuracy"], mode="lines+markers", name=str(label),
                                 line={"color": PALETTE[i % len(PALETTE)]},
                                 hovertemplate=f"<b>{label}</b><br>names: %{{x}}<br>accuracy: %{{y:.3f}}<extra></extra>"))
    levels = sorted(table["n_names"].unique()) if not table.empty else [1]
    xaxis = {"title": "names per class", "tickvals": levels, "ticktext": tick_labels(levels)}
    if is_exponential(levels):
        xaxis.update(type="log")
    fig.update_layout(xaxis=xaxis, yaxis={"title": "class accuracy", "tickformat": ".0%"}, template="plotly_white",
                      height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def confusion_heatmap(table: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=table.values, x=[str(c) for c in table.columns], y=[str(i) for i in table.index],
                               colorscale="Blues", text=table.values, texttemplate="%{text}",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>"))
    fig.update_layout(xaxis={"title": "predicted"}, yaxis={"title": "true", "autorange": "reversed"},
                      template="plotly_white", height=max(360, 36 * len(table)), margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def class_effect_bars(effects: pd.DataFrame) -> go.Figure:
    colours = ["#e4572e" if v < 0 else "#17a589" for v in effects["change"]]
    fig = go.Figure(go.Bar(x=effects["change"], y=effects["label"], orientation="h", marker_color=colours,
                           hovertemplate="%{y}: %{x:+.3f}<extra></extra>"))
    fig.update_layout(xaxis={"title": "accuracy change, fewest to most names", "tickformat": "+.0%"},
                      template="plotly_white", height=max(300, 28 * len(effects)), margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig
