"""Download and archive handling, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_imagefolder_archive, make_pickle_archive, raw_params

from bnpipe.data.prepare import load_prepared, prepare_cifar10
from bnpipe.data.sources import DataError, download, read_archive, take_local
from bnpipe.params import load_params


class Server:
    """Serves files from a folder; /stall/<name> sends headers then hangs; /short/<name>
    promises the full length but sends half."""

    def __init__(self, root: Path):
        root_ = root

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=str(root_), **k)

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.startswith(("/stall/", "/short/")):
                    body = (root_ / self.path.split("/", 2)[2]).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.path.startswith("/short/"):
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        self.connection.close()
                    else:
                        time.sleep(3)
                    return
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    arrays = make_pickle_archive(root / "cifar-10-python.tar.gz")
    md5 = hashlib.md5((root / "cifar-10-python.tar.gz").read_bytes()).hexdigest()
    server = Server(root)
    yield server, md5, arrays
    server.close()


def _only(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir()) if path.parent.exists() else []


def test_download_verifies_md5_and_records_origin(served, tmp_path):
    server, md5, _ = served
    dest = tmp_path / "raw" / "cifar10.tar.gz"
    meta = download(f"{server.url}/cifar-10-python.tar.gz", dest, md5, progress=False)
    assert meta["md5"] == md5 and meta["format"] == "pickle"
    assert meta["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert meta["known_as"] == "official CIFAR-10 python archive"
    assert _only(dest) == ["cifar10.tar.gz", "cifar10.tar.gz.json"]


@pytest.mark.parametrize(
    ("path", "md5", "message"),
    [
        ("/cifar-10-python.tar.gz", "0" * 32, "does not match"),
        ("/missing.tar.gz", None, "404"),
        ("/short/cifar-10-python.tar.gz", None, "truncated"),
        ("/stall/cifar-10-python.tar.gz", None, "timed out"),
    ],
)
def test_download_failures_leave_no_file(served, tmp_path, path, md5, message):
    server, good_md5, _ = served
    dest = tmp_path / "raw" / "cifar10.tar.gz"
    with pytest.raises(DataError, match=message):
        download(server.url + path, dest, md5 or good_md5, timeout=1.0, progress=False)
    assert _only(dest) == []


def test_pickle_archive_pixels_and_labels_round_trip(tmp_path):
    arrays = make_pickle_archive(tmp_path / "a.tar.gz", n_per_class=2)
    fmt, splits = read_archive(tmp_path / "a.tar.gz", {"train": 0, "test": 0})
    assert fmt == "pickle"
    np.testing.assert_array_equal(splits["train"].images, arrays["x_train"])
    np.testing.assert_array_equal(splits["train"].labels, arrays["y_train"])
    np.testing.assert_array_equal(splits["test"].images, arrays["x_test"])


def test_imagefolder_archive_and_per_class_subset(tmp_path):
    arrays = make_imagefolder_archive(tmp_path / "a.tar.gz", n_per_class=3)
    fmt, splits = read_archive(tmp_path / "a.tar.gz", {"train": 2, "test": 0})
    assert fmt == "imagefolder"
    assert np.bincount(splits["train"].labels).tolist() == [2] * 10
    assert len(splits["test"].labels) == 30
    # PNG is lossless: the first two images of class 0 come back exactly
    np.testing.assert_array_equal(splits["train"].images[:2], arrays["x_train"][:2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": ("airplane", "bird")}, "have no images"),
        ({"size": (28, 28)}, "not 32x32"),
    ],
)
def test_bad_imagefolder_archives_are_refused(tmp_path, kwargs, message):
    make_imagefolder_archive(tmp_path / "a.tar.gz", **kwargs)
    with pytest.raises(DataError, match=message):
        read_archive(tmp_path / "a.tar.gz", {"train": 0, "test": 0})


def test_truncated_or_foreign_archives_are_refused(tmp_path):
    make_pickle_archive(tmp_path / "a.tar.gz")
    blob = (tmp_path / "a.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="not a readable tar archive"):
        take_local(tmp_path / "cut.tar.gz", tmp_path / "raw" / "x.tar.gz", "0" * 32)
    (tmp_path / "text.tar.gz").write_text("hello")
    with pytest.raises(DataError, match="not a readable tar archive"):
        read_archive(tmp_path / "text.tar.gz", {})
    assert not (tmp_path / "raw").exists()  # refused before anything was written


def test_local_pickle_archive_must_match_md5(tmp_path):
    make_pickle_archive(tmp_path / "a.tar.gz")
    dest = tmp_path / "raw" / "x.tar.gz"
    with pytest.raises(DataError, match="does not match the official"):
        take_local(tmp_path / "a.tar.gz", dest, "0" * 32)
    assert not dest.exists()
    md5 = hashlib.md5((tmp_path / "a.tar.gz").read_bytes()).hexdigest()
    assert take_local(tmp_path / "a.tar.gz", dest, md5)["format"] == "pickle"


def test_prepare_writes_arrays_with_a_stable_content_checksum(tmp_path):
    make_imagefolder_archive(tmp_path / "a.tar.gz", n_per_class=3)
    data = load_params(raw_params("paper")).data  # all images
    m1 = prepare_cifar10(tmp_path / "a.tar.gz", tmp_path / "p1.npz", data)
    m2 = prepare_cifar10(tmp_path / "a.tar.gz", tmp_path / "p2.npz", data)
    assert m1["checksum"] == m2["checksum"]
    arrays, meta = load_prepared(tmp_path / "p1.npz")
    assert arrays["x_train"].dtype == np.uint8 and arrays["x_train"].shape == (30, 32, 32, 3)
    assert meta["n_train"] == 30 and meta["n_test"] == 30


def test_prepare_refuses_tampered_arrays(tmp_path):
    make_imagefolder_archive(tmp_path / "a.tar.gz", n_per_class=3)
    prepare_cifar10(
        tmp_path / "a.tar.gz", tmp_path / "p.npz", load_params(raw_params("paper")).data
    )
    arrays, _ = load_prepared(tmp_path / "p.npz")
    arrays["y_train"][0] = (arrays["y_train"][0] + 1) % 10
    np.savez(tmp_path / "p.npz", **arrays)
    with pytest.raises(RuntimeError, match="does not match the checksum"):
        load_prepared(tmp_path / "p.npz")


def test_committed_sample_is_balanced_and_known():
    from conftest import ROOT

    sample = ROOT / "data" / "sample" / "cifar10-sample.tar.gz"
    assert sample.stat().st_size < 4_000_000
    _, splits = read_archive(sample, {"train": 0, "test": 0})
    assert np.bincount(splits["train"].labels).tolist() == [500] * 10
    assert np.bincount(splits["test"].labels).tolist() == [100] * 10


def test_data_prepared_for_other_params_is_refused(tmp_path):
    make_imagefolder_archive(tmp_path / "a.tar.gz", n_per_class=3)
    paper, smoke = load_params(raw_params("paper")).data, load_params(raw_params("smoke")).data
    prepare_cifar10(tmp_path / "a.tar.gz", tmp_path / "p.npz", paper)
    load_prepared(tmp_path / "p.npz", paper)  # the params it was made with: fine
    with pytest.raises(RuntimeError, match="prepared with other `data` params"):
        load_prepared(tmp_path / "p.npz", smoke)
