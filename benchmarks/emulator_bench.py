"""Benchmark the EWS emulator: SyncFolderItems paging and GetItem batches at several folder sizes.

    python benchmarks/emulator_bench.py [--sizes 1000,10000,100000] [--out FILE]

For each size the emulator runs as a separate process (``emulator serve``, schema validation
off) seeded with that many contacts in one folder, so the client and the server do not share a
GIL and the server's peak memory (VmHWM) can be read from /proc. Cases per size:

* ``sync_exchangelib``: full initial ``folder.sync_items()`` through exchangelib, 512 changes
  per page, fields ``display_name`` + ``surname`` (exchangelib builds Contact objects).
* ``sync_raw``: the same full sync with hand-written SOAP over one keep-alive connection (the
  server's own throughput, without exchangelib's parsing cost).
* ``getitem_exchangelib``: 50 GetItem batches of 100 ids spread over the folder
  (``account.fetch``), i.e. a fixed amount of work independent of the folder size.

Prints one JSON document: a list with one object per (case, size) holding wall time, requests
by operation, rates, per-request time and its ratio to the smallest size in the same run.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

USER, PASSWORD = "bench@example.com", "Bench-pw-1"
PAGE = 512
GETITEM_BATCHES, GETITEM_BATCH = 50, 100
OP_RE = re.compile(rb"<m:(\w+)[ >/]")

SYNC_BODY = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
  <s:Body><m:SyncFolderItems>
    <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
      <t:FieldURI FieldURI="contacts:DisplayName"/><t:FieldURI FieldURI="contacts:Surname"/>
    </t:AdditionalProperties></m:ItemShape>
    <m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>{state}
    <m:MaxChangesReturned>{page}</m:MaxChangesReturned>
  </m:SyncFolderItems></s:Body></s:Envelope>"""


def start_server(size: int, workdir: Path):
    seed = workdir / f"seed-{size}.json"
    records = [
        {"DisplayName": f"Person {i}", "GivenName": "Bench", "Surname": f"S{i:06d}"}
        for i in range(size)
    ]
    seed.write_text(
        json.dumps(
            {"users": [{"email": USER, "password": PASSWORD, "items": {"contacts": records}}]}
        )
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from wess_emulator.cli import emulator; emulator()",
            "serve",
            "--port",
            "0",
            "--seed",
            str(seed),
        ],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("emulator did not start")
    return proc, json.loads(line)


def proc_memory_mb(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                key, value = line.split(":", 1)
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def counting_adapter(ca_path: str, counter: collections.Counter):
    from wess_emulator.tls import ca_bundle_adapter

    base = ca_bundle_adapter(ca_path)

    class CountingAdapter(base):
        def send(self, request, *args, **kwargs):
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            m = OP_RE.search(body[:4000])
            counter[m.group(1).decode() if m else "?"] += 1
            return super().send(request, *args, **kwargs)

    return CountingAdapter


def bench_size(size: int, workdir: Path) -> list[dict]:
    from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials
    from exchangelib.protocol import BaseProtocol, close_connections

    t0 = time.perf_counter()
    proc, info = start_server(size, workdir)
    startup = time.perf_counter() - t0
    results = []
    try:
        mem_after_seed = proc_memory_mb(proc.pid)
        counter: collections.Counter = collections.Counter()
        BaseProtocol.HTTP_ADAPTER_CLS = counting_adapter(info["ca_cert"], counter)
        config = Configuration(
            service_endpoint=info["ews_url"],
            credentials=Credentials(USER, PASSWORD),
            auth_type=BASIC,
        )
        account = Account(USER, config=config, autodiscover=False, access_type=DELEGATE)
        folder = account.contacts
        counter.clear()

        # -- exchangelib full sync
        start = time.perf_counter()
        ids = []
        for _kind, item in folder.sync_items(
            only_fields=["display_name", "surname"], max_changes_returned=PAGE
        ):
            ids.append((item.id, item.changekey))
        wall = time.perf_counter() - start
        assert len(ids) == size, (len(ids), size)
        results.append(
            _case("sync_exchangelib", size, wall, dict(counter), size, "SyncFolderItems")
        )

        # -- raw sync over one keep-alive connection
        with requests.Session() as s:
            s.trust_env = False
            s.verify = info["ca_cert"]
            s.auth = (USER, PASSWORD)
            start = time.perf_counter()
            state, n_req, n_items = "", 0, 0
            for _ in range(size // PAGE + 10):
                body = SYNC_BODY.format(
                    state=f"<m:SyncState>{state}</m:SyncState>" if state else "", page=PAGE
                ).encode()
                r = s.post(info["ews_url"], data=body, timeout=60)
                n_req += 1
                r.raise_for_status()
                n_items += r.content.count(b"<t:Create>")
                state = re.search(rb"<m:SyncState>([^<]*)<", r.content).group(1).decode()
                if b"<m:IncludesLastItemInRange>true" in r.content:
                    break
            wall = time.perf_counter() - start
        assert n_items == size, (n_items, size)
        results.append(
            _case("sync_raw", size, wall, {"SyncFolderItems": n_req}, n_items, "SyncFolderItems")
        )

        # -- exchangelib GetItem batches spread over the folder
        counter.clear()
        step = max(1, size // (GETITEM_BATCHES * GETITEM_BATCH))
        sample = ids[::step][: GETITEM_BATCHES * GETITEM_BATCH]
        start = time.perf_counter()
        fetched = list(account.fetch(ids=sample, only_fields=["display_name", "surname"]))
        wall = time.perf_counter() - start
        assert len(fetched) == len(sample) and not any(isinstance(f, Exception) for f in fetched)
        results.append(
            _case("getitem_exchangelib", size, wall, dict(counter), len(sample), "GetItem")
        )
        close_connections()
        mem = proc_memory_mb(proc.pid)
        for r in results:
            r["server_startup_s"] = round(startup, 2)
            r["server_rss_after_seed_mb"] = mem_after_seed.get("VmRSS")
            r["server_peak_rss_mb"] = mem.get("VmHWM")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results


def _case(name, size, wall, requests_by_op, items, main_op) -> dict:
    n = requests_by_op.get(main_op, 0) or 1
    return {
        "case": name,
        "size": size,
        "wall_s": round(wall, 3),
        "requests": requests_by_op,
        "requests_per_s": round(n / wall, 1),
        "items_per_s": round(items / wall, 1),
        "per_request_ms": round(1000 * wall / n, 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--out", help="also write the JSON document to this file")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="wess-emulator-bench-") as tmp:
        for size in sizes:
            print(f"# size {size} ...", file=sys.stderr, flush=True)
            results.extend(bench_size(size, Path(tmp)))
    baseline = {r["case"]: r["per_request_ms"] for r in results if r["size"] == sizes[0]}
    for r in results:
        r["per_request_ratio_vs_smallest"] = round(r["per_request_ms"] / baseline[r["case"]], 2)
    doc = json.dumps(results, indent=2)
    print(doc)
    if args.out:
        Path(args.out).write_text(doc + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
