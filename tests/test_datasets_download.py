"""download(): checksums, cache, extraction, URL override, against a server on 127.0.0.1 (never the internet)."""
from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from functools import partial

import pytest

from din_tutorial.datasets import ChecksumError, download, load_dataset
from din_tutorial.datasets import downloads as download_mod
from din_tutorial.datasets.downloads import RemoteDataset, RemoteFile

ML100K_FILES = {
    "u.data": "196\t242\t3\t881250949\n186\t242\t5\t891717742\n",
    "u.user": "186|39|F|executive|00000\n196|49|M|writer|55105\n",
    "u.item": "242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/x|" + "|".join(["0"] * 5 + ["1"] + ["0"] * 13) + "\n",
}


def _zip_bytes(folder: str, files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"{folder}/{name}", text.encode("latin-1"))
    return buf.getvalue()


class _Server:
    """A static file server on a free port of 127.0.0.1 that counts the requests per path."""

    def __init__(self, root):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    with _Server(root) as server:
        server.root = root
        yield server


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(download_mod.BASE_URL_ENV, raising=False)
    monkeypatch.delenv(download_mod.DATA_DIR_ENV, raising=False)


def _toy_registry(monkeypatch, url, payload: bytes, pinned: str | None):
    entry = RemoteDataset(
        "toy", (RemoteFile("toy.zip", url + "/toy.zip", pinned, unzip=True),), data_folder="ml-100k",
        format="ml-100k", source="test",
    )  # fmt: skip
    monkeypatch.setitem(download_mod.REGISTRY, "toy", entry)


def test_download_verifies_extracts_and_caches(served, tmp_path, monkeypatch):
    payload = _zip_bytes("ml-100k", ML100K_FILES)
    (served.root / "toy.zip").write_bytes(payload)
    _toy_registry(monkeypatch, served.url, payload, "sha256:" + hashlib.sha256(payload).hexdigest())
    dest = tmp_path / "cache"

    folder = download("toy", dest, progress=False)
    assert folder == dest / "toy" / "ml-100k"
    assert sorted(p.name for p in folder.iterdir()) == sorted(ML100K_FILES)
    assert served.requests == ["/toy.zip"]
    assert load_dataset(folder)["user_id"].nunique() == 2

    # cache hit: the file's hash matches, nothing is requested again
    assert download("toy", dest, progress=False) == folder
    assert served.requests == ["/toy.zip"]

    # the extracted folder was deleted: it is rebuilt from the cached archive, still no request
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    assert download("toy", dest, progress=False) == folder
    assert (folder / "u.data").is_file()
    assert served.requests == ["/toy.zip"]


def test_checksum_mismatch_raises_and_leaves_nothing(served, tmp_path, monkeypatch):
    payload = _zip_bytes("ml-100k", ML100K_FILES)
    (served.root / "toy.zip").write_bytes(payload)
    _toy_registry(monkeypatch, served.url, payload, "sha256:" + "0" * 64)
    dest = tmp_path / "cache"
    with pytest.raises(ChecksumError, match=r"toy\.zip.*does not match"):
        download("toy", dest, progress=False)
    leftovers = [p for p in dest.rglob("*") if p.is_file()]
    assert leftovers == []


def test_real_registry_entry_through_base_url(served, tmp_path, monkeypatch):
    # the fixture is not GroupLens's archive, so the pinned sha256 must reject it ...
    (served.root / "ml-100k.zip").write_bytes(_zip_bytes("ml-100k", ML100K_FILES))
    dest = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="ml-100k.zip"):
        download("ml-100k", dest, base_url=served.url, progress=False)
    assert not (dest / "ml-100k" / "ml-100k.zip").exists()
    # ... unless the check is switched off on purpose; the env var overrides the URL too
    monkeypatch.setenv(download_mod.BASE_URL_ENV, served.url)
    frame = load_dataset("ml-100k", dest=dest, check_hash=False, progress=False)
    assert len(frame) == 2 and frame["cate_id"].tolist() == [5, 5]  # Comedy


def test_unpinned_file_is_reused_without_a_second_request(served, tmp_path, monkeypatch):
    (served.root / "amazon_electronics_sample.csv").write_text("user_id,item_id,time,cate_id\n0,1,100,2\n0,0,90,3\n")
    monkeypatch.setenv(download_mod.DATA_DIR_ENV, str(tmp_path / "env-cache"))
    frame = load_dataset("rechub-amazon-electronics", base_url=served.url, progress=False)
    assert frame["item_id"].tolist() == [0, 1]
    assert (tmp_path / "env-cache" / "rechub-amazon-electronics" / "amazon_electronics_sample.csv").is_file()
    load_dataset("rechub-amazon-electronics", base_url=served.url, progress=False)
    assert served.requests == ["/amazon_electronics_sample.csv"]


def test_missing_file_on_the_server_is_a_clear_error(served, tmp_path):
    with pytest.raises(ConnectionError, match="reviews_Electronics_5.json.gz"):
        download("amazon-electronics", tmp_path, base_url=served.url, progress=False)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(KeyError, match="ml-1m"):
        download("ml-25m")


def test_registry_pins_what_it_can():
    reg = download_mod.REGISTRY
    assert reg["ml-1m"].files[0].known_hash.startswith("sha256:")
    assert reg["ml-100k"].files[0].known_hash.startswith("sha256:")
    assert reg["amazon-electronics"].files[0].known_hash == "md5:e4524af6c644cd044b1969bac7b62b2a"
    assert reg["amazon-electronics"].files[1].known_hash is None  # no trustworthy checksum found
