"""Which checkpoints the app offers, from its command line: the one place that lists them (the page, the
server's warm-up and Compare all ask here). No Streamlit.

    streamlit run app.py [-- --checkpoint PATH] [--checkpoint-dir DIR ...] [--data-dir DIR [--data-dir DIR2 ...]]

Only files in checkpoints/ and in the folders given with --checkpoint-dir (after resolving links), and the one
named on the command line, can be opened: the browser chooses among those by id and never passes a path.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from explorer import urlstate

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_DIR = ROOT / "checkpoints"
DEFAULT_CHECKPOINT = "celeba64.pt"
CLI = ""  # the id of the checkpoint given on the command line (the URL never names it)



@dataclass(frozen=True)
class Args:
    checkpoint: Path | None = None
    checkpoint_dirs: tuple[Path, ...] = ()  # folders of runs whose checkpoints the picker adds
    data_dirs: tuple[Path, ...] = ()  # united by image id, as python -m train does
    error: str | None = None


def parse_args(argv: list[str]) -> Args:
    p = argparse.ArgumentParser(prog="streamlit run app.py --", add_help=False, exit_on_error=False)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--checkpoint-dir", action="append", default=[])
    p.add_argument("--data-dir", action="append", default=[])
    try:
        a, unknown = p.parse_known_args(argv)
    except (argparse.ArgumentError, SystemExit) as e:
        return Args(error=f"command line: {e}")
    return Args(checkpoint=Path(a.checkpoint).expanduser() if a.checkpoint else None,
                checkpoint_dirs=tuple(Path(d).expanduser() for d in a.checkpoint_dir),
                data_dirs=tuple(Path(d).expanduser() for d in a.data_dir),
                error=f"unknown command-line arguments ignored: {' '.join(unknown)}" if unknown else None)


def checkpoint_choices(cli: Path | None, dirs: tuple[Path, ...] = ()) -> dict[str, Path]:
    """id -> path: the command-line checkpoint (id ""), every *.pt directly in checkpoints/ (id: its
    name), then every *.pt directly in a --checkpoint-dir folder or in one of its subfolders (a run's
    own folder), with id "FOLDER/NAME" or "FOLDER/RUN/NAME" (a later folder of the same name gets
    "FOLDER~2"). A file whose resolved path leaves its folder (a link pointing elsewhere) is not offered."""
    out: dict[str, Path] = {}
    if cli is not None:
        out[CLI] = cli
    out.update(_folder_choices(CHECKPOINT_DIR, "", depth=0))
    prefixes: set[str] = set()
    for d in dirs:
        prefix, n = d.resolve().name or "root", 1
        while prefix in prefixes or prefix in out:
            n += 1
            prefix = f"{d.resolve().name or 'root'}~{n}"
        prefixes.add(prefix)
        out.update(_folder_choices(d, prefix + "/", depth=1))
    return out


def _folder_choices(folder: Path, prefix: str, depth: int) -> dict[str, Path]:
    """*.pt in ``folder`` (and ``depth`` levels of subfolders) that resolve inside it, by prefixed relative
    name; every part of a name is a plain file name (urlstate.CHECKPOINT_ID), so no id reads as a path."""
    if not folder.is_dir():
        return {}
    root = folder.resolve()
    found = sorted(folder.glob("*.pt")) + (sorted(folder.glob("*/*.pt")) if depth else [])
    out = {}
    for p in found:
        r = p.resolve()
        ident = prefix + p.relative_to(folder).as_posix()
        if r.is_file() and r.is_relative_to(root) and urlstate.CHECKPOINT_ID.match(ident):
            out[ident] = r
    return out


def default_choice(choices: dict[str, Path]) -> str | None:
    if CLI in choices:
        return CLI
    if DEFAULT_CHECKPOINT in choices:
        return DEFAULT_CHECKPOINT
    return next(iter(choices), None)


def offered(argv: list[str] | None = None) -> tuple[Args, dict[str, Path]]:
    """The app's command line (``sys.argv[1:]`` by default) and the checkpoints it offers, id -> path. The
    folders are listed on every call (a few stat calls), so a run that lands in one while the server is up
    appears at the next rerun."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return args, checkpoint_choices(args.checkpoint, args.checkpoint_dirs)
