"""Streamlit pages: widgets and calls into crashlens_core, nothing else.

app.py lists the page files with ``st.navigation``; the other modules here (common, the
``*_view`` panels) are shared by pages. A ``pages/`` folder beside the entry script makes
Streamlit's first run on a fresh server take its legacy multipage path: every page calls
``common.leave_legacy_multipage()`` first, which hands that run to app.py.
"""
