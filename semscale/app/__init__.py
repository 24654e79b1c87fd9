"""The user-facing layer without Streamlit: the command line, plotly figures, the report."""
