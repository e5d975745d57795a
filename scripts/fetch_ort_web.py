"""Fetch the ONNX Runtime Web files the live decoder needs, reproducibly, into explorer/ui/live/vendor/.

    python scripts/fetch_ort_web.py            # npm pack the pinned version, check its sha256, extract
    python scripts/fetch_ort_web.py --check    # only verify that the committed files match the pinned package

The files are committed, so a fresh clone works offline without npm; this script says where they came
from and rebuilds them byte for byte. Only two files of the 33 MB package are kept:
  * dist/ort.wasm.bundle.min.mjs: the JS API with the WebAssembly glue bundled in (no second module to load);
  * dist/ort-wasm-simd-threaded.wasm, stored gzip-compressed (14 MB -> 3.7 MB). app.py sends it as is with
    Content-Encoding: gzip and Content-Type: application/wasm (explorer/ui/live/serve.py): the browser
    inflates it and compiles it while it streams in. Since 1.19 this one binary also runs single-threaded
    (the page sets numThreads = 1: no SharedArrayBuffer, no cross-origin isolation needed).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.30.0"
TARBALL_SHA256 = "d2228df7e4616bc3348bf504ee888f3bec43789a273f0a63f3e68d203ce3bf71"  # onnxruntime-web-1.30.0.tgz
OUT = Path(__file__).resolve().parents[1] / "explorer" / "ui" / "live" / "vendor"
KEEP = {  # path in the package -> (file name in OUT, gzip it)
    "package/dist/ort.wasm.bundle.min.mjs": ("ort.wasm.bundle.min.mjs", False),
    "package/dist/ort-wasm-simd-threaded.wasm": ("ort-wasm-simd-threaded.wasm.gz", True),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_pack(tmp: Path) -> bytes:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("error: npm not found (install Node.js); the committed files in "
                 f"{OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT} work without it")
    subprocess.run([npm, "pack", f"onnxruntime-web@{VERSION}", "--silent"], cwd=tmp, check=True,
                   stdout=subprocess.DEVNULL)
    data = (tmp / f"onnxruntime-web-{VERSION}.tgz").read_bytes()
    if sha256(data) != TARBALL_SHA256:
        sys.exit(f"error: onnxruntime-web-{VERSION}.tgz has sha256 {sha256(data)}, expected {TARBALL_SHA256}")
    return data


def extract(tarball: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member, (name, compress) in KEEP.items():
            data = tar.extractfile(member).read()
            # mtime=0 and no file name: the same input gives the same .gz bytes on every machine
            out[name] = gzip.compress(data, compresslevel=9, mtime=0) if compress else data
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = extract(npm_pack(Path(tmp)))
    if a.check:
        bad = [n for n, d in files.items() if not (OUT / n).is_file() or (OUT / n).read_bytes() != d]
        if bad:
            sys.exit(f"error: differ from onnxruntime-web {VERSION}: {', '.join(bad)}")
        print(f"ok: {OUT} matches onnxruntime-web {VERSION}")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "VERSION").write_text(f"onnxruntime-web {VERSION} (npm tarball sha256 {TARBALL_SHA256}), MIT licence, "
                                  "(c) Microsoft Corporation; written by scripts/fetch_ort_web.py\n")
    for name, data in files.items():
        (OUT / name).write_bytes(data)
        print(f"{OUT / name}: {len(data):,} bytes, sha256 {sha256(data)[:16]}…")


if __name__ == "__main__":
    main()
