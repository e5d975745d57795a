"""Examples of models that are not this project's (see examples/tiny_vae.py)."""
