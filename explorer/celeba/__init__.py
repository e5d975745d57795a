"""Find and index a CelebA download in whichever shape the user has it.

Accepted layouts, detected from the folder the user passes (``data_dir``):

* ``official``    ``DIR/img_align_celeba/*.jpg`` with ``DIR/list_attr_celeba.txt`` and
                  ``DIR/list_eval_partition.txt``. The Google Drive tree (``DIR/Img/img_align_celeba``,
                  ``DIR/Anno/…``, ``DIR/Eval/…``) is the official release too and is reported as such.
* ``torchvision`` ``DIR/celeba/<official layout>``: what ``torchvision.datasets.CelebA(root=DIR)`` keeps.
* ``kaggle``      ``DIR/img_align_celeba/img_align_celeba/*.jpg`` with ``DIR/list_attr_celeba.csv``
                  and ``DIR/list_eval_partition.csv``.
* ``zip``         ``DIR/img_align_celeba.zip`` (also under ``DIR/Img`` or ``DIR/celeba``), read in place.

Annotation files may be ``.txt`` (official, whitespace separated, CRLF or LF) or ``.csv`` (Kaggle) in
any of the layouts. Images are never decoded here; that is the cache builder's job, which also
counts unreadable files (and reports them with :class:`UnreadableImage`).

The annotation parsers work on the whole file as one numpy byte array, because the full attribute
file has 8 million values and a Python loop over them takes seconds.
"""

from explorer.celeba.annotations import ATTRIBUTE_NAMES, PARTITION_NAMES, CelebAError, parse_attributes, \
    parse_partition
from explorer.celeba.index import CelebAIndex, UnreadableImage, open_celeba
from explorer.celeba.layout import LAYOUTS

__all__ = [
    "ATTRIBUTE_NAMES",
    "CelebAError",
    "CelebAIndex",
    "LAYOUTS",
    "PARTITION_NAMES",
    "UnreadableImage",
    "open_celeba",
    "parse_attributes",
    "parse_partition",
]

