"""The MiniLM embedding route under 16 concurrent clients: batched against unbatched, in one run.

Usage: python benchmarks/serving.py [--clients 16] [--requests 40]
Prints requests/s and p50/p99 latency per mode.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from serve_embeddings import make_server  # noqa: E402

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Sentences are passed as a list of strings.",
         "A model server batches requests that arrive together.", "short one"]


def client(port: int, seed: int, count: int) -> list[float]:
    conn, latencies = http.client.HTTPConnection("127.0.0.1", port, timeout=60), []
    try:
        for i in range(count):
            query = urllib.parse.urlencode({"text": f"{TEXTS[(seed + i) % len(TEXTS)]} {seed} {i}"})
            start = time.perf_counter()
            conn.request("GET", "/embed?" + query)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"request failed with {response.status}")
            latencies.append(time.perf_counter() - start)
    finally:
        conn.close()
    return latencies


def run(batch_size: int | None, clients: int, requests: int) -> tuple[float, float, float]:
    web = make_server(port=0, batch_size=batch_size)
    _, port = web.bind()
    thread = threading.Thread(target=web.start, daemon=True)
    thread.start()
    try:
        client(port, 0, 2)  # warm-up
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            latencies = sorted(x for part in pool.map(lambda s: client(port, s, requests), range(clients))
                               for x in part)
        elapsed = time.perf_counter() - start
    finally:
        web.shutdown()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return len(latencies) / elapsed, 1000 * statistics.median(latencies), 1000 * p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=40, help="per client")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {name: run(bs, args.clients, args.requests) for name, bs in (("unbatched", None), ("batched", 32))}
    for name, (rps, p50, p99) in results.items():
        print(f"{name:>9}: {rps:7.1f} requests/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    print(f"batched/unbatched throughput: {results['batched'][0] / results['unbatched'][0]:.2f}x")


if __name__ == "__main__":
    main()
