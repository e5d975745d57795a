import os

import numpy as np
import pytest
import torch

from explorer import CheckpointError, load_checkpoint
from explorer.checkpoint import FORMAT_VERSION, atomic_torch_save, make_checkpoint
from explorer.config import PreprocessConfig, VAEConfig
from explorer.celeba import ATTRIBUTE_NAMES
from explorer.model import VAE


def tiny_checkpoint(path, half=False, **kw):
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_size=32, latent_dim=6, channels=(4, 8, 8)))
    # give BatchNorm buffers non-default values so the round trip checks them too
    model.train()
    model(torch.rand(4, 3, 32, 32))
    ckpt = make_checkpoint(model, PreprocessConfig(image_size=32), ATTRIBUTE_NAMES, {"epochs": 1}, [{"epoch": 1}],
                           half=half, **kw)
    atomic_torch_save(ckpt, path)
    return model


def test_round_trip_tensor_by_tensor(tmp_path):
    model = tiny_checkpoint(tmp_path / "m.pt")
    vae = load_checkpoint(tmp_path / "m.pt")
    assert (vae.latent_dim, vae.image_size) == (6, 32)
    assert vae.attribute_names == list(ATTRIBUTE_NAMES) and len(vae.attribute_names) == 40
    saved, loaded = model.state_dict(), vae.model.state_dict()
    assert saved.keys() == loaded.keys()
    for k in saved:
        assert torch.equal(saved[k], loaded[k]), k
    model.eval()
    x = torch.rand(2, 3, 32, 32)
    mu, logvar = vae.encode(x)
    assert torch.allclose(mu, model.encode(x)[0])
    assert vae.decode(mu).shape == (2, 3, 32, 32)
    assert vae.decode(np.zeros((1, 6), np.float32)).shape == (1, 3, 32, 32)


def test_half_precision_file_loads_as_float32(tmp_path):
    model = tiny_checkpoint(tmp_path / "h.pt", half=True)
    vae = load_checkpoint(tmp_path / "h.pt")
    w = vae.model.state_dict()["to_posterior.weight"]
    assert w.dtype == torch.float32
    assert torch.allclose(w, model.state_dict()["to_posterior.weight"], atol=1e-3)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = _Evil()
    evil.marker = marker
    path = tmp_path / "evil.pt"
    torch.save({"format": "vae-explorer-checkpoint", "payload": evil}, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    # the message, not the path (pytest's folder for this test is named "..._is_refused0"), says why
    path_part, _, reason = str(e.value).partition(": ")
    assert path_part == str(path)
    assert reason.startswith("refused: the file holds Python objects other than tensors")
    assert not marker.exists()


def test_damaged_missing_and_foreign_files(tmp_path):
    tiny_checkpoint(tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt.*damaged"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="text.pt"):
        load_checkpoint(tmp_path / "text.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a vae-explorer checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


@pytest.mark.parametrize("names", [None, "Smiling", [1, 2]])
def test_a_checkpoint_without_a_list_of_attribute_names_is_a_checkpoint_error(tmp_path, names):
    """Not a KeyError escaping into the app as a traceback: the file and the missing entry are named."""
    tiny_checkpoint(tmp_path / "ok.pt")
    d = torch.load(tmp_path / "ok.pt", weights_only=True)
    if names is None:
        del d["attribute_names"]
    else:
        d["attribute_names"] = names
    torch.save(d, tmp_path / "names.pt")
    with pytest.raises(CheckpointError, match=r"names\.pt: .*attribute_names"):
        load_checkpoint(tmp_path / "names.pt")


def test_other_format_version_is_named(tmp_path):
    tiny_checkpoint(tmp_path / "ok.pt")
    d = torch.load(tmp_path / "ok.pt", weights_only=True)
    d["format_version"] = FORMAT_VERSION + 1
    torch.save(d, tmp_path / "v2.pt")
    with pytest.raises(CheckpointError, match=f"version {FORMAT_VERSION + 1}"):
        load_checkpoint(tmp_path / "v2.pt")


def test_atomic_write_keeps_old_file_when_save_fails(tmp_path):
    path = tmp_path / "c.pt"
    atomic_torch_save({"a": torch.ones(1)}, path)

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_torch_save({"a": Unsaveable()}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(1))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
