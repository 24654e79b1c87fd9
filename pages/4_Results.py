"""Results: run history, curve overlays with bands, per-class effects, confusion, misclassified images."""

from __future__ import annotations

import streamlit as st

import ui
from semscale import analysis, figures, threshold
from semscale.errors import SemscaleError

st.set_page_config(page_title="semscale · Results", page_icon="📊", layout="wide")
st.title("Results")
PNG = {"toImageButtonOptions": {"format": "png", "scale": 2}, "displaylogo": False}

try:
    store = ui.store()
    runs = store.runs()
except SemscaleError as exc:
    st.error(str(exc))
    st.stop()
if not runs:
    st.info("No runs yet: start one on the Run page or with `python -m semscale run`.")
    st.stop()

st.dataframe([{"run": r.run_id, "status": r.status, "dataset": r.dataset, "images": f"{r.n_done}/{r.n_images}",
               "rejected": r.n_rejected, "aggregations": ", ".join(r.config.get("aggregations", [])),
               "schedule": r.config.get("schedule"), "started": r.created.strftime("%Y-%m-%d %H:%M"),
               "seconds": round(r.elapsed or 0, 1), "model": r.model} for r in runs],
             hide_index=True, use_container_width=True)
label = {r.run_id: f"{r.run_id} ({r.dataset})" for r in runs}
chosen = st.multiselect("Runs to compare", list(label), default=[runs[0].run_id], format_func=label.get)
if not chosen:
    st.stop()

curves = analysis.curves(store.points(chosen))
curves = curves[curves["n_images"] > 0]
st.subheader("Accuracy against names per class")
st.caption("Bands: 95% Wilson interval, or the range over name orders when a run has several.")
if curves.empty:
    st.caption("No scored images yet.")
else:
    st.plotly_chart(figures.accuracy_curves(curves, label), use_container_width=True, config=PNG)
    info = {r.run_id: r for r in runs}
    for rid in chosen:
        if info[rid].partial:
            st.warning(f"**{label[rid]}** · {info[rid].partial_note('PARTIAL')}.")
            continue
        for agg, t in threshold.thresholds(store.predictions(rid)).items():
            st.markdown(f"**{label[rid]} · {agg}**: {t.sentence()}.")
    st.caption("Critical level: the first level after which no later level is significantly better "
               "(paired McNemar test over the same images, alpha 0.05).")
    st.download_button("Curve data (CSV)", curves.to_csv(index=False), file_name="curves.csv", mime="text/csv")

run_id = st.selectbox("Look inside run", chosen, format_func=label.get)
preds = store.predictions(run_id)
if preds.empty:
    st.stop()
c1, c2 = st.columns(2)
agg = c1.selectbox("Aggregation", sorted(preds["aggregation"].unique()))
levels = sorted(preds["n_names"].unique())
level = c2.select_slider("Names per class", levels, value=levels[-1])
st.download_button("Predictions of this run (CSV)", preds.to_csv(index=False), file_name=f"{run_id}-predictions.csv",
                   mime="text/csv")

left, right = st.columns(2)
with left:
    st.subheader("Per-class accuracy")
    table = analysis.per_class(preds)
    st.plotly_chart(figures.per_class_lines(table[table["aggregation"] == agg]), use_container_width=True, config=PNG)
with right:
    st.subheader("Who gains, who loses")
    effects = analysis.class_effects(preds, agg)
    st.plotly_chart(figures.class_effect_bars(effects), use_container_width=True, config=PNG)

st.subheader(f"Confusion matrix at {level} names per class")
st.plotly_chart(figures.confusion_heatmap(analysis.confusion(preds, agg, level)), use_container_width=True, config=PNG)

st.subheader("Misclassified images")
wrong = preds[(preds["aggregation"] == agg) & (preds["n_names"] == level) & (preds["repeat"] == 0) & ~preds["correct"]]
st.caption(f"{len(wrong)} of {int(((preds['aggregation'] == agg) & (preds['n_names'] == level) & (preds['repeat'] == 0)).sum())} images")
cols = st.columns(6)
for col, row in zip(cols * 4, wrong.head(24).itertuples()):
    top = ", ".join(f"{n} ({s:.2f})" for n, s in zip(row.top_names, row.top_sims))
    try:
        col.image(row.path, use_container_width=True)
    except Exception:  # the file may have moved since the run
        col.caption("(image no longer on disk)")
    col.caption(f"**{row.label}** → {row.predicted}  \ntop-3: {top}")
