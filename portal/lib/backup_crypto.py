"""Client-side backup encryption: authenticated, chunked AES-256-GCM (streaming).

Encryption format "eaas-aesgcm-v1" (authenticated, chunked):
    header = b"EAASENC1" | salt (16 random bytes) | frame_size (uint32 BE)
    frame  = final flag (1 byte, 0 or 1) | ct_len (uint32 BE) | AES-256-GCM ciphertext+tag
    key    = HKDF-SHA256(master_key, salt=salt, info=b"eaas-portal backup v1"), 32 bytes
    nonce  = frame index as 12-byte big-endian (unique: the key is new for every backup)
    aad    = header | final flag
Plaintext frames are ``frame_size`` bytes except the last, which always exists (maybe empty)
and is flagged final. Reordering breaks the nonce, truncation lacks the final frame, appending
follows a final frame, any bit flip fails the tag: all are detected.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIB = 1024 * 1024
ENC_MAGIC, ENC_FORMAT = b"EAASENC1", "eaas-aesgcm-v1"
_HDR = struct.Struct(">8s16sI")
_FRAME = struct.Struct(">BI")


class BackupError(Exception):
    """A backup, verification or restore failed; the message says why."""


def _derive(master_key: bytes, salt: bytes) -> AESGCM:
    if len(master_key) < 16:
        raise ValueError("encryption key must be at least 16 bytes (use 32 random bytes)")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"eaas-portal backup v1")
    return AESGCM(hkdf.derive(master_key))


class Encryptor:
    def __init__(self, master_key: bytes, frame_size: int = MIB) -> None:
        self.header = _HDR.pack(ENC_MAGIC, os.urandom(16), frame_size)
        self._aead, self._size = _derive(master_key, self.header[8:24]), frame_size
        self._buf, self._n, self._started = bytearray(), 0, False

    def _frame(self, data: bytes, final: bool) -> bytes:
        nonce, flag = self._n.to_bytes(12, "big"), int(final)
        self._n += 1
        ct = self._aead.encrypt(nonce, data, self.header + bytes([flag]))
        return _FRAME.pack(flag, len(ct)) + ct

    def feed(self, data: bytes) -> bytes:
        out = bytearray() if self._started else bytearray(self.header)
        self._started = True
        self._buf += data
        while len(self._buf) > self._size:  # ">" keeps data for the final frame
            out += self._frame(bytes(self._buf[:self._size]), False)
            del self._buf[:self._size]
        return bytes(out)

    def finish(self) -> bytes:
        out = self.feed(b"") + self._frame(bytes(self._buf), True)
        self._buf = bytearray()
        return out


class Decryptor:
    def __init__(self, master_key: bytes) -> None:
        self._key = master_key
        self._aead: AESGCM | None = None
        self._buf = bytearray()
        self._n, self._done, self.header = 0, False, b""

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        if self._aead is None:
            if len(self._buf) < _HDR.size:
                return b""
            magic, salt, self._size = _HDR.unpack_from(self._buf)
            if magic != ENC_MAGIC:
                raise BackupError("not an encrypted backup (bad magic)")
            self.header, self._aead = bytes(self._buf[:_HDR.size]), _derive(self._key, salt)
            del self._buf[:_HDR.size]
        while len(self._buf) >= _FRAME.size:
            flag, n = _FRAME.unpack_from(self._buf)
            if self._done or flag > 1 or n > self._size + 16:
                raise BackupError("encrypted backup is corrupt (bad frame)")
            if len(self._buf) < _FRAME.size + n:
                break
            ct = bytes(self._buf[_FRAME.size:_FRAME.size + n])
            del self._buf[:_FRAME.size + n]
            try:
                out += self._aead.decrypt(self._n.to_bytes(12, "big"), ct,
                                          self.header + bytes([flag]))
            except InvalidTag:
                raise BackupError("decryption failed: wrong key or tampered data") from None
            self._n, self._done = self._n + 1, bool(flag)
        return bytes(out)

    def finish(self) -> None:
        if not self._done or self._buf:
            raise BackupError("encrypted backup is truncated or has trailing data")
