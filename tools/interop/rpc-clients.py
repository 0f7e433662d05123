#!/usr/bin/env python3
"""Drives a running daemon's RPC API with a Python IPFS client from PyPI.

    rpc-clients.py ipfshttpclient|aioipfs HOST:PORT

Runs, through the named client: version, id, add (a file from disk and bytes),
cat (whole and a slice), pin add, pin ls, pin rm, pin ls again. Prints one JSON
report on stdout:

    {"client", "version", "id", "added_file", "added_bytes", "cat_file", "cat_slice",
     "pinned_after_add", "pinned_after_rm", "pin_rm"}

(bytes as latin-1 text). Any client error ends the script with exit code 1 and the
error on stderr. The clients are pinned in requirements-rpc-clients.txt.

ipfshttpclient 0.7 refuses daemons whose version is outside [0.4.23, 0.8.0);
its users bypass that check by replacing `ipfshttpclient.client.assert_version`,
as done here.
"""

import asyncio
import json
import os
import sys
import tempfile

FILE_DATA = b"acorn rpc client test: a file from disk\n" * 100
BYTES_DATA = b"acorn rpc client test: bytes\n"


def with_ipfshttpclient(host, port, path):
    import ipfshttpclient
    import ipfshttpclient.client

    # The version check users bypass: the client only knows Kubo up to 0.7.
    ipfshttpclient.client.assert_version = lambda *a, **k: None
    r = {"client": "ipfshttpclient"}
    with ipfshttpclient.connect(f"/ip4/{host}/tcp/{port}/http") as c:
        r["version"] = c.version()["Version"]
        r["id"] = c.id()["ID"]
        # add(file) sends pin=True & co.: Python's spelling of booleans.
        added = c.add(path, pin=False)
        r["added_file"] = added["Hash"]
        r["added_bytes"] = c.add_bytes(BYTES_DATA)
        r["cat_file"] = c.cat(r["added_file"]).decode("latin-1")
        r["cat_slice"] = c.cat(r["added_file"], offset=5, length=10).decode("latin-1")
        c.pin.add(r["added_file"], recursive=True)
        keys = c.pin.ls(type="recursive")["Keys"]
        r["pinned_after_add"] = r["added_file"] in keys
        r["pin_rm"] = c.pin.rm(r["added_file"], recursive=True)["Pins"]
        keys = c.pin.ls(type="recursive")["Keys"]
        r["pinned_after_rm"] = r["added_file"] in keys
    return r


async def with_aioipfs(host, port, path):
    import aioipfs

    r = {"client": "aioipfs"}
    c = aioipfs.AsyncIPFS(host=host, port=port)
    try:
        r["version"] = (await c.version())["Version"]
        r["id"] = (await c.id())["ID"]
        added = [a async for a in c.add(path, pin=False)]
        r["added_file"] = added[-1]["Hash"]
        r["added_bytes"] = (await c.add_bytes(BYTES_DATA))["Hash"]
        r["cat_file"] = (await c.cat(r["added_file"])).decode("latin-1")
        sl = await c.cat(r["added_file"], offset=5, length=10)
        r["cat_slice"] = sl.decode("latin-1")
        async for _ in c.pin.add(r["added_file"], recursive=True, progress=True):
            pass
        keys = (await c.pin.ls(pintype="recursive"))["Keys"]
        r["pinned_after_add"] = r["added_file"] in keys
        r["pin_rm"] = (await c.pin.rm(r["added_file"], recursive=True))["Pins"]
        keys = (await c.pin.ls(pintype="recursive"))["Keys"]
        r["pinned_after_rm"] = r["added_file"] in keys
    finally:
        await c.close()
    return r


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("ipfshttpclient", "aioipfs"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    client = sys.argv[1]
    host, _, port = sys.argv[2].rpartition(":")
    port = int(port)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "file.txt")
        with open(path, "wb") as f:
            f.write(FILE_DATA)
        try:
            if client == "ipfshttpclient":
                report = with_ipfshttpclient(host, port, path)
            else:
                report = asyncio.run(with_aioipfs(host, port, path))
        except Exception as e:  # noqa: BLE001 - any client failure is the answer
            print(f"{client}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
