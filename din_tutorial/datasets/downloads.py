"""Download public datasets once, check them against known checksums, and cache them.

The work is done by `pooch <https://www.fatiando.org/pooch>`_ (the downloader SciPy and
scikit-image use): a file is streamed to a temporary name next to its destination and moved
into place only when its hash matches, so a failed or corrupted download never leaves a
half-written file behind, and a file already in the cache with the right hash is not fetched
again.

Checksums in :data:`REGISTRY` were taken from public code that pins the same files (they are
never computed here from a guess); where no trustworthy value was found the entry says
``None``: the file is not verified, and pooch logs its SHA256 after the download so that you
can pin it yourself.

* ``ml-1m``, ``ml-100k``: SHA256 from TensorFlow Datasets' ``url_checksums/movielens.txt``
  (the same values are pinned by many other projects).
* ``amazon-electronics``: the reviews file is pinned by MD5 (PaddlePaddle's Amazon dataset
  module pins ``e4524af6...``, and independent download scripts agree); no SHA256 was found.
  The metadata file is NOT pinned: a single public project lists an MD5 for it, which is
  not enough to trust.
* ``rechub-amazon-electronics``: torch-rechub's small sample CSV, read from its GitHub
  repository's ``main`` branch; NOT pinned (the branch can change).

Taught in notebooks/01_data_preparation.ipynb (optional section "Real data").
"""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

#: Environment variable that overrides every dataset's base URL (a mirror, or a test server).
BASE_URL_ENV = "DIN_TUTORIAL_BASE_URL"
#: Environment variable that sets the download cache (default: pooch's per-OS cache folder).
DATA_DIR_ENV = "DIN_TUTORIAL_DATA_DIR"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: where it lives and how it is checked."""

    name: str
    url: str
    #: ``"sha256:<hex>"`` or ``"md5:<hex>"``; ``None`` means not pinned.
    known_hash: str | None
    #: A zip archive to extract next to itself.
    unzip: bool = False


@dataclass(frozen=True)
class RemoteDataset:
    """A downloadable dataset: its files, the folder that holds them after extraction, its loader."""

    name: str
    files: tuple[RemoteFile, ...]
    #: folder (inside the dataset's cache folder) holding the data files after extraction
    data_folder: str
    #: the ``format`` of :func:`din_tutorial.datasets.load_dataset` that reads it
    format: str
    source: str


_GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
_SNAP = "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles/"
_RECHUB = "https://raw.githubusercontent.com/datawhalechina/torch-rechub/main/examples/ranking/data/amazon-electronics/"

REGISTRY: dict[str, RemoteDataset] = {
    "ml-1m": RemoteDataset(
        "ml-1m",
        (
            RemoteFile(
                "ml-1m.zip",
                _GROUPLENS + "ml-1m.zip",
                "sha256:a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                unzip=True,
            ),
        ),
        data_folder="ml-1m",
        format="ml-1m",
        source="GroupLens, https://grouplens.org/datasets/movielens/1m/ (5.9 MB)",
    ),
    "ml-100k": RemoteDataset(
        "ml-100k",
        (
            RemoteFile(
                "ml-100k.zip",
                _GROUPLENS + "ml-100k.zip",
                "sha256:50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
                unzip=True,
            ),
        ),
        data_folder="ml-100k",
        format="ml-100k",
        source="GroupLens, https://grouplens.org/datasets/movielens/100k/ (4.9 MB)",
    ),
    "amazon-electronics": RemoteDataset(
        "amazon-electronics",
        (
            RemoteFile(
                "reviews_Electronics_5.json.gz",
                _SNAP + "reviews_Electronics_5.json.gz",
                "md5:e4524af6c644cd044b1969bac7b62b2a",
            ),
            RemoteFile("meta_Electronics.json.gz", _SNAP + "meta_Electronics.json.gz", None),
        ),
        data_folder=".",
        format="amazon",
        source="McAuley et al. 2014, http://jmcauley.ucsd.edu/data/amazon/ (496 MB + 187 MB)",
    ),
    "rechub-amazon-electronics": RemoteDataset(
        "rechub-amazon-electronics",
        (RemoteFile("amazon_electronics_sample.csv", _RECHUB + "amazon_electronics_sample.csv", None),),
        data_folder=".",
        format="rechub_csv",
        source="torch-rechub's sample of Amazon Electronics (a few kB)",
    ),
}


class ChecksumError(ValueError):
    """A downloaded file's hash differs from the registry's; nothing was saved."""


def default_data_dir() -> Path:
    """Where downloads are cached: ``$DIN_TUTORIAL_DATA_DIR``, else pooch's per-OS cache folder."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("din-tutorial"))


def download(
    name: str,
    dest: str | Path | None = None,
    *,
    base_url: str | None = None,
    check_hash: bool = True,
    progress: bool = True,
) -> Path:
    """Download dataset ``name`` (a key of :data:`REGISTRY`) once and return the folder with its files.

    Parameters
    ----------
    name: ``"ml-1m"``, ``"ml-100k"``, ``"amazon-electronics"`` or ``"rechub-amazon-electronics"``.
    dest: cache folder (default :func:`default_data_dir`); the dataset goes to ``dest/name/``.
    base_url: fetch the files from ``base_url/<file name>`` instead of the registry's URLs
        (a mirror, or a local test server); ``$DIN_TUTORIAL_BASE_URL`` does the same.
    check_hash: set False to accept a file whose hash no longer matches the registry (for
        example after the publisher re-packed it); the file is then not verified at all.
    progress: show a progress bar (tqdm) while downloading.

    A file already in the cache whose hash matches is not downloaded again; an unpinned file
    already in the cache is reused as it is. Zip archives are extracted next to themselves
    (into a temporary folder first, then renamed, so an interrupted extraction leaves nothing).
    A hash mismatch raises :class:`ChecksumError` and leaves no file behind.

    Pass the returned folder to :func:`din_tutorial.datasets.load_dataset`, or let
    ``load_dataset(name)`` call this for you. Taught in notebooks/01_data_preparation.ipynb.
    """
    import pooch
    import requests

    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {sorted(REGISTRY)}")
    dataset = REGISTRY[name]
    folder = Path(dest).expanduser() if dest is not None else default_data_dir()
    folder = folder / name
    base = base_url or os.environ.get(BASE_URL_ENV)

    for remote in dataset.files:
        url = base.rstrip("/") + "/" + remote.name if base else remote.url
        known = remote.known_hash if check_hash else None
        target = folder / remote.name
        existed = target.exists()
        try:
            path = pooch.retrieve(url, known_hash=known, fname=remote.name, path=folder, progressbar=progress)
        except ValueError as err:
            if "hash" not in str(err).lower():
                raise
            raise ChecksumError(
                f"{remote.name} downloaded from {url} does not match the registry's checksum {remote.known_hash}; "
                f"the file was discarded and nothing was saved. Retry (the transfer may have been corrupted); if it "
                f"fails again the publisher has changed the file: check it, then call download({name!r}, "
                f"check_hash=False). (pooch: {err})"
            ) from None
        except requests.exceptions.RequestException as err:
            raise ConnectionError(
                f"could not download {remote.name} from {url}: {err}. Check the connection, or point base_url "
                f"(or ${BASE_URL_ENV}) at a mirror that serves {remote.name}."
            ) from err
        if remote.unzip and (not existed or not (folder / dataset.data_folder).is_dir()):
            _extract(Path(path), folder)
    return folder / dataset.data_folder


def _extract(archive: Path, folder: Path) -> None:
    # extract into a temporary sibling, then move each top-level entry into place: a crash
    # half-way leaves the previous state (or nothing), never a half-filled data folder
    with tempfile.TemporaryDirectory(dir=folder, prefix=".extract-") as tmp:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)  # ZipFile strips absolute paths and '..' from member names
        for entry in Path(tmp).iterdir():
            final = folder / entry.name
            if final.is_dir():
                shutil.rmtree(final)
            elif final.exists():
                final.unlink()
            os.replace(entry, final)
