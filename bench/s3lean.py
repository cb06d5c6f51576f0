"""s3lean: a small, disk-backed, S3-compatible HTTP server for the benchmarks (stdlib only).

Why it exists
-------------
bench/backups.py measures the portal's streamed backup (pg_dump -> zstd -> sha256 -> multipart
upload by boto3) on a 2-core machine, and the S3 endpoint has to run on those same cores.
moto_server spends ~4-5 s of CPU per 200 MiB uploaded in its mock bookkeeping (checksum builders,
an md5 over the whole object at CompleteMultipartUpload, SpooledTemporaryFile copies), s3rver
~3 s. In production S3/R2 runs on other machines, so that CPU would be charged to the portal
unfairly. This server keeps its own cost small (~0.6 s of CPU per 200 MiB uploaded by
S3Store.upload_stream in 8 MiB parts, most of it the md5 for the ETags), so the benchmark
measures the portal's pipeline including the real HTTP upload by boto3:

* ThreadingHTTPServer, HTTP/1.1 keep-alive, Nagle off, a Content-Length on every response;
* request bodies are read in 256 KiB blocks straight into files while md5 is computed (the only
  hash: it is the ETag S3 returns; a Content-MD5 header, when sent, is checked against it);
* an object is a directory of part files plus a small JSON metadata file beside it.
  CompleteMultipartUpload renames the upload's directory into place: no copy, no re-hash.
  GETs are served with sendfile() across the parts.

Writes are atomic: the metadata JSON (written to a temp name, then os.replace) is the commit
point, so a failed or aborted upload never leaves an object behind.

Supported (path-style addressing only: http://HOST:PORT/<bucket>/<key>)
  buckets: CreateBucket, HeadBucket, GetBucketVersioning (never enabled), ListObjectsV2 (prefix,
    max-keys, continuation-token, start-after, encoding-type=url), ListMultipartUploads (prefix,
    key-marker, upload-id-marker, max-uploads; one key's uploads are ordered by upload id, not
    by initiation time), DeleteObjects (Quiet too).
  objects: PutObject, GetObject / HeadObject (one range: bytes=a-b, a-, -n), DeleteObject,
    CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload.
    Content-Type and x-amz-meta-* are stored and returned.
Not supported
  * authentication: any Authorization header is accepted, SigV4 signatures are NOT verified
    (listen on 127.0.0.1 only). x-amz-content-sha256 is ignored: the body is not hashed for it.
  * checksums other than md5 ETags: x-amz-checksum-* headers are ignored, none are returned.
  * versioning, ACLs, tagging, policies, lifecycle, CopyObject/UploadPartCopy, conditional
    requests, delimiter listings, ListObjects v1, ListBuckets, DeleteBucket and aws-chunked
    bodies (boto3's default trailing checksums; configure the client with
    request_checksum_calculation="when_required"): all answered 501 NotImplemented.
  * virtual-host addressing (the path is always read as /<bucket>/<key>); bucket regions.

Run:  python bench/s3lean.py --dir /tmp/s3 --host 127.0.0.1 --port 9000   (--port 0: any port)
It prints ``ready http://HOST:PORT`` once listening and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import sys
import threading
import time
import traceback
import uuid
import xml.etree.ElementTree as ET
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MIB = 1024 * 1024
# Bodies are copied in 256 KiB blocks: measured against 1 MiB (and 64/128 KiB), the block then
# stays in the CPU cache between recv, md5 and write: ~15% less server CPU per upload.
BLOCK = 256 * 1024
MIN_PART = 5 * MIB  # every part but the last, as S3 requires
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
UPLOAD_RE = re.compile(r"[0-9a-f]{32}")
MD5_RE = re.compile(r"[0-9a-f]{32}")
RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


class S3Fail(Exception):
    """Answered as S3's XML error document with ``status``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def no_such_upload() -> S3Fail:
    return S3Fail(404, "NoSuchUpload", "The specified multipart upload does not exist.")


def xml(tag: str, children: list, namespace: bool = True) -> bytes:
    """S3 response XML. ``children`` is a list of (name, value); a list value nests."""
    def fill(parent, items):
        for name, value in items:
            el = ET.SubElement(parent, name)
            if isinstance(value, list):
                fill(el, value)
            else:
                el.text = str(value).lower() if isinstance(value, bool) else str(value)
    root = ET.Element(tag, xmlns=NS) if namespace else ET.Element(tag)
    fill(root, children)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def load_json(path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


class Body:
    """A request body not read yet; ``left`` is what remains unread on the connection."""

    def __init__(self, rfile, length: int, content_md5: str | None):
        self.rfile, self.left, self.content_md5 = rfile, length, content_md5

    def save(self, path: Path) -> str:
        """Write the body to a new file at ``path`` block by block; return its md5 (hex)."""
        md5 = hashlib.md5(usedforsecurity=False)
        view = memoryview(bytearray(min(self.left, BLOCK) or 1))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            while self.left:
                n = self.rfile.readinto(view[:min(self.left, BLOCK)])
                if not n:
                    raise ConnectionError("the client closed the connection mid-body")
                self.left -= n
                md5.update(view[:n])
                done = 0
                while done < n:
                    done += os.write(fd, view[done:n])
        finally:
            os.close(fd)
        if self.content_md5 and base64.b64encode(md5.digest()).decode() != self.content_md5:
            raise S3Fail(400, "BadDigest", "The Content-MD5 you specified did not match.")
        return md5.hexdigest()

    def read(self) -> bytes:
        if self.left > 16 * MIB:
            raise S3Fail(400, "MaxMessageLengthExceeded", "Your request was too big.")
        want, self.left = self.left, 0
        data = self.rfile.read(want)
        if len(data) < want:
            raise ConnectionError("the client closed the connection mid-body")
        return data


class Store:
    """The disk layout; no HTTP. Under ``root``, one directory per bucket holding
    meta/<sha256 of key>.json  the object's metadata: key, size, etag, data dir, part list
    data/<id>/<nnnnn>.<md5>     the object's bytes, as parts (a PutObject has one part)
    uploads/<upload id>/        upload.json + uploaded parts, renamed to data/<id> on Complete
    Temp names end in ".tmp". A request that fails removes what it wrote; only a killed server
    can leave temp files or unreferenced data dirs behind (never a visible object)."""

    def __init__(self, root: Path):
        self.root = root
        self.lock = threading.Lock()  # metadata commits, part commits, Complete/Abort claims
        root.mkdir(parents=True, exist_ok=True)

    def bucket(self, name: str, must_exist: bool = True) -> Path:
        if not BUCKET_RE.fullmatch(name) or ".." in name:
            raise S3Fail(400, "InvalidBucketName", f"The specified bucket is not valid: {name}")
        path = self.root / name
        if must_exist and not path.is_dir():
            raise S3Fail(404, "NoSuchBucket", f"The specified bucket does not exist: {name}")
        return path

    def create_bucket(self, name: str) -> None:
        path = self.bucket(name, must_exist=False)
        tmp = self.root / f".{uuid.uuid4().hex}.tmp"  # not a valid bucket name
        for sub in ("meta", "data", "uploads"):
            (tmp / sub).mkdir(parents=True)
        with self.lock:
            if path.exists():
                shutil.rmtree(tmp)
                raise S3Fail(409, "BucketAlreadyOwnedByYou", f"You already own bucket {name}.")
            os.rename(tmp, path)

    # -- objects -----------------------------------------------------------------------------
    @staticmethod
    def meta_path(bpath: Path, key: str) -> Path:
        return bpath / "meta" / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def head(self, bucket: str, key: str) -> dict:
        meta = load_json(self.meta_path(self.bucket(bucket), key))
        if meta is None:
            raise S3Fail(404, "NoSuchKey", "The specified key does not exist.")
        return meta

    def commit(self, bpath: Path, key: str, data: Path, parts: list, etag: str,
               info: dict) -> None:
        """Make ``data`` the object ``key`` (the atomic step), then drop the replaced data."""
        meta = {"key": key, "size": sum(size for _, size in parts), "etag": etag,
                "modified": time.time(), "data": data.name, "parts": parts,
                "content_type": info["content_type"], "metadata": info["metadata"]}
        path = self.meta_path(bpath, key)
        with self.lock:
            old = load_json(path)
            write_json(path, meta)
        if old:
            shutil.rmtree(bpath / "data" / old["data"], ignore_errors=True)

    def put_object(self, bucket: str, key: str, body: Body, info: dict) -> str:
        bpath = self.bucket(bucket)
        data = bpath / "data" / uuid.uuid4().hex
        data.mkdir()
        try:
            size = body.left
            etag = body.save(data / "part.tmp")
            os.rename(data / "part.tmp", data / f"00001.{etag}")
            self.commit(bpath, key, data, [[f"00001.{etag}", size]], etag, info)
        except BaseException:
            shutil.rmtree(data, ignore_errors=True)
            raise
        return etag

    def open_object(self, bucket: str, key: str, span) -> tuple:
        """(meta, start, end, ranged, [(file, offset, count)]) with the part files for the
        range ``span(size)`` already open: an overwrite or delete meanwhile cannot cut the reply
        short (it removes the old files, but open ones stay readable)."""
        for _ in range(5):
            meta = self.head(bucket, key)
            start, end, ranged = span(meta["size"])
            files, pos, data = [], 0, self.root / bucket / "data" / meta["data"]
            try:
                for name, size in meta["parts"]:
                    lo, hi = max(start, pos), min(end, pos + size)
                    if lo < hi:
                        files.append((open(data / name, "rb"), lo - pos, hi - lo))
                    pos += size
                return meta, start, end, ranged, files
            except FileNotFoundError:  # replaced between reading meta and opening: again
                for f, _, _ in files:
                    f.close()
        raise S3Fail(503, "SlowDown", "The object keeps changing; try again.")

    def delete_object(self, bucket: str, key: str) -> None:
        bpath = self.bucket(bucket)
        path = self.meta_path(bpath, key)
        with self.lock:
            old = load_json(path)
            if old:
                path.unlink()
        if old:
            shutil.rmtree(bpath / "data" / old["data"], ignore_errors=True)

    def list_objects(self, bucket: str, prefix: str, after: str) -> list[dict]:
        metas = []
        for entry in os.scandir(self.bucket(bucket) / "meta"):
            if entry.name.endswith(".json") and (meta := load_json(entry.path)):
                if meta["key"].startswith(prefix) and meta["key"] > after:
                    metas.append(meta)
        return sorted(metas, key=lambda m: m["key"])

    # -- multipart uploads -------------------------------------------------------------------
    def create_upload(self, bucket: str, key: str, info: dict) -> str:
        uploads = self.bucket(bucket) / "uploads"
        upload_id = uuid.uuid4().hex
        tmp = uploads / f"{upload_id}.tmp"
        tmp.mkdir()
        write_json(tmp / "upload.json", {"key": key, "initiated": time.time(), **info})
        os.rename(tmp, uploads / upload_id)
        return upload_id

    def upload(self, bucket: str, key: str, upload_id: str) -> tuple[Path, Path, dict]:
        bpath = self.bucket(bucket)
        if UPLOAD_RE.fullmatch(upload_id):
            path = bpath / "uploads" / upload_id
            info = load_json(path / "upload.json")
            if info and info["key"] == key:
                return bpath, path, info
        raise no_such_upload()

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int,
                    body: Body) -> str:
        _, path, _ = self.upload(bucket, key, upload_id)
        tmp = path / f"{uuid.uuid4().hex}.tmp"
        try:
            etag = body.save(tmp)
            with self.lock:
                if not path.is_dir():  # completed or aborted meanwhile
                    raise no_such_upload()
                for old in path.glob(f"{number:05d}.*"):
                    old.unlink()
                os.rename(tmp, path / f"{number:05d}.{etag}")
        except FileNotFoundError:
            raise no_such_upload()
        finally:
            tmp.unlink(missing_ok=True)
        return etag

    def complete(self, bucket: str, key: str, upload_id: str, wanted: list) -> str:
        bpath, path, info = self.upload(bucket, key, upload_id)
        numbers = [n for n, _ in wanted]
        if numbers != sorted(set(numbers)):
            raise S3Fail(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        names = [f"{n:05d}.{etag}" for n, etag in wanted]
        data = bpath / "data" / uuid.uuid4().hex
        with self.lock:
            sizes = []
            for name in names:
                try:
                    sizes.append(os.stat(path / name).st_size)
                except FileNotFoundError:
                    if not path.is_dir():
                        raise no_such_upload()
                    raise S3Fail(400, "InvalidPart", "One or more of the specified parts could "
                                 f"not be found: part {int(name[:5])} with ETag {name[6:]}.")
            if any(size < MIN_PART for size in sizes[:-1]):
                raise S3Fail(400, "EntityTooSmall", "Your proposed upload is smaller than the "
                             "minimum allowed object size (5 MiB for all parts but the last).")
            os.rename(path, data)  # the upload is gone from here on: claimed by this Complete
        keep = set(names)
        for entry in os.scandir(data):
            if entry.name not in keep:
                os.unlink(entry.path)
        digest = hashlib.md5(b"".join(bytes.fromhex(e) for _, e in wanted),
                             usedforsecurity=False)
        etag = f"{digest.hexdigest()}-{len(wanted)}"
        self.commit(bpath, key, data, [list(p) for p in zip(names, sizes, strict=True)], etag, info)
        return etag

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        _, path, _ = self.upload(bucket, key, upload_id)
        gone = path.with_name(f"{path.name}.aborted.tmp")
        with self.lock:
            if not path.is_dir():
                raise no_such_upload()
            os.rename(path, gone)
        shutil.rmtree(gone, ignore_errors=True)

    def list_uploads(self, bucket: str, prefix: str) -> list[dict]:
        out = []
        for entry in os.scandir(self.bucket(bucket) / "uploads"):
            if not entry.name.endswith(".tmp"):
                info = load_json(os.path.join(entry.path, "upload.json"))
                if info and info["key"].startswith(prefix):
                    out.append({**info, "id": entry.name})
        return sorted(out, key=lambda u: (u["key"], u["id"]))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries a Content-Length
    server_version, sys_version = "s3lean/1", ""
    disable_nagle_algorithm = True
    timeout = 600

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    def handle_request(self):
        url = urlsplit(self.path)
        self.query = dict(parse_qsl(url.query, keep_blank_values=True))
        bucket, _, key = unquote(url.path)[1:].partition("/")
        self.body = Body(self.rfile, 0, self.headers.get("Content-MD5"))
        try:
            try:
                self.body.left = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                raise S3Fail(400, "InvalidArgument", "The Content-Length is not a number.")
            self.check_headers()
            self.route(bucket, key)
        except S3Fail as exc:
            self.error(exc, bucket, key)
        except ConnectionError:
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True  # a reply may be half sent already
            self.error(S3Fail(500, "InternalError", "s3lean failed; see its stderr"), bucket, key)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_request

    def check_headers(self):
        h = self.headers
        if "aws-chunked" in h.get("Content-Encoding", "") or \
                h.get("x-amz-content-sha256", "").startswith("STREAMING-"):
            raise S3Fail(501, "NotImplemented", "aws-chunked bodies (streaming signatures or "
                         "trailing checksums) are not supported by s3lean; configure the client "
                         "with request_checksum_calculation='when_required'.")
        if "Transfer-Encoding" in h:
            raise S3Fail(411, "MissingContentLength", "You must provide the Content-Length.")
        unsupported = [n for n in ("If-Match", "If-None-Match", "If-Modified-Since",
                                   "If-Unmodified-Since", "x-amz-copy-source") if n in h]
        if unsupported:
            raise S3Fail(501, "NotImplemented", f"s3lean does not support {unsupported}.")

    def route(self, bucket: str, key: str):
        q = self.query
        sub = next((s for s in ("uploads", "uploadId", "versioning", "delete", "list-type")
                    if s in q), "")
        fn, params = self.ROUTES.get((bool(key), self.command, sub), (None, ()))
        extra = set(q) - {sub, "x-id", *params}
        if not bucket or fn is None or extra or q.get("versionId", "null") != "null":
            what = f"{self.command} {'object' if key else 'bucket' if bucket else 'service'}"
            raise S3Fail(501, "NotImplemented", f"s3lean does not support {what} with query "
                         f"parameters {sorted(q)}.")
        fn(self, bucket, key)

    # -- responses ---------------------------------------------------------------------------
    def reply(self, status: int = 200, body: bytes = b"", headers: list | tuple = ()):
        if self.body.left:  # answering before the body was read: skip it or drop the connection
            if self.body.left <= 16 * MIB:  # (a client sending a part reads no early answer)
                self.body.read()
            else:
                self.close_connection = True
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def error(self, exc: S3Fail, bucket: str, key: str):
        resource_ = f"/{bucket}/{key}" if key else f"/{bucket}"
        body = b"" if self.command == "HEAD" else xml("Error", [
            ("Code", exc.code), ("Message", exc.message), ("Resource", resource_),
            ("RequestId", uuid.uuid4().hex[:16])], namespace=False)
        self.reply(exc.status, body)

    def number(self, name: str, default: int, lo: int, hi: int) -> int:
        try:
            value = int(self.query.get(name, default))
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            raise S3Fail(400, "InvalidArgument", f"{name} must be an integer in [{lo}, {hi}].")
        return value

    def object_info(self) -> dict:
        meta = {k.lower()[11:]: v for k, v in self.headers.items()
                if k.lower().startswith("x-amz-meta-")}
        ctype = self.headers.get("Content-Type") or "binary/octet-stream"
        return {"content_type": ctype, "metadata": meta}

    def xml_body(self) -> ET.Element:
        try:
            root = ET.fromstring(self.body.read())
        except ET.ParseError:
            raise S3Fail(400, "MalformedXML", "The XML you provided was not well-formed.")
        for el in root.iter():
            el.tag = el.tag.rpartition("}")[2]
        return root

    # -- bucket operations -------------------------------------------------------------------
    def create_bucket(self, bucket, key):
        if self.body.left:
            self.xml_body()  # CreateBucketConfiguration: the region is not kept
        self.server.store.create_bucket(bucket)
        self.reply(headers=[("Location", "/" + bucket)])

    def head_bucket(self, bucket, key):
        self.server.store.bucket(bucket)
        self.reply()

    def get_versioning(self, bucket, key):
        self.server.store.bucket(bucket)
        self.reply(body=xml("VersioningConfiguration", []))

    def list_objects(self, bucket, key):
        q, url = self.query, self.query.get("encoding-type") == "url"
        enc = (lambda s: quote(s, safe="/")) if url else (lambda s: s)
        prefix, max_keys = q.get("prefix", ""), self.number("max-keys", 1000, 0, 1000)
        after = q.get("start-after", "")
        if token := q.get("continuation-token"):
            try:
                after = max(after, base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError:
                raise S3Fail(400, "InvalidArgument", "The continuation token is not valid.")
        items = self.server.store.list_objects(bucket, prefix, after)
        page, truncated = items[:max_keys], max_keys > 0 and len(items) > max_keys
        out = [("Name", bucket), ("Prefix", enc(prefix)), ("KeyCount", len(page)),
               ("MaxKeys", max_keys), ("IsTruncated", truncated)]
        out += [("EncodingType", "url")] if url else []
        out += [("ContinuationToken", token)] if token else []
        out += [("StartAfter", enc(q["start-after"]))] if "start-after" in q else []
        if truncated:
            nxt = base64.urlsafe_b64encode(page[-1]["key"].encode()).decode()
            out.append(("NextContinuationToken", nxt))
        out += [("Contents", [("Key", enc(m["key"])), ("LastModified", iso(m["modified"])),
                              ("ETag", f'"{m["etag"]}"'), ("Size", m["size"]),
                              ("StorageClass", "STANDARD")]) for m in page]
        self.reply(body=xml("ListBucketResult", out))

    def list_uploads(self, bucket, key):
        q, url = self.query, self.query.get("encoding-type") == "url"
        enc = (lambda s: quote(s, safe="/")) if url else (lambda s: s)
        prefix, limit = q.get("prefix", ""), self.number("max-uploads", 1000, 1, 1000)
        km, im = q.get("key-marker", ""), q.get("upload-id-marker", "")
        ups = [u for u in self.server.store.list_uploads(bucket, prefix)
               if (u["key"], u["id"]) > (km, im or "\uffff")]
        page, truncated = ups[:limit], len(ups) > limit
        out = [("Bucket", bucket), ("KeyMarker", enc(km)), ("UploadIdMarker", im),
               ("Prefix", enc(prefix)), ("MaxUploads", limit), ("IsTruncated", truncated)]
        out += [("EncodingType", "url")] if url else []
        if truncated:
            out += [("NextKeyMarker", enc(page[-1]["key"])), ("NextUploadIdMarker", page[-1]["id"])]
        owner = [("ID", "s3lean"), ("DisplayName", "s3lean")]
        out += [("Upload", [("Key", enc(u["key"])), ("UploadId", u["id"]), ("Initiator", owner),
                            ("Owner", owner), ("StorageClass", "STANDARD"),
                            ("Initiated", iso(u["initiated"]))]) for u in page]
        self.reply(body=xml("ListMultipartUploadsResult", out))

    def delete_objects(self, bucket, key):
        root = self.xml_body()
        objects = root.findall("Object")
        keys = [o.findtext("Key") for o in objects]
        if not keys or len(keys) > 1000 or None in keys:
            raise S3Fail(400, "MalformedXML", "Delete needs 1 to 1000 Object elements with a Key.")
        if any(o.findtext("VersionId", "null") != "null" for o in objects):
            raise S3Fail(501, "NotImplemented", "s3lean does not support versions.")
        for k in keys:
            self.server.store.delete_object(bucket, k)
        quiet = (root.findtext("Quiet") or "").strip().lower() == "true"
        self.reply(body=xml("DeleteResult", [] if quiet else [("Deleted", [("Key", k)])
                                                              for k in keys]))

    # -- object operations -------------------------------------------------------------------
    def put_object(self, bucket, key):
        etag = self.server.store.put_object(bucket, key, self.body, self.object_info())
        self.reply(headers=[("ETag", f'"{etag}"')])

    def span(self, size: int) -> tuple[int, int, bool]:
        """(start, end, ranged) for the Range header; S3 ignores a range it cannot parse."""
        m = RANGE_RE.fullmatch(self.headers.get("Range", "").strip())
        if not m or m[1] == m[2] == "" or (m[1] and m[2] and int(m[2]) < int(m[1])):
            return 0, size, False
        if m[1]:
            start, end = int(m[1]), min(size, int(m[2]) + 1) if m[2] else size
        else:
            start, end = max(0, size - int(m[2])), size if int(m[2]) else 0
        if start >= end:
            raise S3Fail(416, "InvalidRange", "The requested range is not satisfiable")
        return start, end, True

    def get_object(self, bucket, key):
        store, files = self.server.store, []
        if self.command == "HEAD":
            meta = store.head(bucket, key)
            start, end, ranged = self.span(meta["size"])
        else:
            meta, start, end, ranged, files = store.open_object(bucket, key, self.span)
        try:
            self.send_response(206 if ranged else 200)
            self.send_header("Content-Type", meta["content_type"])
            self.send_header("Content-Length", str(end - start))
            if ranged:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{meta['size']}")
            self.send_header("ETag", f'"{meta["etag"]}"')
            self.send_header("Last-Modified", formatdate(meta["modified"], usegmt=True))
            self.send_header("Accept-Ranges", "bytes")
            for name, value in meta["metadata"].items():
                self.send_header("x-amz-meta-" + name, value)
            self.end_headers()
            for f, offset, count in files:
                self.connection.sendfile(f, offset, count)
        finally:
            for f, _, _ in files:
                f.close()

    def delete_object(self, bucket, key):
        self.server.store.delete_object(bucket, key)
        self.reply(204)

    def create_upload(self, bucket, key):
        upload_id = self.server.store.create_upload(bucket, key, self.object_info())
        self.reply(body=xml("InitiateMultipartUploadResult", [
            ("Bucket", bucket), ("Key", key), ("UploadId", upload_id)]))

    def upload_part(self, bucket, key):
        number = self.number("partNumber", 0, 1, 10000)
        etag = self.server.store.upload_part(bucket, key, self.query["uploadId"], number,
                                             self.body)
        self.reply(headers=[("ETag", f'"{etag}"')])

    def complete(self, bucket, key):
        wanted = []
        for part in self.xml_body().findall("Part"):
            try:
                number = int(part.findtext("PartNumber", ""))
            except ValueError:
                raise S3Fail(400, "MalformedXML", "Each Part needs an integer PartNumber.")
            etag = (part.findtext("ETag") or "").strip().strip('"').lower()
            if not MD5_RE.fullmatch(etag):
                raise S3Fail(400, "InvalidPart", f"Part {number} has no valid ETag: {etag!r}.")
            wanted.append((number, etag))
        if not wanted:
            raise S3Fail(400, "MalformedXML", "CompleteMultipartUpload needs at least one Part.")
        etag = self.server.store.complete(bucket, key, self.query["uploadId"], wanted)
        host = self.headers.get("Host", "localhost")
        self.reply(body=xml("CompleteMultipartUploadResult", [
            ("Location", f"http://{host}/{bucket}/{quote(key)}"), ("Bucket", bucket),
            ("Key", key), ("ETag", f'"{etag}"')]))

    def abort(self, bucket, key):
        self.server.store.abort(bucket, key, self.query["uploadId"])
        self.reply(204)

    # (is the key non-empty, method, subresource) -> (handler, other query parameters allowed)
    ROUTES = {
        (False, "PUT", ""): (create_bucket, ()), (False, "HEAD", ""): (head_bucket, ()),
        (False, "GET", "versioning"): (get_versioning, ()),
        (False, "GET", "list-type"): (list_objects, (
            "prefix", "max-keys", "continuation-token", "start-after", "encoding-type",
            "fetch-owner")),
        (False, "GET", "uploads"): (list_uploads, (
            "prefix", "max-uploads", "key-marker", "upload-id-marker", "encoding-type")),
        (False, "POST", "delete"): (delete_objects, ()),
        (True, "PUT", ""): (put_object, ()), (True, "DELETE", ""): (delete_object, ("versionId",)),
        (True, "GET", ""): (get_object, ("versionId",)),
        (True, "HEAD", ""): (get_object, ("versionId",)),
        (True, "POST", "uploads"): (create_upload, ()),
        (True, "PUT", "uploadId"): (upload_part, ("partNumber",)),
        (True, "POST", "uploadId"): (complete, ()), (True, "DELETE", "uploadId"): (abort, ()),
    }


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, store: Store, verbose: bool = False):
        super().__init__(address, Handler)
        self.store, self.verbose = store, verbose

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client going away is normal
            super().handle_error(request, client_address)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lean disk-backed S3-compatible server "
                                     "for benchmarks (no authentication: bind to localhost).")
    parser.add_argument("--dir", required=True, type=Path, help="where buckets are stored")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 = any free port")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # a GET holds its parts open
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    server = Server((args.host, args.port), Store(args.dir), args.verbose)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"ready http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
