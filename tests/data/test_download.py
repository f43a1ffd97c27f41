"""The pure parts of the downloader, against a local HTTP server on 127.0.0.1 only."""

import hashlib
import http.server
import io
import threading
import zipfile
from urllib.parse import urlparse

import pytest

from lmle_core.data import CorruptFileError, check_dataset
from lmle_core.data import download as dl

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    honour_range = True
    requests: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = self.files.get(self.path)
        type(self).requests.append((self.path, self.headers.get("Range")))
        if body is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        if rng and self.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.end_headers()
                return
            part = body[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            part = body
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        self.wfile.write(part)


@pytest.fixture
def server():
    handler = type("H", (_Handler,), {"files": {}, "honour_range": True, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    handler.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield handler
    httpd.shutdown()
    httpd.server_close()


def test_checksum_helpers(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(PAYLOAD)
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    assert dl.file_checksum(p, "md5") == md5
    assert dl.verify_checksum(p, ("md5", md5))
    assert dl.verify_checksum(p, ("md5", md5.upper()))
    assert not dl.verify_checksum(p, ("md5", "0" * 32))
    assert dl.verify_checksum(p, None)  # unknown checksum: nothing to verify


def test_fresh_download_and_skip(tmp_path, server):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "out" / "f.bin"
    dl.download_file(server.base + "/f.bin", dest, ("md5", hashlib.md5(PAYLOAD).hexdigest()), progress=False)
    assert dest.read_bytes() == PAYLOAD and not dest.with_name("f.bin.part").exists()
    n = len(server.requests)
    dl.download_file(server.base + "/f.bin", dest, ("md5", hashlib.md5(PAYLOAD).hexdigest()), progress=False)
    assert len(server.requests) == n  # already there and verified: no request


def test_resume_with_range(tmp_path, server):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(PAYLOAD[:30000])
    dl.download_file(server.base + "/f.bin", dest, ("sha1", hashlib.sha1(PAYLOAD).hexdigest()), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/f.bin", "bytes=30000-")


def test_server_ignoring_range_restarts(tmp_path, server):
    server.files["/f.bin"] = PAYLOAD
    server.honour_range = False
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(b"junk" * 100)
    dl.download_file(server.base + "/f.bin", dest, ("md5", hashlib.md5(PAYLOAD).hexdigest()), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_416(tmp_path, server):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(PAYLOAD)
    dl.download_file(server.base + "/f.bin", dest, ("md5", hashlib.md5(PAYLOAD).hexdigest()), progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_keeps_nothing(tmp_path, server):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    with pytest.raises(CorruptFileError, match="md5 mismatch"):
        dl.download_file(server.base + "/f.bin", dest, ("md5", "0" * 32), progress=False)
    assert not dest.exists() and not dest.with_name("f.bin.part").exists()


def test_mirror_fallback(tmp_path, server):
    server.files["/b/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    dl.download_file([server.base + "/a/f.bin", server.base + "/b/f.bin"], dest, None, progress=False)
    assert dest.read_bytes() == PAYLOAD
    with pytest.raises(ConnectionError, match="could not download"):
        dl.download_file([server.base + "/nothing"], tmp_path / "g.bin", None, progress=False)


def test_resource_table_well_formed():
    from lmle_core.data import DATASET_NAMES

    assert set(dl.RESOURCES) == set(DATASET_NAMES)
    hex_len = {"md5": 32, "sha1": 40, "sha256": 64}
    for name, resources in dl.RESOURCES.items():
        assert resources
        for r in resources:
            assert r.dataset == name and r.filename and r.target
            assert r.urls or r.gdrive_id
            for u in r.urls:
                p = urlparse(u)
                assert p.scheme in ("http", "https") and p.netloc and p.path.endswith(r.filename)
            if r.checksum is not None:
                algo, digest = r.checksum
                assert len(digest) == hex_len[algo] and int(digest, 16) >= 0
    assert dl.RESOURCES["bsds500"][0].checksum is None  # documented as unknown
    assert {r.filename for r in dl.RESOURCES["mnist"]} == {
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
    }


def test_dataset_pipeline_with_local_archive(tmp_path, server, monkeypatch):
    """download_dataset: archive -> temp extraction -> official layout (rot-back zip served locally)."""
    from lmle_core.data.mnist_rot_back import AMAT_FILES

    row = " ".join(["0"] * 784) + " 1\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in AMAT_FILES.values():
            z.writestr(f, row * 2)
    blob = buf.getvalue()
    server.files["/rb.zip"] = blob
    res = dl.Resource("mnist_rot_back_image", "mnist_rotation_back_image_new.zip", (server.base + "/rb.zip",),
                      ("sha1", hashlib.sha1(blob).hexdigest()), target="mnist_rotation_back_image")
    monkeypatch.setitem(dl.RESOURCES, "mnist_rot_back_image", [res])
    root = tmp_path / "root"
    dl.download_dataset("mnist_rot_back_image", root, progress=False)
    assert check_dataset("mnist_rot_back_image", root).available
    assert not (root / ".downloads").exists()
    assert [p.name for p in root.iterdir()] == ["mnist_rotation_back_image"]  # no temp folder left


def test_cli_rejects_unknown_name(capsys):
    with pytest.raises(SystemExit):
        dl.main(["cifar100", "--root", "x"])
