"""The decoder as ONNX, for decoding in the browser (ONNX Runtime Web) between slider releases.

    path = decoder_onnx(vae)        # exported once per checkpoint file version, then read from the cache

The graph maps ``z`` (N,D) float32 to ``image`` (N,3,S,S) float32 in [0,1], the same function as
``LoadedVAE.decode``; N is dynamic so one session decodes a face or a traversal strip. BatchNorm is
folded into the convolutions by the exporter (the model is in eval mode), and the last convolution is
exported as the transposed convolution of the same function (``_as_conv_transpose``) and LeakyReLU as
PRelu (``_LeakyAsPRelu``), so the browser runs only Gemm, ConvTranspose, PRelu and Sigmoid.

A foreign model (explorer.foreign) gets the same: a user's PyTorch module is exported by the same exporter
(its decode wrapped to give [0,1]); a decoder that is already ONNX is used as it is, with its input renamed
``z`` and its output mapped to [0,1] and named ``image`` (``wrap_decoder_graph``). A decoder whose batch axis
is fixed at 1 keeps it, and the page decodes one face at a time.

The file is cached under ``onnx/`` of the cache folder (``explorer.paths.cache_root``),
named by the sha256 of the checkpoint file and of this module's export settings, so a retrained or
replaced checkpoint gets a new export and an unchanged one is never exported twice. No Streamlit here.
"""
from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from explorer.paths import cache_root

EXPORT_VERSION = 2  # bump when the exported graph changes, so old cache entries are not reused
OPSET = 18
INPUT, OUTPUT = "z", "image"


class ExportError(RuntimeError):
    """The decoder could not be exported; the app then decodes on the server."""


def cache_dir() -> Path:
    return cache_root() / "onnx"


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _as_conv_transpose(conv: nn.Conv2d) -> nn.Module:
    """A stride-1 Conv2d as the ConvTranspose2d of the same function (kernel flipped, in and out swapped,
    padding k-1-p), or the Conv2d itself where that does not hold. For the decoder's last layer (3x3, 32 -> 3
    channels at 64x64) ONNX Runtime Web took 0.57-0.62 ms instead of 0.99-1.05 ms (its profiler, 2 sessions
    each): its Conv first copies the image into a 9x larger column matrix for a GEMM of 3 rows;
    ConvTranspose multiplies first (27 rows) and adds the columns back into the image."""
    k = conv.kernel_size
    if (conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1 or conv.padding_mode != "zeros"
            or not isinstance(conv.padding, tuple)):
        return conv
    pad = tuple(kk - 1 - p for kk, p in zip(k, conv.padding))
    if min(pad) < 0:
        return conv
    t = nn.ConvTranspose2d(conv.in_channels, conv.out_channels, k, 1, pad, bias=conv.bias is not None)
    with torch.no_grad():
        t.weight.copy_(conv.weight.flip(2, 3).transpose(0, 1))
        if conv.bias is not None:
            t.bias.copy_(conv.bias)
    return t


class _LeakyAsPRelu(nn.Module):
    """LeakyReLU as ONNX PRelu with a constant slope: the same function (x, or slope·x below 0). ONNX Runtime
    Web ran the decoder's five in 0.22-0.27 ms instead of 0.76-0.94 ms (its profiler, 3 sessions each)."""

    def __init__(self, slope: float):
        super().__init__()
        self.register_buffer("slope", torch.tensor([slope]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.prelu(x, self.slope)


class _Decoder(nn.Module):
    """Only the decoder half, so the exported graph has one input and holds no encoder weights. With
    ``rewrite``, a copy of the model (the caller's is left as it is) with the layers ONNX Runtime Web runs
    faster for the same function: together 5.0-6.4 ms a face instead of 6.0-7.5 ms (medians of 150, 5
    pages each, alternated, headless Chromium on the 2-core machine)."""

    def __init__(self, vae: nn.Module, rewrite: bool = True):
        super().__init__()
        self.vae = vae
        if not rewrite:
            return
        self.vae = copy.deepcopy(vae)
        for parent in list(self.vae.modules()):
            for name, child in parent.named_children():
                if isinstance(child, nn.LeakyReLU):
                    setattr(parent, name, _LeakyAsPRelu(child.negative_slope))
                elif isinstance(child, nn.Conv2d):
                    setattr(parent, name, _as_conv_transpose(child))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


def export_decoder(model: nn.Module, latent_dim: int, out: str | os.PathLike, rewrite: bool = True) -> Path:
    """Export ``model.decode`` to ``out`` (written atomically). Raises ExportError with the reason.
    ``rewrite=False``: the layers as PyTorch's exporter writes them (the bench's yardstick of a host)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dec = _Decoder(model, rewrite).eval()
    z = torch.zeros(2, latent_dim)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # The exporter reports its progress and version notes as warnings; a failure still raises.
            warnings.simplefilter("ignore")
            # dynamo=True: torch.export-based exporter (the default since torch 2.9; the TorchScript one
            # is deprecated). It writes the weights inside the file (external_data=False): the browser
            # fetches one file.
            program = torch.onnx.export(
                dec, (z,), input_names=[INPUT], output_names=[OUTPUT], opset_version=OPSET, dynamo=True,
                dynamic_shapes={"z": {0: torch.export.Dim("batch", min=1, max=64)}}, verbose=False)
            program.save(tmp, external_data=False)
        os.replace(tmp, out)
    except ExportError:
        raise
    except Exception as e:  # the exporter raises many kinds; the app falls back on any of them
        raise ExportError(f"exporting the decoder to ONNX failed ({type(e).__name__}: {e})") from e
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def decoder_onnx(vae, cache: str | os.PathLike | None = None) -> Path:
    """The cached ONNX decoder of a loaded checkpoint (``explorer.load_checkpoint``, any model kind), made on
    first use by ``vae.browser_decoder``. Keyed by the checkpoint file's sha256, so the export follows the
    file, not its name."""
    root = Path(cache) if cache is not None else cache_dir()
    key = hashlib.sha256(f"{file_sha256(vae.path)}:{EXPORT_VERSION}:{OPSET}:{torch.__version__}".encode()).hexdigest()
    out = root / f"decoder-{key[:24]}.onnx"
    if out.is_file() and out.stat().st_size > 0:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    return vae.browser_decoder(out)


def wrap_decoder_graph(decoder: bytes, out_range, out: Path) -> Path:
    """A foreign decoder's ONNX graph as the page runs it: input ``z`` (float32), output ``image`` in [0,1]
    (float32). Its own names, input and output types and pixel range (``out_range``, explorer.protocol's
    PixelRange) are bridged by a few nodes at either end; the graph itself is left as it is."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    try:
        model = onnx.load_from_string(decoder)
        g = model.graph
        inits = {i.name for i in g.initializer}
        inputs = [i for i in g.input if i.name not in inits]
        used = {n for node in g.node for n in list(node.input) + list(node.output)} | inits
        if len(inputs) != 1 or len(g.output) != 1 or {INPUT, OUTPUT} & used:
            raise ExportError("the decoder graph does not have one input and one output with free names")
        inp, outp = inputs[0], g.output[0]
        in_type, out_type = inp.type.tensor_type.elem_type, outp.type.tensor_type.elem_type
        old_in, old_out = inp.name, outp.name
        pre, post = [], []
        if in_type == TensorProto.FLOAT:
            for node in g.node:
                node.input[:] = [INPUT if n == old_in else n for n in node.input]
        else:
            pre.append(helper.make_node("Cast", [INPUT], [old_in], to=in_type))
        x = old_out
        if out_type != TensorProto.FLOAT:
            post.append(helper.make_node("Cast", [x], ["_vae_cast"], to=TensorProto.FLOAT))
            x = "_vae_cast"
        scale = 1.0 / (out_range.high - out_range.low)
        g.initializer.extend([numpy_helper.from_array(np.array(out_range.low, np.float32), "_vae_low"),
                              numpy_helper.from_array(np.array(scale, np.float32), "_vae_scale")])
        post += [helper.make_node("Sub", [x, "_vae_low"], ["_vae_shift"]),
                 helper.make_node("Mul", ["_vae_shift", "_vae_scale"], [OUTPUT])]
        shape_in = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "batch")
                    for d in inp.type.tensor_type.shape.dim]
        shape_out = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "batch")
                     for d in outp.type.tensor_type.shape.dim]
        nodes = pre + list(g.node) + post
        del g.node[:]
        g.node.extend(nodes)
        g.input.remove(inp)
        g.input.insert(0, helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, shape_in or None))
        g.output.remove(outp)
        g.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, shape_out or None))
        onnx.checker.check_model(model)
        data = model.SerializeToString()
    except ExportError:
        raise
    except Exception as e:
        raise ExportError(f"preparing the decoder for the page failed ({type(e).__name__}: {e})") from e
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, out)
    return out


def export_in_child(checkpoint: Path, out: Path, timeout: float = 900) -> Path:
    """Run the export in a child process. torch.export traces by patching torch.nn.Module.__call__ for
    the whole process, so in the app's process any decode on the server while it traced (a page opened
    in the first seconds of a new checkpoint) failed with torch.fx's "Unexpected key …". The child finds
    a user's module (a checkpoint made with ``--torch``) where this process does: the current directory
    and PYTHONPATH are passed on."""
    root = Path(__file__).resolve().parents[1]
    path = [str(root), os.getcwd(), os.environ.get("PYTHONPATH")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, path)))
    try:
        done = subprocess.run([sys.executable, "-m", "explorer.onnx_export", str(Path(checkpoint).resolve()), str(out)],
                              cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ExportError(f"exporting the decoder to ONNX took over {timeout:.0f} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ExportError(lines[-1] if lines else f"the export process exited with code {done.returncode}")
    return out


def main(argv=None) -> None:
    """python -m explorer.onnx_export CHECKPOINT OUT: the child process of decoder_onnx."""
    from explorer.checkpoint import CheckpointError, load_checkpoint

    checkpoint, out = argv or sys.argv[1:]
    torch.set_num_threads(1)  # leave the other cores to the page that waits for it
    try:
        vae = load_checkpoint(checkpoint, device="cpu")
        export_decoder(vae.torch_decoder(), vae.latent_dim, out)
    except (CheckpointError, ExportError) as e:
        sys.exit(str(e))
    # The file is in place (written atomically): skip the interpreter's teardown of torch and the
    # exporter, 2 s of the 12 s a first export took here, while the page waits to go live.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
