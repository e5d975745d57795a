"""The Streamlit views of the explorer (the only package besides app.py that imports streamlit).

One small function per view draws widgets and calls ``explorer`` for the math; ``main.run`` puts
them in tabs. Entry point: ``streamlit run app.py``.
"""
