"""Your own VAE in the explorer: two implementations of the model protocol (explorer.protocol).

- ``OnnxPairModel``: an encoder ``.onnx`` (images (N,3,S,S) -> mu, or mu and logvar) and a decoder ``.onnx``
  ((N,D) -> images), from any framework. No code of the user's runs here: ONNX Runtime runs the graphs, whose
  bytes travel inside the checkpoint. Tensor names and whether the batch axis is fixed (at 1) are read from
  the files.
- ``TorchModuleModel``: a PyTorch ``nn.Module`` built by the user's factory (``package.module:function``)
  with the user's weights. Its import path is recorded in the checkpoint, and **opening such a file imports
  that module** (from the current directory or PYTHONPATH): it runs the user's code, which is why only a file
  made with ``python -m train.export --torch`` ever does, and never one made otherwise.

Both map the model's own pixel ranges ([0,1] or [-1,1], in and out) to the [0,1] every caller speaks. Every
problem is a ``ForeignModelError`` whose message names the file and the fix. No Streamlit here.
"""
from __future__ import annotations

import importlib
import os
import pickle
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from explorer.analysis.bundle import AnalysisBundle
from explorer.protocol import LatentModel, ModelSource, PixelRange

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


class ForeignModelError(ValueError):
    """A foreign model that cannot be used as given; the message names the file and the fix."""


# --------------------------------------------------------------------------------------------
# ONNX files
# --------------------------------------------------------------------------------------------

def _session(data: bytes, what: str, device: torch.device):
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # ONNX Runtime's own warnings (unused initializers, …) are not the user's concern
    try:
        return ort.InferenceSession(data, sess_options=opts, providers=providers)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ForeignModelError(f"{what}: ONNX Runtime cannot open it ({first}); export it again with "
                                f"torch.onnx.export (or your framework's ONNX exporter)") from None


def _fixed_batch(shape) -> int | None:
    """The batch size an ONNX input fixes (an int first axis), or None where it is dynamic."""
    return shape[0] if shape and isinstance(shape[0], int) and shape[0] > 0 else None


class OnnxPairModel(LatentModel):
    def __init__(self, encoder: bytes, decoder: bytes, image_size: int, in_range: PixelRange,
                 out_range: PixelRange, device: str = "cpu", names: tuple[str, str] = ("encoder.onnx", "decoder.onnx")):
        self.device = torch.device(device)
        self.encoder_bytes, self.decoder_bytes = bytes(encoder), bytes(decoder)
        self.image_size, self.in_range, self.out_range, self.names = image_size, in_range, out_range, names
        self.source = ModelSource("onnx", f"{names[0]} + {names[1]}")
        self.enc = _session(self.encoder_bytes, names[0], self.device)
        self.dec = _session(self.decoder_bytes, names[1], self.device)
        ei, di = self.enc.get_inputs(), self.dec.get_inputs()
        if len(ei) != 1 or len(di) != 1:
            raise ForeignModelError(f"{names[0] if len(ei) != 1 else names[1]}: {len(ei) if len(ei) != 1 else len(di)} "
                                    f"inputs; the explorer feeds one (images to the encoder, z to the decoder)")
        self.enc_in, self.dec_in = ei[0], di[0]
        self.enc_batch, self.decoder_batch = _fixed_batch(ei[0].shape), _fixed_batch(di[0].shape)
        outs = self.enc.get_outputs()
        if len(outs) not in (1, 2):
            raise ForeignModelError(f"{names[0]}: {len(outs)} outputs; expected mu, or mu and logvar")
        self.has_logvar = len(outs) == 2
        # latent size: from the decoder's input where it is a number, else from a probe below
        dim = di[0].shape[-1] if di[0].shape and isinstance(di[0].shape[-1], int) else None
        probe = self._probe(names[0], lambda: self._run_encoder(np.full((1, 3, image_size, image_size), 0.5, np.float32)),
                            f"one {image_size}x{image_size} image; is --image-size right")
        mu = probe[0]
        if mu.ndim != 2 or mu.shape[0] != 1 or any(p.shape != mu.shape for p in probe):
            raise ForeignModelError(
                f"{names[0]}: outputs of shape {[list(p.shape) for p in probe]} for one {image_size}x{image_size} image; "
                f"expected (N,D) for mu and logvar. Is --image-size right, and does the encoder return the posterior "
                f"(not a sample or the reconstruction)?")
        self.latent_dim = int(mu.shape[1])
        if dim is not None and dim != self.latent_dim:
            raise ForeignModelError(f"{names[1]}: takes z of size {dim}, but {names[0]} gives mu of size "
                                    f"{self.latent_dim}; the two files must come from the same model")
        img = self._probe(names[1], lambda: self._run_decoder(np.zeros((1, self.latent_dim), np.float32)),
                          f"z of size {self.latent_dim} (the encoder's); do the two files come from the same model")
        if img.shape != (1, 3, image_size, image_size):
            raise ForeignModelError(f"{names[1]}: gives {list(img.shape)} for one z; expected (1,3,{image_size},"
                                    f"{image_size}) for --image-size {image_size}")

    @staticmethod
    def _probe(name: str, run, fed: str):
        try:
            return run()
        except Exception as e:  # ONNX Runtime's InvalidArgument, Fail, … for inputs of the wrong shape
            first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise ForeignModelError(f"{name}: ONNX Runtime could not run it on {fed}? ({first})") from None

    def _run(self, sess, inp, batch_fixed, x: np.ndarray) -> list[np.ndarray]:
        x = x.astype(_ORT_TYPES.get(inp.type, np.float32), copy=False)
        if batch_fixed is None:
            return [np.asarray(o, np.float32) for o in sess.run(None, {inp.name: x})]
        # a batch axis fixed at 1 (common in exports): one item at a time
        parts = [sess.run(None, {inp.name: x[i:i + 1]}) for i in range(len(x))]
        return [np.concatenate([np.asarray(p[k], np.float32) for p in parts]) for k in range(len(parts[0]))]

    def _run_encoder(self, x01: np.ndarray) -> list[np.ndarray]:
        return self._run(self.enc, self.enc_in, self.enc_batch, self.in_range.from_unit(x01))

    def _run_decoder(self, z: np.ndarray) -> np.ndarray:
        return self._run(self.dec, self.dec_in, self.decoder_batch, z)[0]

    def raw_decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's output in its own range (the export's checks look at it)."""
        return torch.from_numpy(self._run_decoder(z.numpy()))

    def _encode(self, x: torch.Tensor):
        outs = [torch.from_numpy(o) for o in self._run_encoder(x.numpy())]
        return outs[0], (outs[1] if self.has_logvar else None)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.out_range.to_unit(self.raw_decode(z))

    def with_ranges(self, in_range: PixelRange, out_range: PixelRange) -> "OnnxPairModel":
        return OnnxPairModel(self.encoder_bytes, self.decoder_bytes, self.image_size, in_range, out_range,
                             str(self.device), self.names)

    def to_plain(self) -> dict:
        return {"encoder": torch.frombuffer(bytearray(self.encoder_bytes), dtype=torch.uint8),
                "decoder": torch.frombuffer(bytearray(self.decoder_bytes), dtype=torch.uint8),
                "files": list(self.names), "image_size": self.image_size, "latent_dim": self.latent_dim,
                "input_range": self.in_range.to_list(), "output_range": self.out_range.to_list()}

    def browser_decoder(self, out: str | os.PathLike) -> Path:
        """The user's decoder graph with its input named ``z`` and its output mapped to [0,1] and named
        ``image``, as the page expects; no tracing needed (the graph is already ONNX)."""
        from explorer.onnx_export import wrap_decoder_graph

        return wrap_decoder_graph(self.decoder_bytes, self.out_range, Path(out))


def onnx_from_files(encoder: str | os.PathLike, decoder: str | os.PathLike, image_size: int, in_range: PixelRange,
                    out_range: PixelRange, device: str = "cpu") -> OnnxPairModel:
    import onnx

    blobs = []
    for f in (Path(encoder), Path(decoder)):
        if not f.is_file():
            raise ForeignModelError(f"{f}: no such file; give the path of the exported .onnx file")
        try:
            # Weights kept beside the graph (FILE.onnx.data, as torch.onnx.export writes larger models) are read
            # in and carried inside the checkpoint with it, so the checkpoint is the one file to move.
            blobs.append(onnx.load(str(f), load_external_data=True).SerializeToString())
        except Exception as e:
            raise ForeignModelError(f"{f}: not a readable ONNX file ({type(e).__name__}: {str(e)[:200]}); give the "
                                    f"file your exporter wrote, with its .data file beside it if it has one") from None
    return OnnxPairModel(blobs[0], blobs[1], image_size, in_range, out_range, device,
                         (Path(encoder).name, Path(decoder).name))


# --------------------------------------------------------------------------------------------
# A PyTorch module by import path
# --------------------------------------------------------------------------------------------

@contextmanager
def _cwd_importable():
    """Let ``import`` find modules in the current directory, as ``python -m`` does, for this import only."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def build_module(spec: str) -> torch.nn.Module:
    """``package.module:factory`` -> the untrained module the factory builds. Imports the user's code."""
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise ForeignModelError(f"--torch {spec!r}: expected package.module:factory, e.g. mypkg.models:build")
    try:
        with _cwd_importable():
            module = importlib.import_module(mod_name)
    except Exception as e:
        raise ForeignModelError(
            f"--torch {spec}: the module {mod_name!r} does not import ({type(e).__name__}: {e}); run from the folder "
            f"that holds it, or add that folder to PYTHONPATH") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ForeignModelError(f"--torch {spec}: {mod_name} ({getattr(module, '__file__', '?')}) has no function "
                                f"{attr!r}")
    try:
        net = factory()
    except Exception as e:
        raise ForeignModelError(f"--torch {spec}: {attr}() raised {type(e).__name__}: {e}; the factory must build "
                                f"the model with no arguments") from None
    if not isinstance(net, torch.nn.Module):
        raise ForeignModelError(f"--torch {spec}: {attr}() returned a {type(net).__name__}, not a torch.nn.Module")
    return net


def read_weights(path: str | os.PathLike) -> dict:
    """A state dict from ``path``: ``.safetensors``, or a torch file read with ``weights_only=True`` (never
    unpickling objects), which may be a bare state dict or a checkpoint holding one under ``state_dict``
    (Lightning) or ``model``."""
    path = Path(path)
    if not path.is_file():
        raise ForeignModelError(f"{path}: no such weights file")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
        except Exception as e:
            raise ForeignModelError(f"{path}: not a readable .safetensors file ({type(e).__name__}: {e})") from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ForeignModelError(
            f"{path}: refused: it holds Python objects, and loading them could run code. Save the weights alone: "
            f"torch.save(model.state_dict(), PATH) ({str(e).splitlines()[0]})") from None
    except Exception as e:
        raise ForeignModelError(f"{path}: not a readable torch file ({type(e).__name__}: {e})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    if not isinstance(data, dict) or not data or not all(torch.is_tensor(v) for v in data.values()):
        raise ForeignModelError(f"{path}: no state dict of tensors in it (looked at the top level and under "
                                f"'state_dict', 'model', 'model_state_dict')")
    return data


def fit_state_dict(net: torch.nn.Module, state: dict, weights: str) -> tuple[dict, str]:
    """The state dict with a wrapper's prefix removed where that makes the names fit (Lightning's ``model.``,
    DDP's ``module.``), and a note saying so; an error naming the missing and unexpected keys otherwise."""
    want = set(net.state_dict())
    note = ""
    if not want & set(state):
        for prefix in sorted({k.split(".", 1)[0] + "." for k in state if "." in k}):
            stripped = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if want <= set(stripped) or len(want & set(stripped)) > len(want) // 2:
                state, note = stripped, f"took the keys under {prefix!r} (a wrapper's prefix, as Lightning's)"
                break
    missing, unexpected = sorted(want - set(state)), sorted(set(state) - want)
    if missing or unexpected:
        show = lambda keys: ", ".join(keys[:6]) + (f" … ({len(keys)} in all)" if len(keys) > 6 else "")  # noqa: E731
        raise ForeignModelError(
            f"{weights}: the weights do not fit the module: missing {show(missing) or 'none'}; unexpected "
            f"{show(unexpected) or 'none'}. Check that --torch builds the architecture these weights were trained with")
    return state, note


class _RangedDecoder(torch.nn.Module):
    """The user's decode as a module with ``decode(z)`` in [0,1], for the ONNX exporter of the live decoder."""

    def __init__(self, net: torch.nn.Module, method: str, out_range: PixelRange):
        super().__init__()
        self.net, self.method, self.out_range = net, method, out_range

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.out_range.to_unit(getattr(self.net, self.method)(z))


class TorchModuleModel(LatentModel):
    def __init__(self, spec: str, state: dict, image_size: int, in_range: PixelRange, out_range: PixelRange,
                 encode_method: str = "encode", decode_method: str = "decode", device: str = "cpu",
                 weights_name: str = "weights", note: str = ""):
        self.device = torch.device(device)
        self.spec, self.image_size, self.in_range, self.out_range = spec, image_size, in_range, out_range
        self.encode_method, self.decode_method, self.weights_name, self.note = encode_method, decode_method, weights_name, note
        self.source = ModelSource("torch", spec)
        net = build_module(spec)
        for method in (encode_method, decode_method):
            if not callable(getattr(net, method, None)):
                flag = "--encode-method" if method == encode_method else "--decode-method"
                raise ForeignModelError(f"--torch {spec}: the module has no method {method!r}; name it with {flag}")
        state, fitted = fit_state_dict(net, state, weights_name)
        self.note = note or fitted
        net.load_state_dict(state)
        self.net = net.to(self.device).eval()
        self.state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        mu, logvar = self._encode(torch.full((2, 3, image_size, image_size), 0.5))
        if mu.ndim != 2 or mu.shape[0] != 2 or (logvar is not None and logvar.shape != mu.shape):
            raise ForeignModelError(
                f"--torch {spec}: {encode_method}() gave {list(mu.shape)}" + (f" and {list(logvar.shape)}" if logvar is not None else "")
                + f" for 2 images; expected mu (N,D), or (mu, logvar), or a list starting with them")
        self.latent_dim, self.has_logvar = int(mu.shape[1]), logvar is not None
        img = self.raw_decode(torch.zeros(2, self.latent_dim))
        if tuple(img.shape) != (2, 3, image_size, image_size):
            raise ForeignModelError(f"--torch {spec}: {decode_method}() gave {list(img.shape)} for 2 latents; expected "
                                    f"(2,3,{image_size},{image_size}) for --image-size {image_size}")

    def _encode(self, x: torch.Tensor):
        with torch.inference_mode():
            out = getattr(self.net, self.encode_method)(self.in_range.from_unit(x.to(self.device)))
        if torch.is_tensor(out):
            return out, None
        if isinstance(out, (list, tuple)) and len(out) >= 2 and torch.is_tensor(out[0]) and torch.is_tensor(out[1]):
            return out[0], out[1]  # (mu, logvar), or PyTorch-VAE's [mu, log_var]
        raise ForeignModelError(f"--torch {self.spec}: {self.encode_method}() returned {type(out).__name__}; expected "
                                f"mu, or (mu, logvar), or a list whose first two items are those")

    def raw_decode(self, z: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = getattr(self.net, self.decode_method)(z.to(self.device))
        if not torch.is_tensor(out):
            raise ForeignModelError(f"--torch {self.spec}: {self.decode_method}() returned {type(out).__name__}, not "
                                    f"an image tensor")
        return out.float().cpu()

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.out_range.to_unit(self.raw_decode(z))

    def with_ranges(self, in_range: PixelRange, out_range: PixelRange) -> "TorchModuleModel":
        return TorchModuleModel(self.spec, self.state, self.image_size, in_range, out_range, self.encode_method,
                                self.decode_method, str(self.device), self.weights_name, self.note)

    def torch_decoder(self) -> torch.nn.Module:
        return _RangedDecoder(self.net, self.decode_method, self.out_range).eval()

    def to_plain(self) -> dict:
        return {"factory": self.spec, "state_dict": self.state, "weights_file": self.weights_name,
                "encode_method": self.encode_method, "decode_method": self.decode_method,
                "image_size": self.image_size, "latent_dim": self.latent_dim,
                "input_range": self.in_range.to_list(), "output_range": self.out_range.to_list()}


def torch_from_spec(spec: str, weights: str | os.PathLike, image_size: int, in_range: PixelRange,
                    out_range: PixelRange, encode_method: str = "encode", decode_method: str = "decode",
                    device: str = "cpu") -> TorchModuleModel:
    state = read_weights(weights)
    return TorchModuleModel(spec, state, image_size, in_range, out_range, encode_method, decode_method, device,
                            Path(weights).name)


# --------------------------------------------------------------------------------------------
# In and out of a checkpoint
# --------------------------------------------------------------------------------------------

def checkpoint_fields(model: LatentModel) -> dict:
    """The keys a foreign model adds to a checkpoint (explorer.checkpoint's format): its kind and itself."""
    return {"model_kind": model.source.kind, "foreign": model.to_plain()}


def open_foreign(data: dict, path: Path, device: str = "cpu") -> LatentModel:
    """A checkpoint written for a foreign model -> the model, or CheckpointError naming the file and why."""
    from explorer.checkpoint import CheckpointError

    kind, f = data.get("model_kind"), data.get("foreign")
    try:
        if not isinstance(f, dict):
            raise KeyError("foreign")
        ranges = PixelRange(*f["input_range"]), PixelRange(*f["output_range"])
        if kind == "onnx":
            model = OnnxPairModel(f["encoder"].numpy().tobytes(), f["decoder"].numpy().tobytes(), int(f["image_size"]),
                                  *ranges, device, tuple(f["files"]))
        elif kind == "torch":
            model = TorchModuleModel(f["factory"], dict(f["state_dict"]), int(f["image_size"]), *ranges,
                                     f["encode_method"], f["decode_method"], device, f.get("weights_file", "weights"))
        else:
            raise CheckpointError(f"{path}: model kind {kind!r} is not one this program opens (ours, onnx, torch)")
        model._set_metadata(data, path, device)
        model.bundle = AnalysisBundle.from_plain(data["bundle"]) if data.get("bundle") else None
    except ForeignModelError as e:
        hint = (" The file was made from a PyTorch module: start the app from the folder that holds that module, or "
                "add it to PYTHONPATH." if kind == "torch" else "")
        raise CheckpointError(f"{path}: {e}.{hint}") from None
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"{path}: inconsistent checkpoint ({type(e).__name__}: {e})") from None
    if model.latent_dim != int(f["latent_dim"]):
        raise CheckpointError(f"{path}: the model gives latents of size {model.latent_dim}, the file says {f['latent_dim']}")
    return model
