"""Plotly figures and table styles of scaling results; the dashboard shows them and the report saves them."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pandas.io.formats.style import Styler
from plotly.colors import qualitative

from semscale.models import registry
from semscale.run import aggregations
from semscale.run.aggregations import LineStyle

PALETTE = ["#2f6fde", "#e4572e", "#17a589", "#8e44ad", "#f1c40f", "#34495e", "#e67e22", "#16a085"]
CLASS_PALETTE = qualitative.Dark24  # 24 distinct colours: CIFAR-10's airplane and ship no longer share one


OTHER_STYLE = LineStyle("dashdot", "x", 2, "-.", "x")  # a stored run's aggregation no longer registered


def aggregation_style(aggregation: str) -> LineStyle:
    """The registered rule's line style (semscale.run.aggregations)."""
    return aggregations.get(aggregation).style if aggregation in aggregations.names() else OTHER_STYLE


def model_label(model_id: str) -> str:
    """A model id short enough for a legend: its registry name (as the badge names it) and the first 8 digits
    of its file digest, so two copies of one model still look different."""
    name, _, digest = model_id.partition(":")
    name = shown if (shown := registry.display_name(model_id)) in registry.REGISTRY else name
    return f"{name}:{digest[:8]}" if digest else name


def run_label(run_id: str, dataset: str, model_id: str) -> str:
    """How a run is named in legends and pickers: curves of two models must not look alike."""
    return f"{run_id} ({dataset}, {model_label(model_id)})"


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def is_exponential(levels: list[int]) -> bool:
    """True when levels double (1, 2, 4, ...), possibly ending at a non-power of two."""
    levels = sorted(set(levels))
    return len(levels) >= 3 and all(b == 2 * a for a, b in zip(levels[:-2], levels[1:-1], strict=True))


LINEAR_TICKS = 25  # at most this many labels on a linear axis: closer ones would overlap


def tick_labels(levels: list[int], log: bool | None = None) -> list[str]:
    """Level labels, leaving out those that would overlap a neighbour's.

    On a log axis (`log`, by default `is_exponential`) a label too close to the next is left out (64 before
    71). On a linear axis labels are evenly spaced, so every level is labelled unless there are more than
    LINEAR_TICKS of them; then a label is left out when it is nearer than 1/LINEAR_TICKS of the axis to the
    last one shown, and the last level is always labelled (the one shown before it gives way)."""
    log = is_exponential(levels) if log is None else log
    if log:
        return ["" if i + 1 < len(levels) and levels[i + 1] / n < 1.3 and n > 2 else str(n)
                for i, n in enumerate(levels)]
    gap = (levels[-1] - levels[0]) / LINEAR_TICKS if levels else 0
    shown: list[int] = []
    for i, n in enumerate(levels):
        if shown and n - levels[shown[-1]] < gap:
            if i < len(levels) - 1:
                continue
            shown.pop()
        shown.append(i)
    return [str(n) if i in shown else "" for i, n in enumerate(levels)]


def level_axis(levels: list[int]) -> dict:
    """The names-per-class axis: a tick at every level, log2 when levels double."""
    levels = [int(n) for n in levels] or [1]
    log = is_exponential(levels)
    axis = {"title": "names per class", "tickmode": "array", "tickvals": levels, "ticktext": tick_labels(levels, log)}
    if log:
        axis.update(type="log")
    return axis


SHORT = 24  # characters of a class name shown on an axis or in a legend; the full name is in the hover
MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}  # room for the title, which an exported PNG carries


def plain(text: object) -> str:
    """A class, dataset or run name for a chart: plotly renders HTML tags in titles, legends, ticks and hovers
    (`<b>`, `<a href>`), so <, > and & are written as entities and the name reads as it is."""
    return html.escape(str(text), quote=False)


def short(name: object, limit: int = SHORT) -> str:
    """A class name cut to `limit` characters (an ellipsis marks the cut), so one long name does not
    squeeze a chart into a sliver; as `plain` text."""
    text = str(name)
    return plain(text if len(text) <= limit else text[: limit - 1] + "…")


def export_config(filename: str) -> dict:
    """Plotly's config for a chart's camera button: a slide-sized PNG (1200 x 600, twice the pixels) with
    the chart's title and its whole legend, saved as `filename`.png rather than newplot.png."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in filename)
    return {"toImageButtonOptions": {"format": "png", "filename": safe, "width": 1200, "height": 600, "scale": 2},
            "displaylogo": False}


def _layout(fig: go.Figure, levels: list[int], y_title: str, title: str | None) -> go.Figure:
    """Shared look of the curve charts: the legend right of the plot (never over an axis or its title),
    hover listing every curve's value at the level under the cursor."""
    fig.update_layout(xaxis=level_axis(levels), yaxis={"title": y_title, "tickformat": ".0%"},
                      title=plain(title) if title else None,
                      hovermode="x unified", hoverdistance=-1, margin=MARGIN,
                      legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top"},
                      template="plotly_white", height=420)
    return fig


def accuracy_curves(curves: pd.DataFrame, labels: dict[str, str] | None = None, title: str | None = None) -> go.Figure:
    """Accuracy against names per class, one line per run x aggregation, with 95% CI bands.

    Each aggregation has its own dash and marker (its registry entry's style), so curves that lie on
    top of each other stay visible. When a curve has several name orders, the band shows their
    min..max and the line their mean.
    """
    fig = go.Figure()
    for i, ((run_id, agg), c) in enumerate(curves.groupby(["run_id", "aggregation"], sort=False)):
        c = c.sort_values("n_names")
        colour = PALETTE[i % len(PALETTE)]
        style = aggregation_style(agg)
        name = plain(f"{(labels or {}).get(run_id, run_id)} · {agg}")
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
            line={"color": colour, "width": style.width, "dash": style.dash},
            marker={"size": 6 + 1.5 * style.width, "symbol": style.marker, "line": {"width": 2, "color": colour}},
            customdata=np.c_[c["ci_low"], c["ci_high"], c["n_candidates"], c["n_images"]],
            hovertemplate=("%{y:.1%} (95% CI %{customdata[0]:.1%}–%{customdata[1]:.1%}; "
                           "%{customdata[2]} candidate labels, %{customdata[3]} images)")))
    return _layout(fig, sorted(curves["n_names"].unique()) if not curves.empty else [], "accuracy", title)


def present(fig: go.Figure) -> go.Figure:
    """A chart for the back of a classroom: type three times the size of a screen's, lines and markers thicker."""
    fig.update_layout(font={"size": 22}, title={"font": {"size": 32}}, height=640,
                      hoverlabel={"font": {"size": 20}}, legend={"font": {"size": 20}})
    fig.update_traces(selector={"mode": "lines+markers"}, line_width=4, marker_size=14)
    return fig


def per_class_lines(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Accuracy of each class against names per class, one colour per class (24 before any repeats);
    long class names are cut in the legend, whole in the hover."""
    fig = go.Figure()
    for i, (label, c) in enumerate(table.groupby("label")):
        fig.add_trace(go.Scatter(x=c["n_names"], y=c["accuracy"], mode="lines+markers", name=short(label),
                                 line={"color": CLASS_PALETTE[i % len(CLASS_PALETTE)]},
                                 customdata=[plain(label)] * len(c),
                                 hovertemplate="%{y:.1%} %{customdata}<extra></extra>"))
    return _layout(fig, sorted(table["n_names"].unique()) if not table.empty else [], "class accuracy", title)


def _class_axis(names: list[str], title: str, **more) -> dict:
    """A categorical axis of class names, each cut to SHORT characters (the hover has the whole name)."""
    return {"title": title, "tickmode": "array", "tickvals": [plain(n) for n in names],
            "ticktext": [short(n) for n in names], **more}


def confusion_heatmap(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    columns, rows = [str(c) for c in table.columns], [str(i) for i in table.index]
    fig = go.Figure(go.Heatmap(z=table.values, x=[plain(c) for c in columns], y=[plain(r) for r in rows],
                               colorscale="Blues", text=table.values, texttemplate="%{text}",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>"))
    fig.update_layout(xaxis=_class_axis(columns, "predicted"), yaxis=_class_axis(rows, "true", autorange="reversed"),
                      title=plain(title) if title else None, template="plotly_white", height=max(360, 36 * len(table)),
                      margin=MARGIN)
    return fig


def class_effect_bars(effects: pd.DataFrame, title: str | None = None) -> go.Figure:
    colours = ["#e4572e" if v < 0 else "#17a589" for v in effects["change"]]
    labels = [str(n) for n in effects["label"]]
    fig = go.Figure(go.Bar(x=effects["change"], y=[plain(n) for n in labels], orientation="h", marker_color=colours,
                           hovertemplate="%{y}: %{x:+.1%}<extra></extra>"))
    fig.update_layout(xaxis={"title": "accuracy change, fewest to most names", "tickformat": "+.0%"},
                      yaxis=_class_axis(labels, ""), title=plain(title) if title else None, template="plotly_white",
                      height=max(300, 28 * len(effects)), margin=MARGIN)
    return fig


HIGHLIGHTS = {"most helpful": "#b7e4c7", "most harmful": "#f5b7a8"}  # name_effects' `highlight` -> row colour


EFFECT_HEADERS = {"highlight": "verdict", "position": "position", **{
    f"{column}_{mode}": f"{words} when {mode}" for mode in ("added", "removed") for column, words in (
        ("gain", "accuracy change"), ("class_gain", "its class's change"), ("fixed", "images fixed"),
        ("broken", "images broken"), ("p", "p"))}}  # name_effects' columns in words


def name_effects_table(table: pd.DataFrame) -> Styler:
    """The per-name effects (semscale.analysis.name_effects) with each class's most helpful and most harmful
    name coloured, gains in accuracy points, and headers in words (EFFECT_HEADERS)."""
    def colour(row: pd.Series) -> list[str]:
        fill = HIGHLIGHTS.get(row["verdict"])
        return [f"background-color: {fill}" if fill else ""] * len(row)

    first = ["class", "name", "highlight"]
    table = table[first + [c for c in table.columns if c not in first]]
    gains = [EFFECT_HEADERS[c] for c in table.columns if "gain" in c]
    ps = [EFFECT_HEADERS[c] for c in table.columns if c.startswith("p_")]
    return (table.rename(columns=EFFECT_HEADERS).style.apply(colour, axis=1)
            .format({**{c: "{:+.1%}" for c in gains}, **{c: "{:.3g}" for c in ps}}, na_rep="n/a"))
