"""The README states nothing a script can check that is not true today: the training defaults, the shipped
models' figures and scorecards, the test count, the links to docs/, and its length (a front door, not a lab
notebook)."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from explorer import load_checkpoint
from explorer.analysis.runlog import epoch_rows

README = (ROOT / "README.md").read_text(encoding="utf-8")
PROSE = " ".join(README.split())  # sentences wrap anywhere


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_the_readme_is_short_and_its_links_lead_somewhere():
    assert len(README.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_training_defaults_the_readme_states_are_the_parsers():
    from train.cli import build_parser

    m = re.search(r"AdamW, batch (\d+), lr ([0-9.e-]+) \((\d+) warm-up steps, cosine to ([0-9.e-]+)\), flips, fixed "
                  r"Gaussian likelihood σ = ([0-9.]+), β = ([0-9.]+), latent (\d+), (\d+) epochs \(the shipped model\s+"
                  r"trained (\d+)\)", PROSE)
    assert m, "the README's sentence on the training defaults changed: keep this test in step"
    batch, lr, warmup, low, sigma, beta, latent, epochs, shipped_epochs = m.groups()
    d = build_parser().parse_args(["--data-dir", "D", "--out", "O"])
    assert (d.batch_size, d.lr, d.warmup_steps, d.sigma, d.beta, d.latent_dim, d.epochs) == (
        int(batch), float(lr), int(warmup), float(sigma), float(beta), int(latent), int(epochs))
    assert d.likelihood == "fixed" and abs(float(low) - d.lr / 10) < 1e-12  # train.loop.lr_at decays to a tenth
    shipped = load_checkpoint(ROOT / "checkpoints" / "celeba64.pt")
    assert shipped.summary["epochs"] == int(shipped_epochs)
    assert re.search(rf"python -m train --data-dir ~/data/celeba --out runs/celeba64.pt\s+# {d.epochs} epochs", README)


def test_the_shipped_models_figures_are_the_checkpoints():
    vae = load_checkpoint(ROOT / "checkpoints" / "celeba64.pt")
    s = vae.summary
    m = re.search(r"([0-9.]+)M\s+parameters, (\d+) latent dimensions, (\d+)×\d+, trained here on a 2-core CPU on "
                  r"([0-9,]+) CelebA images of ([0-9,]+) people", PROSE)
    assert m, "the README's sentence on the shipped models changed: keep this test in step"
    params, latent, size, images, people = m.groups()
    assert round(s["parameters"] / 1e6, 2) == float(params)
    assert (vae.latent_dim, vae.image_size) == (int(latent), int(size))
    assert sum(f["images"] for f in s["data"]["folders"]) == _number(images)
    assert s["data"]["persons"] == _number(people)
    mse = re.search(r"the default reconstructs at an MSE of \*\*([0-9.]+)\*\*", PROSE).group(1)
    assert f"{epoch_rows(vae.history)[-1]['val_mse']:.5f}" == mse
    assert f"({len(vae.bundle):,} faces)" in PROSE


def test_the_scorecard_table_is_what_the_shipped_checkpoints_carry():
    cards = [load_checkpoint(ROOT / "checkpoints" / f).bundle.scorecard for f in ("celeba64.pt", "celeba64-beta4.pt")]

    def row(label: str) -> list[str]:
        m = re.search(rf"^\| {re.escape(label)} \| ([^|]+) \| ([^|]+) \|$", README, re.M)
        assert m, f"no '{label}' row in the README's scorecard table"
        return [c.strip() for c in m.groups()]

    for label, key, fmt in (("MIG", "MIG", "{:.3f}"), ("SAP", "SAP", "{:.3f}"), ("active units", "active_units", "{}"),
                            ("total correlation (nats, under the fitted density)", "total_correlation", "{:.1f}")):
        assert row(label) == [fmt.format(c[key]) for c in cards], label
    dci = row("DCI disentanglement / completeness / informativeness")
    assert dci == [" / ".join(f"{c[f'DCI_{k}']:.3f}" for k in ("disentanglement", "completeness", "informativeness"))
                   for c in cards]


@pytest.mark.slow
def test_the_test_count_the_readme_states_is_within_a_tenth_of_the_collected():
    m = re.search(r"runs all ([0-9,]+) tests \((\d+) need CUDA", PROSE)
    assert m, "the README's sentence on the test count changed: keep this test in step"
    stated, cuda = int(_number(m.group(1))), int(m.group(2))
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300).stdout
    collected = int(re.search(r"(\d+) tests? collected", out).group(1))
    assert abs(collected - stated) <= stated / 10, f"README says {stated} tests, {collected} are collected"
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "cuda", "-p", "no:cacheprovider"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300).stdout
    assert int(re.search(r"(\d+)(?:/\d+)? tests? collected", out).group(1)) == cuda
