"""Report speed: one client's feedback summary and a 30-client supervision packet, end to end.

Loads the synthetic sample (through the real importer) into an in-memory store, large enough that at least
30 clients are off track, at risk or have an alliance concern, then times:

* the client summary (client_detail + discussion guide + PDF with its vector chart): the first call in the
  process and warm calls, with the PDF's share;
* the supervision packet with the 30 most urgent clients (cover + 30 client pages), and seconds per page.

Targets on the 2-core reference machine: client summary < 2 s, 30-client packet < 20 s.

    python benchmarks/report_speed.py [--clients 130] [--seed 7] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date

TARGETS = {"client_summary": 2.0, "packet_30": 20.0}
TODAY = date(2026, 11, 20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=130, help="sample clients (130 gives 30+ to discuss)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="warm client summaries to time")
    args = parser.parse_args(argv)

    from caseload.engine import caseload_overview, client_detail
    from caseload.guide import discussion_guide
    from caseload.measures import load_measures
    from caseload.reports.client_summary import client_summary_pdf
    from caseload.reports.packet import client_pages, supervision_packet_pdf
    from caseload.sample import load_sample
    from caseload.store import connect
    from caseload.supervision import clients_to_discuss

    registry = load_measures()
    con = connect(":memory:")
    t = time.perf_counter()
    load_sample(con, registry, n_clients=args.clients, seed=args.seed, today=TODAY)
    overview = caseload_overview(con, registry, today=TODAY)
    discuss = list(dict.fromkeys(clients_to_discuss(overview)["client_id"]))
    print(
        f"store: {args.clients} sample clients loaded in {time.perf_counter() - t:.1f} s; {len(discuss)} to discuss"
    )

    def summary(client_id: str) -> tuple[float, float, int, float]:
        start, cpu = time.perf_counter(), time.process_time()
        detail = client_detail(con, registry, client_id, today=TODAY)
        guide = discussion_guide(detail, registry)
        chosen = [p.id for p in guide if p.section in ("risk", "question", "option")][:4]
        middle = time.perf_counter()
        data = client_summary_pdf(detail, registry, chosen)
        end = time.perf_counter()
        return end - start, end - middle, len(data), time.process_time() - cpu

    first, first_pdf, size, first_cpu = summary(discuss[0])
    runs = [summary(c) for c in discuss[1 : 1 + args.repeat]]
    warm = [r[0] for r in runs]
    print(
        f"client summary: first call {first:.2f} s (CPU {first_cpu:.2f} s; PDF part {first_pdf:.2f} s), warm "
        f"median {statistics.median(warm):.2f} s (CPU {statistics.median(r[3] for r in runs):.2f} s; PDF part "
        f"{statistics.median(r[1] for r in runs):.2f} s; max total {max(warm):.2f} s), PDF {size / 1024:.0f} KB"
    )

    if len(discuss) < 30:
        print(f"only {len(discuss)} clients to discuss: raise --clients", file=sys.stderr)
        return 2
    start, cpu = time.perf_counter(), time.process_time()
    data = supervision_packet_pdf(con, registry, today=TODAY, limit=30)
    packet_30, packet_cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    client_pages(con, registry, overview, TODAY, limit=30)  # the engine's part: 30 x client_detail + guide
    engine_part = time.perf_counter() - start
    print(
        f"packet: 30 client pages + cover in {packet_30:.1f} s (CPU {packet_cpu:.1f} s; {packet_30 / 30:.2f} s per "
        f"client, of which client_detail and the guide about {engine_part / 30:.2f} s), PDF {len(data) / 1024:.0f} KB"
    )
    load = os.getloadavg()[0]
    print(f"load average while measuring: {load:.1f} on {os.cpu_count()} cores (wall times grow with it)")

    results = {"client_summary": max(first, *warm), "packet_30": packet_30}
    failed = False
    for key, target in TARGETS.items():
        ok = results[key] < target
        failed |= not ok
        label = "30-client packet" if key == "packet_30" else "client summary (worst call)"
        print(f"{label}: {results[key]:.2f} s, target < {target:.0f} s: {'OK' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
