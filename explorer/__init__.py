"""VAE latent-space explorer: model, checkpoint, CelebA reading and latent math (no Streamlit here)."""

__all__ = ["load_checkpoint", "LoadedVAE", "CheckpointError"]


def __getattr__(name):
    # Lazy, so that `import explorer.celeba` (data workers, tests) does not pay for importing torch.
    if name in __all__:
        from explorer import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module 'explorer' has no attribute {name!r}")
