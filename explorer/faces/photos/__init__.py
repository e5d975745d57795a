"""Photos the project may ship, for trying the reconstruction without a dataset (no CelebA image is committed:
CelebA's images are for non-commercial research and may not be redistributed). Both are public domain; their
sources are in README.md beside this file."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

# file -> who it shows and where it comes from, as the page credits it
PHOTOS = {
    "astronaut.jpg": "Eileen Collins, NASA astronaut (NASA, public domain; scikit-image's sample data)",
    "grace_hopper.jpg": "Grace Hopper, computer scientist (U.S. Navy photograph, public domain; matplotlib's sample data)",
}


def read(name: str) -> bytes:
    """The bytes of one of PHOTOS (a name from that list, never a path)."""
    if name not in PHOTOS:
        raise KeyError(f"{name!r} is not one of the example photos ({', '.join(PHOTOS)})")
    return (HERE / name).read_bytes()
