"""Backups as the Python Home Assistant Supervisor writes and reads them, with the `securetar`
library from PyPI, for the black-box interoperability tests.

    supervisor_backup.py make OUTER SLUG PASSWORD VERSION SHARE CONFIG
        Writes OUTER in the Supervisor's layout: ./homeassistant.tar.gz (homeassistant.json and
        data/ from CONFIG), ./share.tar.gz (SHARE as "."), then ./backup.json (version 2).
        PASSWORD "-" means unencrypted (plain gzip inner archives); else SecureTar VERSION.
    supervisor_backup.py read OUTER PASSWORD OUTDIR
        Decrypts every inner archive of OUTER to OUTDIR/<member name>; prints their names.
"""

import io
import json
import sys
import tarfile
from pathlib import Path

from securetar import SecureTarArchive, atomic_contents_add


def add_config(inner, config):
    meta = json.dumps({"version": "2025.1.0", "watchdog": True}).encode()
    info = tarfile.TarInfo("./homeassistant.json")
    info.size = len(meta)
    inner.addfile(info, io.BytesIO(meta))
    atomic_contents_add(inner, Path(config), file_filter=lambda _: False, arcname="data")


def add_share(inner, share):
    atomic_contents_add(inner, Path(share), file_filter=lambda _: False, arcname=".")


def backup_json(slug, protected):
    return json.dumps(
        {
            "slug": slug,
            "version": 2,
            "name": "Made by Python",
            "date": "2025-06-01T12:00:00.000000+00:00",
            "type": "partial",
            "supervisor_version": "2025.06.0",
            "extra": {},
            "compressed": True,
            "protected": protected,
            "homeassistant": {"version": "2025.1.0", "exclude_database": False, "size": 0.0},
            "docker": {"registries": {}},
            "folders": ["share"],
            "addons": [],
            "repositories": [],
        }
    ).encode()


def add_json(tar, slug, protected):
    data = backup_json(slug, protected)
    info = tarfile.TarInfo("./backup.json")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make(outer, slug, password, version, share, config):
    if password == "-":
        with tarfile.open(outer, "w:", format=tarfile.PAX_FORMAT) as tar:
            for name, add, source in (("homeassistant", add_config, config), ("share", add_share, share)):
                buffer = io.BytesIO()
                with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as inner:
                    add(inner, source)
                info = tarfile.TarInfo(f"./{name}.tar.gz")
                info.size = buffer.tell()
                buffer.seek(0)
                tar.addfile(info, buffer)
            add_json(tar, slug, False)
        return
    with SecureTarArchive(Path(outer), "w", password=password, create_version=int(version)) as archive:
        with archive.create_tar("./homeassistant.tar.gz", gzip=True) as inner:
            add_config(inner, config)
        with archive.create_tar("./share.tar.gz", gzip=True) as inner:
            add_share(inner, share)
        add_json(archive.tar, slug, True)


def read(outer, password, outdir):
    names = []
    with SecureTarArchive(Path(outer), "r", password=password) as archive:
        for member in archive.tar.getmembers():
            name = Path(member.name).name
            if name == "backup.json":
                continue
            with archive.extract_tar(member) as stream, open(Path(outdir) / name, "wb") as out:
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
            names.append(name)
    print(json.dumps(sorted(names)))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"make": make, "read": read}[command](*args)
