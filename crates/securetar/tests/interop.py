"""The Python side of the interoperability tests: the `securetar` library from PyPI, used the
way the Supervisor uses it, reading what we write and writing what we read.

    interop.py read OUTER PASSWORD OUTDIR
        Opens OUTER as a SecureTarArchive; for every inner archive writes its decrypted bytes
        (extract_tar) to OUTDIR/<name>, and for .tar.gz members also extracts it with
        SecureTarFile into OUTDIR/<name>.d. Prints JSON {name: {"valid": validate()}}.
    interop.py write OUTER PASSWORD VERSION SRCDIR PLAINDIR
        Writes OUTER as the Supervisor does (create_version VERSION): backup.json, then
        ./data.tar.gz made with create_tar from SRCDIR, then every file of PLAINDIR imported
        with import_tar as ./<file name>.
    interop.py write-v1 OUT PASSWORD SRCDIR GZIP
        Writes one inner archive as securetar up to 2024 did (version 1: no header, AES-128-CBC,
        every unaligned write of the tar layer padded on its own), gzip-compressed if GZIP is 1.
    interop.py check OUTER PASSWORD
        Prints JSON {name: validate_password()} for the inner archives of OUTER.
"""

import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from securetar import SecureTarArchive, SecureTarFile, atomic_contents_add

INNER = (".tar", ".tar.gz")


def read(outer, password, outdir):
    outdir = Path(outdir)
    result = {}
    with SecureTarArchive(Path(outer), "r", password=password) as archive:
        members = [m for m in archive.tar.getmembers() if m.name.endswith(INNER)]
        for member in members:
            name = Path(member.name).name
            with archive.extract_tar(member) as stream, open(outdir / name, "wb") as out:
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
            if name.endswith(".tar.gz"):
                fileobj = archive.tar.extractfile(member)
                with SecureTarFile(fileobj=fileobj, password=password) as inner:
                    inner.extractall(outdir / f"{name}.d", filter="data")
            result[name] = {"valid": archive.validate(member)}
    print(json.dumps(result))


def write(outer, password, version, srcdir, plaindir):
    with SecureTarArchive(Path(outer), "w", password=password, create_version=int(version)) as archive:
        metadata = json.dumps({"slug": "interop", "protected": True}).encode()
        info = tarfile.TarInfo("./backup.json")
        info.size = len(metadata)
        archive.tar.addfile(info, io.BytesIO(metadata))
        with archive.create_tar("./data.tar.gz", gzip=True) as inner:
            atomic_contents_add(inner, Path(srcdir), file_filter=lambda _: False, arcname=".")
        for path in sorted(Path(plaindir).iterdir()):
            info = tarfile.TarInfo(f"./{path.name}")
            info.size = path.stat().st_size
            with open(path, "rb") as source:
                archive.import_tar(source, info)


def password_to_key(password):
    key = password.encode()
    for _ in range(100):
        key = hashlib.sha256(key).digest()
    return key[:16]


def key_to_iv(key, salt):
    iv = key + salt
    for _ in range(100):
        iv = hashlib.sha256(iv).digest()
    return iv[:16]


class V1Writer:
    """The file object securetar <= 2024 gave tarfile: pads each unaligned write."""

    def __init__(self, out, password):
        key = password_to_key(password)
        salt = os.urandom(16)
        out.write(salt)
        self._out = out
        self._encryptor = Cipher(algorithms.AES(key), modes.CBC(key_to_iv(key, salt))).encryptor()

    def write(self, data):
        if len(data) % 16:
            padder = padding.PKCS7(128).padder()
            data = padder.update(data) + padder.finalize()
        self._out.write(self._encryptor.update(data))


def write_v1(out, password, srcdir, gzip):
    with open(out, "wb") as file:
        mode = "w|gz" if gzip == "1" else "w|"
        with tarfile.open(fileobj=V1Writer(file, password), mode=mode) as tar:
            atomic_contents_add(tar, Path(srcdir), file_filter=lambda _: False, arcname=".")


def check(outer, password):
    result = {}
    with SecureTarArchive(Path(outer), "r", password=password) as archive:
        for member in archive.tar.getmembers():
            if member.name.endswith(INNER):
                result[Path(member.name).name] = archive.validate_password(member)
    print(json.dumps(result))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"read": read, "write": write, "write-v1": write_v1, "check": check}[command](*args)
