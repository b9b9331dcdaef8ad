"""Streamlit pages: widgets and calls into crashlens_core, nothing else.

Not named `pages/`: Streamlit treats a `pages/` folder beside the entry script as a legacy
multi-page app, which would run a page without app.py's set-up on a fresh session.
"""
