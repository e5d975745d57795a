"""Offline training for the VAE explorer: `python -m train --help`."""
