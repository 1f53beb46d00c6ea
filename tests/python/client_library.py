"""The supervisor through `aiohasupervisor`, Home Assistant Core's client library from PyPI: every
call is made as Core makes it and its answer parsed into the library's models, so a field that is
missing or of the wrong type fails here as it would fail in Core.

    client_library.py [--write]

Reads `SUPERVISOR` (host:port) and `SUPERVISOR_TOKEN` from the environment. Prints one line per
call: `OK   <endpoint>`, `FAIL <endpoint>: <error>` or `SKIP <endpoint>: <why>` (a method this
version of the library does not have), and `VALUE <name> <json>` for what the caller asserts.
Without `--write` it only reads (what Core does at start); with it, it also changes what a test
can undo: the time servers, the Raspberry Pi firmware, a backup, the store's repositories.
"""

import asyncio
import dataclasses
import json
import os
import sys

from aiohasupervisor import SupervisorClient


def show(name, value):
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    print(f"VALUE {name} {json.dumps(value, default=str)}", flush=True)


async def main(write):
    client = SupervisorClient("http://" + os.environ["SUPERVISOR"], os.environ["SUPERVISOR_TOKEN"])

    async def call(endpoint, owner, name, *args):
        method = getattr(owner, name, None)
        if method is None:
            print(f"SKIP {endpoint}: the library has no {name}", flush=True)
            return None
        try:
            value = await method(*args)
        except Exception as err:
            print(f"FAIL {endpoint}: {type(err).__name__}: {err}".replace("\n", " "), flush=True)
            return None
        print(f"OK   {endpoint}", flush=True)
        return value

    c = client
    reads = [
        ("GET /info", None, "info"),
        ("GET /available_updates", None, "available_updates"),
        ("GET /supervisor/ping", "supervisor", "ping"),
        ("GET /supervisor/info", "supervisor", "info"),
        ("GET /supervisor/stats", "supervisor", "stats"),
        ("GET /core/info", "homeassistant", "info"),
        ("GET /core/stats", "homeassistant", "stats"),
        ("GET /host/info", "host", "info"),
        ("GET /host/services", "host", "services"),
        ("GET /host/disks/default/usage", "host", "get_disk_usage"),
        ("GET /host/logs/boots", "host", "log_boots"),
        ("GET /host/logs/identifiers", "host", "log_identifiers"),
        ("GET /os/info", "os", "info"),
        ("GET /os/config/swap", "os", "swap_info"),
        ("GET /os/datadisk/list", "os", "list_data_disks"),
        ("GET /os/boards/yellow", "os", "yellow_info"),
        ("GET /os/boards/green", "os", "green_info"),
        ("GET /os/boards/raspberrypi/firmware", "os", "raspberry_pi_firmware_info"),
        ("GET /network/info", "network", "info"),
        ("GET /backups", "backups", "list"),
        ("GET /backups/info", "backups", "info"),
        ("GET /discovery", "discovery", "list"),
        ("GET /jobs/info", "jobs", "info"),
        ("GET /mounts", "mounts", "info"),
        ("GET /resolution/info", "resolution", "info"),
        ("GET /ingress/panels", "ingress", "panels"),
        ("GET /time/info", "time", "info"),
    ]
    for endpoint, component, name in reads:
        # A component this version of the library lacks is skipped like a missing method.
        await call(endpoint, getattr(c, component, None) if component else c, name)
    await call("GET /network/interface/default/info", c.network, "interface_info", "default")
    await call("GET /store", c.store, "info")
    addons = await call("GET /store/addons", c.store, "addons_list") or []
    repositories = await call("GET /store/repositories", c.store, "repositories_list") or []
    installed = await call("GET /addons", c.addons, "list") or []
    for addon in addons[:1]:
        await call(f"GET /store/addons/{addon.slug}", c.store, "addon_info", addon.slug)
        await call(f"GET /store/addons/{addon.slug}/changelog", c.store, "addon_changelog", addon.slug)
        await call(f"GET /store/addons/{addon.slug}/documentation", c.store, "addon_documentation", addon.slug)
        await call(f"GET /store/addons/{addon.slug}/availability", c.store, "addon_availability", addon.slug)
    for repository in repositories[:1]:
        await call(f"GET /store/repositories/{repository.slug}", c.store, "repository_info", repository.slug)
    for addon in installed[:1]:
        await call(f"GET /addons/{addon.slug}/info", c.addons, "addon_info", addon.slug)
        await call(f"GET /addons/{addon.slug}/stats", c.addons, "addon_stats", addon.slug)
        await call(f"GET /addons/{addon.slug}/options/config", c.addons, "addon_config", addon.slug)
    if write:
        await writes(c, call)
    await client.close()


async def writes(c, call):
    from aiohasupervisor.models import FullBackupOptions, TimeOptions

    servers = TimeOptions(servers=["pool.ntp.org", "192.168.1.1"], fallback_servers=["time.example.org"])
    await call("POST /time/options", c.time, "set_options", servers)
    show("time_set", await call("GET /time/info", c.time, "info"))
    await call("POST /time/options", c.time, "set_options", TimeOptions(servers=[], fallback_servers=[]))
    show("time_reset", await call("GET /time/info", c.time, "info"))
    await call("POST /time/options (bad)", c.time, "set_options", TimeOptions(servers=["not a server"]))

    await call("POST /os/boards/raspberrypi/firmware/update", c.os, "update_raspberry_pi_firmware")
    show("firmware", await call("GET /os/boards/raspberrypi/firmware", c.os, "raspberry_pi_firmware_info"))

    backup = await call("POST /backups/new/full", c.backups, "full_backup", FullBackupOptions(name="client library"))
    if backup is not None and backup.slug:
        show("backup", await call(f"GET /backups/{backup.slug}/info", c.backups, "backup_info", backup.slug))
        await call(f"DELETE /backups/{backup.slug}", c.backups, "remove_backup", backup.slug)

    await call("POST /resolution/healthcheck", c.resolution, "healthcheck")
    await call("POST /store/reload", c.store, "reload")
    await call("POST /supervisor/reload", c.supervisor, "reload")
    await call("POST /refresh_updates", c, "refresh_updates")


asyncio.run(main("--write" in sys.argv[1:]))
