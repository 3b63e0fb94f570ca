"""Bring a model file (local path or http/https URL) into a hidden temporary file, checked.

The temporary file lives in the destination folder so that accepting it is one atomic rename;
every failure (network drop, short read, wrong checksum, Ctrl-C) deletes it before raising.
"""
from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import BinaryIO

from app.errors import in_words

Progress = Callable[[int, "int | None"], None]  # (bytes so far, total or None when unknown)

CHUNK = 64 * 1024
MAX_MODEL_BYTES = 256 * 1024 * 1024  # a Pi Zero has 512 MB of RAM: nothing bigger can run
TIMEOUT_S = 30.0  # per socket operation: a stalled server fails instead of hanging forever
PARTIAL_SUFFIX = ".partial"


class FetchError(Exception):
    """The source could not be read, or what arrived is not what was promised."""


@dataclass(frozen=True)
class Fetched:
    path: Path  # hidden temporary file in the destination folder; the caller renames or deletes
    sha256: str
    size: int


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to another http(s) URL: never to file://, ftp:// or others."""

    def http_error_302(self, req, fp, code, msg, headers):
        target = urllib.parse.urljoin(req.full_url, headers.get("location")
                                      or headers.get("uri") or "")
        if not is_url(target):
            raise FetchError(f"{req.full_url}: redirected to {target.split(':', 1)[0]}:, "
                             "refused: only http:// and https:// are followed")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def fetch(source: str, directory: Path, *, sha256: str | None = None, size: int | None = None,
          progress: Progress | None = None) -> Fetched:
    """Copy or download `source` into `directory`, verifying size and sha256 when given."""
    if "://" in source and not is_url(source):
        raise FetchError(f"{source}: only http:// and https:// URLs or local files")
    limit = size if size is not None else MAX_MODEL_BYTES
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".incoming-", suffix=PARTIAL_SUFFIX)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            if is_url(source):
                digest, received = _download(source, out, limit, progress)
            else:
                digest, received = _copy(Path(source), out, limit, progress)
            out.flush()
            os.fsync(out.fileno())
        if size is not None and received != size:
            raise FetchError(f"{source}: got {received} bytes, expected {size}")
        if sha256 is not None and digest != sha256.lower():
            raise FetchError(f"{source}: sha256 mismatch: got {digest}, expected {sha256.lower()}"
                             " (the file is damaged or not the model you meant); nothing installed")
        return Fetched(tmp, digest, received)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _pump(reader: BinaryIO, out: BinaryIO, total: int | None, limit: int,
          progress: Progress | None, source: str) -> tuple[str, int]:
    hasher = hashlib.sha256()
    received = 0
    while True:
        block = reader.read(CHUNK)
        if not block:
            break
        received += len(block)
        if received > limit:
            raise FetchError(f"{source}: larger than {limit} bytes; refusing it")
        hasher.update(block)
        out.write(block)
        if progress:
            progress(received, total)
    return hasher.hexdigest(), received


def _copy(path: Path, out: BinaryIO, limit: int, progress: Progress | None) -> tuple[str, int]:
    try:
        with open(path, "rb") as reader:
            total = os.fstat(reader.fileno()).st_size
            return _pump(reader, out, total, limit, progress, str(path))
    except IsADirectoryError:
        raise FetchError(f"{path}: is a directory, not a model file") from None
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _download(url: str, out: BinaryIO, limit: int, progress: Progress | None) -> tuple[str, int]:
    request = urllib.request.Request(url, headers={"User-Agent": "shadercam-model-store"})
    # A fresh default context per call: honours SSL_CERT_FILE / SSL_CERT_DIR as set now.
    context = ssl.create_default_context()
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                             _HttpOnlyRedirects())
        with opener.open(request, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > limit:
                raise FetchError(f"{url}: server announces {total} bytes, more than {limit}")
            digest, received = _pump(response, out, total, limit, progress, url)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"{url}: cannot connect: {exc.reason}") from None
    except (HTTPException, OSError) as exc:  # IncompleteRead, reset, timeout mid-transfer
        why = in_words(exc) if isinstance(exc, OSError) else "the connection broke off"
        raise FetchError(f"{url}: download interrupted: {why}") from None
    if total is not None and received != total:
        raise FetchError(f"{url}: download interrupted after {received} of {total} bytes")
    return digest, received


def remove_stale_partials(directory: Path, older_than_s: float, now: float) -> None:
    """Delete temporary files left by a download cut short by a power loss or a kill -9."""
    for leftover in directory.glob(f".incoming-*{PARTIAL_SUFFIX}"):
        try:
            if now - leftover.stat().st_mtime > older_than_s:
                leftover.unlink()
        except FileNotFoundError:
            pass

