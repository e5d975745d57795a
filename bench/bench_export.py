"""Analysis-bundle export time for a foreign model beside ours (issue 26): seconds per 1,000 images.

    python bench/bench_export.py [--data-dir ../shared/celeba-sample] [--images 2000] [--threads 2]

Three models build the same bundle (train.export.build_bundle) from the same cached images:
ours (checkpoints/celeba64.pt), examples/tiny_vae.py's TinyVAE as a PyTorch module (--torch) and the same
TinyVAE as two ONNX files (--onnx). TinyVAE's weights are random here: the time does not depend on them.
Printed: encoding (encode + decode of every image), the whole bundle (encoding, t-SNE, density, kinds), both
per 1,000 images, and the whole command's extra step for a foreign model, the check on 64 images.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer import load_checkpoint  # noqa: E402
from explorer.celeba import open_celeba  # noqa: E402
from explorer.config import PreprocessConfig  # noqa: E402
from explorer.foreign import onnx_from_files, torch_from_spec  # noqa: E402
from explorer.protocol import PixelRange  # noqa: E402
from train.export import build_bundle, check_on_data, encode_cache  # noqa: E402
from train.prepare import load_or_build_cache  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "celeba-sample"))
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cache = load_or_build_cache(open_celeba([a.data_dir]), PreprocessConfig(image_size=64), None, progress=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from examples.tiny_vae import build, to_onnx

        torch.manual_seed(0)
        weights = Path(tmp) / "tiny.pt"
        torch.save(build().state_dict(), weights)
        to_onnx(weights, Path(tmp))
        pm1 = PixelRange(-1.0, 1.0)
        models = {
            "ours (celeba64.pt, 128-d)": load_checkpoint(ROOT / "checkpoints" / "celeba64.pt"),
            "TinyVAE --torch (64-d)": torch_from_spec("examples.tiny_vae:build", weights, 64, pm1, pm1),
            "TinyVAE --onnx (64-d)": onnx_from_files(Path(tmp) / "encoder.onnx", Path(tmp) / "decoder.onnx", 64, pm1, pm1),
        }
        n = min(a.images, len(cache.images))
        for name, vae in models.items():
            t0 = time.perf_counter()
            encode_cache(vae, cache.images[:n])
            enc = time.perf_counter() - t0
            check = float("nan")
            if vae.source.kind != "ours":
                t0 = time.perf_counter()
                try:
                    check_on_data(vae, cache.images[:64], {"what": name}, log=lambda m: None)
                except ValueError:
                    pass  # random weights may look like a wrong range; the timing is what is measured
                check = time.perf_counter() - t0
            t0 = time.perf_counter()
            build_bundle(vae, cache, [0, 1, 2], "cpu", max_images=n, log=lambda m: None)
            whole = time.perf_counter() - t0
            rows.append((name, enc / n * 1000, whole / n * 1000, check))
    print(f"\n{n} images of {a.data_dir} at 64x64, {a.threads} threads\n")
    print(f"| {'model':28} | encode+decode s/1000 | whole bundle s/1000 | check (64 images) s |")
    print(f"|{'-' * 30}|{'-' * 22}|{'-' * 21}|{'-' * 21}|")
    for name, e, w, c in rows:
        print(f"| {name:28} | {e:20.2f} | {w:19.2f} | {'' if c != c else f'{c:.2f}':>19} |")


if __name__ == "__main__":
    main()
