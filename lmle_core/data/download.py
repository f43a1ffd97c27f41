"""Download the datasets into a data root, in their official layouts.

    python -m lmle_core.data.download {celeba,bsds500,mnist,mnist_rot_back_image,all} --root DIR [--force]

For users with internet access only: nothing else in the project downloads.
Each file is fetched into ``<name>.part`` (resumed with an HTTP Range request
when a partial file exists), its checksum verified, then renamed into place;
archives are extracted into a temporary folder that is renamed into place.

Sources and checksums:

* MNIST: the four idx files, torchvision's mirrors and MD5s.
* BSDS500: ``BSR_bsds500.tgz`` from the Berkeley site; no published checksum
  is known, so the extracted tree is verified instead (200 / 100 / 200 jpgs
  with a ``.mat`` each). Extracted ``BSR/BSDS500/data`` -> ``BSDS500/data``.
* MNIST-rot-back-image: ``mnist_rotation_back_image_new.zip`` (the corrected
  2007 release) from the LISA site; SHA-1 as recorded by skdata
  (``skdata/larochelle_etal_2007``). The two .amat files ->
  ``mnist_rotation_back_image/``.
* CelebA: the official Google Drive files with torchvision's IDs and MD5s;
  Google Drive's confirmation page is handled, and when Drive refuses (quota,
  changed page) the official page and the manual steps are printed.
"""

from __future__ import annotations

import argparse
import hashlib
import http.cookiejar
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import CorruptFileError
from .paths import resolve_data_root

__all__ = ["Resource", "RESOURCES", "download_file", "file_checksum", "verify_checksum", "download_dataset", "main"]

USER_AGENT = "lmle_core-data-download/1.0 (+python urllib)"
CELEBA_PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


@dataclass(frozen=True)
class Resource:
    dataset: str
    filename: str
    urls: Tuple[str, ...] = ()
    checksum: Optional[Tuple[str, str]] = None  # (hashlib algorithm, hex digest); None = unknown
    gdrive_id: Optional[str] = None
    target: str = ""  # where the file (or what is extracted from it) goes, relative to the data root
    size: str = ""


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_MNIST = [
    ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
]

RESOURCES: Dict[str, List[Resource]] = {
    "mnist": [
        Resource("mnist", name, tuple(m + name for m in _MNIST_MIRRORS), ("md5", md5), target=f"MNIST/{name}")
        for name, md5 in _MNIST
    ],
    "bsds500": [
        Resource(
            "bsds500",
            "BSR_bsds500.tgz",
            (
                "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz",
                "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz",
            ),
            None,  # no published checksum known: the extracted tree is verified instead
            target="BSDS500/data",
            size="about 70 MB",
        )
    ],
    "mnist_rot_back_image": [
        Resource(
            "mnist_rot_back_image",
            "mnist_rotation_back_image_new.zip",
            ("http://www.iro.umontreal.ca/~lisa/icml2007data/mnist_rotation_back_image_new.zip",),
            ("sha1", "902bb7e96136dd76e9f2924d7fdb9eb832f7bc33"),
            target="mnist_rotation_back_image",
            size="about 115 MB",
        )
    ],
    "celeba": [
        Resource("celeba", "img_align_celeba.zip", (), ("md5", "00d2c5bc6d35e252742224ab0c1e8fcb"),
                 gdrive_id="0B7EVK8r0v71pZjFTYXZWM3FlRnM", target="CelebA/img_align_celeba", size="about 1.4 GB"),
        Resource("celeba", "list_attr_celeba.txt", (), ("md5", "75e246fa4810816ffd6ee81facbd244c"),
                 gdrive_id="0B7EVK8r0v71pblRyaVFSWGxPY0U", target="CelebA/Anno/list_attr_celeba.txt"),
        Resource("celeba", "identity_CelebA.txt", (), ("md5", "32bd1bd63d3c78cd57e08160ec5ed1e2"),
                 gdrive_id="1_ee_0u7vcNLOfNLegJRHmolfH5ICW-XS", target="CelebA/Anno/identity_CelebA.txt"),
        Resource("celeba", "list_eval_partition.txt", (), ("md5", "d32c9cbf5e040fd4025c592c306e6668"),
                 gdrive_id="0B7EVK8r0v71pY0NSMzRuSXJEVkk", target="CelebA/Eval/list_eval_partition.txt"),
    ],
}

CELEBA_MANUAL = f"""CelebA could not be downloaded automatically. Manual steps:
  1. Open the official page {CELEBA_PAGE} and follow "Align&Cropped Images" (Google Drive).
  2. Download Img/img_align_celeba.zip, Anno/list_attr_celeba.txt, Anno/identity_CelebA.txt
     and Eval/list_eval_partition.txt (MD5s in lmle_core/data/download.py).
  3. Lay them out below the data root as
       <root>/CelebA/img_align_celeba/000001.jpg ...   (unzip img_align_celeba.zip into <root>/CelebA/)
       <root>/CelebA/Anno/list_attr_celeba.txt
       <root>/CelebA/Anno/identity_CelebA.txt
       <root>/CelebA/Eval/list_eval_partition.txt"""


# --------------------------------------------------------------------------- files


def file_checksum(path, algorithm: str = "md5", chunk: int = 1 << 20) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksum(path, checksum: Optional[Tuple[str, str]]) -> bool:
    """True when ``checksum`` is None (unknown) or matches the file."""
    if checksum is None:
        return True
    algorithm, expected = checksum
    return file_checksum(path, algorithm) == expected.lower()


def _opener():
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _fetch(url: str, part: Path, opener, progress: bool, timeout: float, chunk: int = 1 << 20) -> None:
    """Fetch ``url`` into ``part``, resuming from its current size when the server honours Range."""
    from tqdm.auto import tqdm

    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # nothing left to fetch: the checksum decides
            return
        raise
    with resp:
        status = getattr(resp, "status", 200)
        if "text/html" in (resp.headers.get("Content-Type") or "") and not url.endswith((".html", ".htm")):
            raise urllib.error.URLError(f"{url} answered with an HTML page instead of the file")
        if start and status == 206:
            mode = "ab"
        else:
            mode, start = "wb", 0  # server ignored the Range header: start over
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        with open(part, mode) as f, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, desc=part.name[:-5], disable=not progress
        ) as bar:
            while True:
                block = resp.read(chunk)
                if not block:
                    break
                f.write(block)
                bar.update(len(block))


def _gdrive_url(file_id: str, opener, timeout: float) -> str:
    """Resolve a Google Drive file id to a direct download URL (the confirmation dance)."""
    url = "https://drive.google.com/uc?" + urllib.parse.urlencode({"id": file_id, "export": "download"})
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with opener.open(req, timeout=timeout) as resp:
        if "text/html" not in (resp.headers.get("Content-Type") or ""):
            return resp.geturl()  # the file itself: no confirmation needed
        page = resp.read(2_000_000).decode("utf-8", "replace")
    if re.search(r"quota exceeded|too many users have viewed or downloaded", page, re.I):
        raise urllib.error.URLError("Google Drive download quota exceeded for this file; try again later")
    form = re.search(r'<form[^>]*id="download-form"[^>]*action="([^"]+)"', page)
    if form:  # drive.usercontent.google.com virus-scan warning page
        fields = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
        return form.group(1).replace("&amp;", "&") + "?" + urllib.parse.urlencode(fields)
    token = re.search(r"confirm=([0-9A-Za-z_-]+)", page)
    if token:  # older page: a link carrying the confirm token (cookies kept by the opener)
        return url + "&confirm=" + token.group(1)
    raise urllib.error.URLError("unrecognized Google Drive page (no download form or confirm token)")


def download_file(
    urls,
    dest,
    checksum: Optional[Tuple[str, str]] = None,
    progress: bool = True,
    force: bool = False,
    gdrive_id: Optional[str] = None,
    timeout: float = 60.0,
) -> Path:
    """Download to ``dest`` via ``dest.part`` (resumable); verify ``checksum``, then rename.

    ``urls`` is one URL or a sequence of mirrors tried in order. An existing
    ``dest`` with a good checksum is kept unless ``force``. A checksum
    mismatch deletes the partial file and raises :class:`CorruptFileError`.
    """
    dest = Path(dest)
    urls = [urls] if isinstance(urls, str) else list(urls)
    if dest.exists() and not force:
        if verify_checksum(dest, checksum):
            return dest
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if force and part.exists():
        part.unlink()
    opener = _opener()
    errors = []
    if gdrive_id:
        try:
            urls = [_gdrive_url(gdrive_id, opener, timeout)] + urls
        except (urllib.error.URLError, OSError) as exc:
            errors.append(f"Google Drive id {gdrive_id}: {exc}")
    for url in urls:
        try:
            _fetch(url, part, opener, progress, timeout)
            break
        except (urllib.error.URLError, OSError) as exc:
            errors.append(f"{url}: {exc}")
    else:
        raise ConnectionError(f"could not download {dest.name}:\n  " + "\n  ".join(errors or ["no URL"]))
    if not verify_checksum(part, checksum):
        actual = file_checksum(part, checksum[0])
        part.unlink()
        raise CorruptFileError(
            dest, f"{checksum[0]} mismatch: expected {checksum[1]}, got {actual} (partial file deleted; run again)"
        )
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------- archives


def _extract(archive: Path, into: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)  # zipfile strips absolute paths and '..'
    else:
        with tarfile.open(archive) as t:
            if hasattr(tarfile, "data_filter"):
                t.extractall(into, filter="data")
            else:  # older Python: refuse members escaping the folder
                root = into.resolve()
                for m in t.getmembers():
                    if not (into / m.name).resolve().is_relative_to(root) or m.issym() or m.islnk():
                        raise CorruptFileError(archive, f"unsafe member {m.name!r}")
                t.extractall(into)


def _place(src: Path, dst: Path, force: bool) -> None:
    """Move ``src`` to ``dst`` (replacing it when ``force``)."""
    if dst.exists():
        if not force:
            raise FileExistsError(f"{dst} exists but the dataset is incomplete; rerun with --force to replace it")
        shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def _find(tree: Path, relative: str) -> Path:
    hits = [p for p in tree.rglob(Path(relative).name) if p.as_posix().endswith(relative)]
    if not hits:
        raise CorruptFileError(tree, f"archive does not contain {relative}")
    return hits[0]


def _verify_bsds(data_dir: Path) -> None:
    for split, n in (("train", 200), ("val", 100), ("test", 200)):
        jpgs = list((data_dir / "images" / split).glob("*.jpg"))
        mats = list((data_dir / "groundTruth" / split).glob("*.mat"))
        if len(jpgs) != n or len(mats) != n:
            raise CorruptFileError(data_dir, f"{split}: expected {n} jpgs and {n} .mat, found {len(jpgs)} / {len(mats)}")


def download_dataset(name: str, root, force: bool = False, progress: bool = True, keep_archives: bool = False) -> None:
    """Download and lay out one dataset below ``root``."""
    from .availability import check_dataset

    root = Path(root)
    if not force and check_dataset(name, root).available:
        print(f"{name}: already present in {root}; nothing to do (--force to fetch again)")
        return
    root.mkdir(parents=True, exist_ok=True)
    downloads = root / ".downloads"
    for res in RESOURCES[name]:
        is_archive = res.filename.endswith((".zip", ".tgz", ".tar.gz"))
        dest = downloads / res.filename if is_archive else root / res.target
        print(f"{name}: {res.filename} {res.size}".rstrip())
        download_file(res.urls, dest, res.checksum, progress=progress, force=force, gdrive_id=res.gdrive_id)
        if not is_archive:
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f".extract-{name}-", dir=root))
        try:
            _extract(dest, tmp)
            if name == "bsds500":
                data = _find(tmp, "BSDS500/data")
                _verify_bsds(data)
                _place(data, root / res.target, force)
            elif name == "mnist_rot_back_image":
                from .mnist_rot_back import AMAT_FILES

                for fname in AMAT_FILES.values():
                    _place(_find(tmp, fname), root / res.target / fname, force)
            elif name == "celeba":
                folder = _find(tmp, "img_align_celeba")
                if not any(folder.glob("*.jpg")):
                    raise CorruptFileError(dest, "img_align_celeba holds no jpg")
                _place(folder, root / res.target, force)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if not keep_archives:
            dest.unlink()
    if downloads.is_dir() and not any(downloads.iterdir()):
        downloads.rmdir()
    status = check_dataset(name, root)
    print(f"{name}: {'ok' if status.available else 'INCOMPLETE'} - {status.message.splitlines()[0]}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .availability import DATASET_NAMES

    ap = argparse.ArgumentParser(prog="python -m lmle_core.data.download", description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", choices=list(DATASET_NAMES) + ["all"])
    ap.add_argument("--root", default=None, help="data root (default: $LMLE_DATA_ROOT, else ./data)")
    ap.add_argument("--force", action="store_true", help="download again and replace what is there")
    ap.add_argument("--keep-archives", action="store_true", help="keep the downloaded archives in <root>/.downloads")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    root = resolve_data_root(args.root)
    names = list(DATASET_NAMES) if args.dataset == "all" else [args.dataset]
    failed = []
    for name in names:
        try:
            download_dataset(name, root, args.force, not args.no_progress, args.keep_archives)
        except (ConnectionError, CorruptFileError, OSError) as exc:
            failed.append(name)
            print(f"{name}: FAILED: {exc}", file=sys.stderr)
            if name == "celeba":
                print(CELEBA_MANUAL.replace("<root>", str(root)), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
