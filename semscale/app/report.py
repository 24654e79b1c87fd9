"""A reproducible report of one or more runs: PNG figures and a short Markdown summary."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from semscale.analysis import tables  # noqa: E402
from semscale.analysis.threshold import thresholds  # noqa: E402
from semscale.app.figures import PALETTE, aggregation_style, is_exponential, tick_labels  # noqa: E402
from semscale.run import presets  # noqa: E402
from semscale.store.results import ResultsStore  # noqa: E402


def curve_png(curves, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=130)
    for i, (agg, c) in enumerate(curves.groupby("aggregation")):
        c = c.sort_values("n_names")
        colour = PALETTE[i % len(PALETTE)]
        repeated = c["repeats"].max() > 1
        y = c["mean_accuracy"] if repeated else c["accuracy"]
        low, high = (c["min_accuracy"], c["max_accuracy"]) if repeated else (c["ci_low"], c["ci_high"])
        ax.fill_between(c["n_names"], low, high, color=colour, alpha=0.15, linewidth=0)
        style = aggregation_style(agg)
        ax.plot(c["n_names"], y, marker=style.mpl_marker, linestyle=style.mpl_dash, linewidth=style.width / 2,
                markerfacecolor="none", color=colour,
                label=agg + (" (mean of orders)" if repeated else ""))
    levels = sorted(curves["n_names"].unique())
    if is_exponential(levels):
        ax.set_xscale("log", base=2)
    ax.set_xticks(levels, tick_labels(levels))
    ax.minorticks_off()
    ax.set_xlabel("names per class")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def effects_png(effects, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(effects) + 1.2), dpi=130)
    ax.barh(effects["label"].astype(str), effects["change"],
            color=["#e4572e" if v < 0 else "#17a589" for v in effects["change"]])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("accuracy change from fewest to most names")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(store: ResultsStore, run_ids: list[str], out: str | Path, command: str) -> Path:
    """Write figures and `report.md` for `run_ids` into `out`; returns the Markdown path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# semscale report", "", f"Made with: `{command}`", ""]
    for run_id in run_ids:
        info = store.run(run_id)
        cfg = info.config
        curves = tables.curves(store.points(info.run_id))
        preds = store.predictions(info.run_id)
        title = f"{info.dataset} · run {info.run_id}"
        curve_png(curves, out / f"{info.run_id}-curve.png", title)
        lines += [f"## {info.dataset} (run {info.run_id}, {info.status})", "",
                  f"- model: `{info.model_text()}`", f"- images: {info.n_done} scored of {info.n_images}, "
                  f"{info.n_rejected} rejected", *(f"- {line}" for line in presets.protocol_lines(cfg)),
                  f"- seed {cfg.get('seed', 0)}; interval: {cfg.get('interval', 'wilson')}", ""]
        if info.partial:
            lines += [f"**{info.partial_note()}.**", ""]
        lines += [f"![accuracy curve]({info.run_id}-curve.png)", "",
                  "| aggregation | names/class | candidates | accuracy | 95% CI | over orders (min–max) |",
                  "|---|---:|---:|---:|---|---|"]
        for r in curves.itertuples():
            spread = f"{r.min_accuracy:.3f}–{r.max_accuracy:.3f}" if r.repeats > 1 else "–"
            accuracy = f"{r.accuracy:.3f}" if r.n_images else "–"
            lines.append(f"| {r.aggregation} | {r.n_names} | {r.n_candidates} | {accuracy} | "
                         f"{r.ci_low:.3f}–{r.ci_high:.3f} | {spread} |")
        if not info.partial:
            lines += ["", "Critical threshold (paired McNemar test, alpha 0.05, no multiplicity correction):", ""]
            lines += [f"- **{agg}**: {t.sentence()}." for agg, t in thresholds(preds).items()]
        for agg in cfg.get("aggregations", [])[:1]:
            effects = tables.class_effects(preds, agg)
            if len(effects):
                effects_png(effects, out / f"{info.run_id}-classes.png", f"{title} · {agg}")
                gains = ", ".join(f"{r.label} ({r.change:+.2f})" for r in effects.tail(3)[::-1].itertuples())
                losses = ", ".join(f"{r.label} ({r.change:+.2f})" for r in effects.head(3).itertuples())
                lines += ["", f"Per-class change ({agg}, fewest to most names): gains {gains}; losses {losses}.", "",
                          f"![per-class change]({info.run_id}-classes.png)"]
        lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
