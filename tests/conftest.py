import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
# The tests are grouped as the code is (core, analysis, faces, ui, train); helper modules (celeba_fixtures,
# foreign_models) sit here, and a test of one group may use another's fixtures (``from test_app import start``).
TESTS = Path(__file__).resolve().parent
for _folder in (TESTS, *sorted(p for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


def celeba_sample_dir() -> Path | None:
    p = Path(os.environ.get("CELEBA_SAMPLE", SHARED / "celeba-sample"))
    return p if (p / "list_attr_celeba.txt").is_file() else None


@pytest.fixture
def sample_dir():
    p = celeba_sample_dir()
    if p is None:
        pytest.skip("real CelebA sample not found (../shared/celeba-sample or $CELEBA_SAMPLE)")
    return p


@pytest.fixture(autouse=True)
def _small_torch():
    # Tests are tiny; one thread keeps them deterministic and leaves the other core free.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
