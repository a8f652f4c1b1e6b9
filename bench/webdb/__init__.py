"""The web benchmarks' clinic-chain database: its volume, its rows, written straight into SQLite."""
