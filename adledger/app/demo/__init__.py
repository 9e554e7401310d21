"""The demo `adledger dev` seeds (also used by the benchmarks and tests, never by a
request): its data, its card plan, and the queries only it needs."""
