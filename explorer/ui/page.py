"""The script every browser session runs (app.py serves it; AppTest runs it directly)."""
from explorer.ui.main import run

run()
