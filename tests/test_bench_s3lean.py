"""bench/s3lean.py, the lean S3 server of the benchmarks, driven by the portal's own S3Store."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from portal.lib.s3 import MIB, S3Error, S3Settings, S3Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "s3lean.py"),
                             "--dir", str(tmp_path / "s3"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("ready http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"no ready line: {line!r}\n{proc.stderr.read()}")
    yield line.split()[1], tmp_path / "s3"
    proc.terminate()
    assert proc.wait(10) == 0
    err = proc.stderr.read()
    assert "Traceback" not in err, err


@pytest.fixture
def store(server):
    url, _ = server
    s = S3Store(S3Settings(bucket="bench", endpoint_url=url, access_key="x", secret_key="x",
                           max_attempts=1))
    s.ensure_bucket()
    return s


def chunks(data: bytes, size: int = MIB):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_streamed_multipart_round_trip(store, server):
    data = os.urandom(20 * MIB + 12345)
    res = store.upload_stream("db/one.dump.zst", chunks(data), metadata={"format": "custom"},
                              sidecar={"db": "app"}, content_type="application/zstd")
    assert (res.size, res.sha256, res.parts) == (len(data), hashlib.sha256(data).hexdigest(), 3)
    part_md5s = [hashlib.md5(data[i:i + 8 * MIB]).digest() for i in range(0, len(data), 8 * MIB)]
    assert res.etag == f'"{hashlib.md5(b"".join(part_md5s)).hexdigest()}-3"'

    assert b"".join(store.download_stream("db/one.dump.zst")) == data
    assert store.read_sidecar("db/one.dump.zst") == {
        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "db": "app"}
    head = store.head("db/one.dump.zst")
    assert (head["size"], head["etag"], head["metadata"]) == (len(data), res.etag,
                                                              {"format": "custom"})
    raw = store.client.head_object(Bucket="bench", Key="db/one.dump.zst")
    assert raw["ContentType"] == "application/zstd"
    assert head["last_modified"].tzinfo is not None
    assert store.head("db/missing") is None

    # a range inside the first part, and one spanning parts 1-2 (the object is kept as parts)
    got = store.client.get_object(Bucket="bench", Key="db/one.dump.zst", Range="bytes=5-9")
    assert got["Body"].read() == data[5:10]
    assert got["ContentRange"] == f"bytes 5-9/{len(data)}"
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    lo, hi = 8 * MIB - 3, 8 * MIB + 4
    got = store.client.get_object(Bucket="bench", Key="db/one.dump.zst", Range=f"bytes={lo}-{hi}")
    assert got["Body"].read() == data[lo:hi + 1]
    got = store.client.get_object(Bucket="bench", Key="db/one.dump.zst",
                                  Range=f"bytes={len(data) - 4}-")
    assert got["Body"].read() == data[-4:]
    with pytest.raises(ClientError) as exc:
        store.client.get_object(Bucket="bench", Key="db/one.dump.zst",
                                Range=f"bytes={len(data)}-")
    assert exc.value.response["Error"]["Code"] == "InvalidRange"

    # parts live on disk as files and the object is not re-assembled: data/<id>/ holds 3 files
    _, root = server
    (data_dir,) = [p for p in (root / "bench" / "data").iterdir()
                   if sum(f.stat().st_size for f in p.iterdir()) == len(data)]
    assert len(list(data_dir.iterdir())) == 3


def test_list_delete_and_keys_with_odd_characters(store):
    keys = ["a/1", "a/2 b+c%20d", "a/ü/3", "b/4"]
    for k in keys:
        store.put_bytes(k, k.encode())
    assert store.get_bytes("a/2 b+c%20d") == b"a/2 b+c%20d"
    assert store.get_bytes("a/ü/3") == "a/ü/3".encode()
    listed = list(store.list("a/"))
    assert [o.key for o in listed] == ["a/1", "a/2 b+c%20d", "a/ü/3"]
    assert [o.size for o in listed] == [3, 11, len("a/ü/3".encode())]
    assert listed[0].etag == f'"{hashlib.md5(b"a/1").hexdigest()}"'
    assert listed[0].last_modified.tzinfo is not None
    # pagination: page size 1 goes through continuation tokens
    assert [o.key for o in store.list("", page_size=1)] == sorted(keys)
    page = store.client.list_objects_v2(Bucket="bench", StartAfter="a/1", MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == ["a/2 b+c%20d", "a/ü/3"]
    assert page["IsTruncated"] is True

    assert store.delete_many(["a/1", "a/ü/3", "never/existed"]) == 3
    assert [o.key for o in store.list()] == ["a/2 b+c%20d", "b/4"]
    loud = store.client.delete_objects(Bucket="bench", Delete={"Objects": [{"Key": "b/4"}]})
    assert [d["Key"] for d in loud["Deleted"]] == ["b/4"]
    store.put_bytes("q", b"")
    quiet = store.client.delete_objects(Bucket="bench", Delete={"Objects": [{"Key": "q"}],
                                                                "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    store.client.delete_object(Bucket="bench", Key="a/2 b+c%20d")
    store.client.delete_object(Bucket="bench", Key="a/2 b+c%20d")  # missing: still 204
    assert list(store.list()) == []


def test_errors(store, server):
    with pytest.raises(S3Error) as exc:
        store.get_bytes("nope")
    assert exc.value.code == "NoSuchKey"
    assert store.read_sidecar("nope") is None
    with pytest.raises(ClientError) as err:
        store.client.create_bucket(Bucket="bench")
    assert err.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    with pytest.raises(ClientError) as err:
        store.client.list_objects_v2(Bucket="other")
    assert err.value.response["Error"]["Code"] == "NoSuchBucket"
    assert store.versioning_status() == "Disabled"
    with pytest.raises(S3Error) as exc:  # honest about what it cannot do
        store.set_versioning(True)
    assert exc.value.code == "NotImplemented"

    # the portal's default region is us-east-1; another region sends a CreateBucketConfiguration
    url, _ = server
    eu = S3Store(S3Settings(bucket="eu-bucket", region="eu-central-1", endpoint_url=url,
                            access_key="x", secret_key="x", max_attempts=1))
    eu.ensure_bucket()
    eu.ensure_bucket()  # exists: a HEAD, no second create
    eu.put_bytes("k", b"v")
    assert eu.get_bytes("k") == b"v"


def test_multipart_uploads_listing_abort_and_invalid_part(store, server):
    c = store.client
    up = c.create_multipart_upload(Bucket="bench", Key="x/open", Metadata={"a": "b"})["UploadId"]
    other = c.create_multipart_upload(Bucket="bench", Key="y/open")["UploadId"]
    assert [(u.key, u.upload_id) for u in store.list_uploads("x/")] == [("x/open", up)]
    assert {u.upload_id for u in store.list_uploads()} == {up, other}
    assert store.list_uploads("x/")[0].initiated.tzinfo is not None

    part = c.upload_part(Bucket="bench", Key="x/open", UploadId=up, PartNumber=1, Body=b"hello")
    assert part["ETag"] == f'"{hashlib.md5(b"hello").hexdigest()}"'
    wrong = {"Parts": [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]}
    with pytest.raises(ClientError) as err:
        c.complete_multipart_upload(Bucket="bench", Key="x/open", UploadId=up,
                                    MultipartUpload=wrong)
    assert err.value.response["Error"]["Code"] == "InvalidPart"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert store.head("x/open") is None  # nothing was created
    missing = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]},
                         {"PartNumber": 2, "ETag": part["ETag"]}]}
    with pytest.raises(ClientError) as err:
        c.complete_multipart_upload(Bucket="bench", Key="x/open", UploadId=up,
                                    MultipartUpload=missing)
    assert err.value.response["Error"]["Code"] == "InvalidPart"

    c.abort_multipart_upload(Bucket="bench", Key="x/open", UploadId=up)
    assert store.list_uploads("x/") == []
    assert [u.upload_id for u in store.list_uploads()] == [other]
    with pytest.raises(ClientError) as err:
        c.upload_part(Bucket="bench", Key="x/open", UploadId=up, PartNumber=2, Body=b"late")
    assert err.value.response["Error"]["Code"] == "NoSuchUpload"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    _, root = server
    assert sorted(p.name for p in (root / "bench" / "uploads").iterdir()) == [other]

    # the wrong ETag did not consume the upload: a right Complete then still works
    p = c.upload_part(Bucket="bench", Key="y/open", UploadId=other, PartNumber=1, Body=b"yy")
    done = c.complete_multipart_upload(Bucket="bench", Key="y/open", UploadId=other,
                                       MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                   "ETag": p["ETag"]}]})
    single = hashlib.md5(hashlib.md5(b"yy").digest()).hexdigest()
    assert done["ETag"] == f'"{single}-1"'
    assert store.get_bytes("y/open") == b"yy"
    assert store.list_uploads() == []


def test_small_non_last_part_is_refused_and_failed_stream_leaves_nothing(store):
    c = store.client
    up = c.create_multipart_upload(Bucket="bench", Key="small")["UploadId"]
    etags = [c.upload_part(Bucket="bench", Key="small", UploadId=up, PartNumber=n,
                           Body=b"z" * 10)["ETag"] for n in (1, 2)]
    with pytest.raises(ClientError) as err:
        c.complete_multipart_upload(Bucket="bench", Key="small", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags, strict=True)]})
    assert err.value.response["Error"]["Code"] == "EntityTooSmall"

    def broken():
        yield os.urandom(9 * MIB)
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError):
        store.upload_stream("broken", broken())
    assert store.head("broken") is None
    assert [u.key for u in store.list_uploads()] == ["small"]  # the broken one was aborted


def test_overwrite_interrupted_put_and_aws_chunked(store, server):
    url, root = server
    store.put_bytes("k", b"first" * 1000)
    store.put_bytes("k", b"second")
    assert store.get_bytes("k") == b"second"
    assert len(list((root / "bench" / "data").iterdir())) == 1  # the old data is gone

    # a client that dies mid-body leaves no object and no stray data
    host, port = url.removeprefix("http://").split(":")
    data_dirs = lambda: len(list((root / "bench" / "data").iterdir()))  # noqa: E731
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"PUT /bench/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n"
                     + b"x" * MIB)
        assert wait_until(lambda: data_dirs() == 2)  # the server is receiving it
    assert wait_until(lambda: data_dirs() == 1)
    assert store.head("cut") is None

    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("PUT", "/bench/chunked", body=b"5\r\nhello\r\n0\r\n\r\n",
                 headers={"Content-Encoding": "aws-chunked", "Content-Length": "15"})
    resp = conn.getresponse()
    body = resp.read().decode()
    assert resp.status == 501 and "<Code>NotImplemented</Code>" in body and "aws-chunked" in body
    conn.request("GET", "/bench/k")  # the connection is still usable (keep-alive)
    resp = conn.getresponse()
    assert (resp.status, resp.read(), resp.getheader("Content-Length")) == (200, b"second", "6")
    conn.close()
    assert store.head("chunked") is None


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
