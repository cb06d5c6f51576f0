"""The self-backup object: one tar archive (manifest.json first, then the database and the
data-dir files), zstd-compressed, encrypted with a key derived from the self-backup
passphrase, and its sha256 over the stored bytes.

Stored object = backup_crypto's chunked AES-256-GCM ("eaas-aesgcm-v1") of a zstd frame (level
3, content checksum) of a tar stream. The key is scrypt(passphrase, salt); the salt, scrypt's
cost and a key check value live in the plaintext sidecar ``<key>.sha256.json`` beside the
sha256, so a wrong passphrase is told apart from a damaged object before anything is read.

Reading (:func:`unpack`) extracts into a staging directory and checks everything (sha256 of the
whole object, the last encrypted frame, the zstd checksum, each member's sha256 from the
manifest) before it returns: a caller writes nothing anywhere until it has returned.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, cast

import zstandard

from portal.lib.backup_crypto import ENC_FORMAT, BackupError, Decryptor, Encryptor

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

FORMAT = "eaas-portal-self-backup/1"
SUFFIX = ".tar.zst.enc"
MIB = 1024 * 1024
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1


class RecoveryError(Exception):
    """A self-backup cannot be taken, read or restored; the message says why."""


class WrongPassphrase(RecoveryError):
    pass


class ArchiveCorrupt(RecoveryError):
    pass


def derive_key(passphrase: str, salt: bytes, n: int = SCRYPT_N) -> bytes:
    return hashlib.scrypt(passphrase.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P,
                          maxmem=128 * MIB, dklen=32)


def check_value(key: bytes) -> str:
    return hmac.new(key, b"eaas-portal self-backup key check", hashlib.sha256).hexdigest()[:32]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while data := handle.read(MIB):
            digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class Packed:
    path: Path
    size: int
    sha256: str
    sidecar: dict[str, Any]  # what goes beside the sha256 in the sidecar (no secret)


class _SealingWriter(io.RawIOBase):
    """tar -> zstd -> AES-GCM -> file, hashing what is written."""

    def __init__(self, out: IO[bytes], key: bytes) -> None:
        self._out, self._enc = out, Encryptor(key)
        self._comp = zstandard.ZstdCompressor(level=3, write_checksum=True).compressobj()
        self.digest, self.size = hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def _emit(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self.digest.update(data)
            self.size += len(data)

    def write(self, b: Any) -> int:
        data = bytes(b)
        self._emit(self._enc.feed(self._comp.compress(data)))
        return len(data)

    def finish(self) -> None:
        self._emit(self._enc.feed(self._comp.flush()) + self._enc.finish())


def pack(dest: Path, manifest: dict[str, Any], members: list[tuple[str, Path]],
         passphrase: str) -> Packed:
    """Write the encrypted archive to ``dest``: manifest.json, then ``members``
    (archive name, file)."""
    salt = os.urandom(16)
    key = derive_key(passphrase, salt)
    with open(dest, "wb") as out:
        writer = _SealingWriter(out, key)
        with tarfile.open(fileobj=cast(IO[bytes], writer), mode="w|",
                          format=tarfile.PAX_FORMAT) as tar:
            body = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mode, info.mtime = len(body), 0o600, int(manifest.get("epoch", 0))
            tar.addfile(info, io.BytesIO(body))
            for name, path in members:
                tar.add(str(path), arcname=name, recursive=False)
        writer.finish()
        out.flush()
        os.fsync(out.fileno())
    sidecar = {"format": FORMAT, "encryption": ENC_FORMAT, "compression": "zstd",
               "kdf": {"name": "scrypt", "salt": salt.hex(), "n": SCRYPT_N, "r": SCRYPT_R,
                       "p": SCRYPT_P},
               "key_check": check_value(key), "created_at": manifest.get("created_at"),
               "engine": manifest.get("engine"), "portal_version": manifest.get("portal_version")}
    return Packed(dest, writer.size, writer.digest.hexdigest(), sidecar)


class _OpeningReader(io.RawIOBase):
    """Stored chunks -> sha256 -> decrypted bytes, as a file for zstd's stream_reader."""

    def __init__(self, chunks: Iterator[bytes], key: bytes) -> None:
        self._it, self._dec, self._pending = chunks, Decryptor(key), b""
        self.digest, self.size, self.done = hashlib.sha256(), 0, False

    def readable(self) -> bool:
        return True

    def _next(self) -> bytes | None:
        chunk = next(self._it, None)
        if chunk is not None:
            self.digest.update(chunk)
            self.size += len(chunk)
        return chunk

    def readinto(self, b: WriteableBuffer) -> int:
        while not self._pending:
            chunk = self._next()
            if chunk is None:
                if not self.done:
                    self.done = True
                    self._dec.finish()
                return 0
            self._pending = self._dec.feed(chunk)
        with memoryview(b) as view:
            n = min(len(view), len(self._pending))
            view[:n], self._pending = self._pending[:n], self._pending[n:]
        return n

    def drain(self) -> None:
        while self._next() is not None:
            pass


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ArchiveCorrupt(f"the archive holds an unsafe path {name!r}")
    return path


def key_for(sidecar: dict[str, Any], passphrase: str) -> bytes:
    """The archive key from the passphrase; WrongPassphrase when it does not open it."""
    if sidecar.get("format") != FORMAT:
        raise RecoveryError(f"not a portal self-backup (sidecar format {sidecar.get('format')!r})")
    kdf = sidecar.get("kdf") or {}
    try:
        key = derive_key(passphrase, bytes.fromhex(kdf["salt"]), int(kdf.get("n", SCRYPT_N)))
    except (KeyError, ValueError) as exc:
        raise ArchiveCorrupt(f"the sidecar's key derivation is unreadable ({exc})") from None
    if not hmac.compare_digest(check_value(key), str(sidecar.get("key_check", ""))):
        raise WrongPassphrase("wrong passphrase: PORTAL_SELF_BACKUP_PASSPHRASE does not open "
                              "this self-backup (take it from the recovery kit made when the "
                              "backup was taken)")
    return key


def unpack(chunks: Iterator[bytes], sidecar: dict[str, Any], passphrase: str,
           dest: Path) -> dict[str, Any]:
    """Extract the archive into ``dest`` (an empty staging directory) and prove it whole.
    Returns the manifest. Raises WrongPassphrase, ArchiveCorrupt or RecoveryError."""
    key = key_for(sidecar, passphrase)
    expected = str(sidecar.get("sha256", ""))
    if not expected:
        raise ArchiveCorrupt("the sidecar has no sha256")
    src = _OpeningReader(chunks, key)
    got: dict[str, str] = {}
    manifest: dict[str, Any] | None = None
    problem = ""
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(cast(IO[bytes], src), read_size=MIB)
        with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    raise ArchiveCorrupt(f"unexpected tar member {member.name!r}")
                rel = _safe_name(member.name)
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file has content
                if rel.as_posix() == "manifest.json":
                    manifest = json.loads(handle.read(16 * MIB))
                    continue
                target = dest.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with open(target, "wb") as out:
                    while data := handle.read(MIB):
                        digest.update(data)
                        out.write(data)
                got[rel.as_posix()] = digest.hexdigest()
        while reader.read(MIB):  # the end of the zstd frame (its checksum)
            pass
        buf = bytearray(MIB)  # to the end of the object: the decryptor checks the last frame
        while n := src.readinto(buf):
            if n:
                raise ArchiveCorrupt("trailing data after the archive")
    except (BackupError, ArchiveCorrupt, zstandard.ZstdError, tarfile.TarError, EOFError,
            OSError, ValueError) as exc:
        problem = str(exc) or type(exc).__name__
        src.drain()
    if src.digest.hexdigest() != expected:
        raise ArchiveCorrupt(f"the self-backup is damaged or truncated: sha256 of the "
                             f"{src.size} stored bytes is {src.digest.hexdigest()}, the sidecar "
                             f"says {expected}" + (f" ({problem})" if problem else ""))
    if problem:
        raise ArchiveCorrupt(f"the self-backup is unreadable: {problem}")
    if manifest is None or manifest.get("format") != FORMAT:
        raise ArchiveCorrupt("the archive has no portal manifest")
    for entry in manifest.get("files", []):
        if got.get(entry["name"]) != entry["sha256"]:
            raise ArchiveCorrupt(f"{entry['name']} in the archive does not match its manifest "
                                 "checksum")
    return manifest
