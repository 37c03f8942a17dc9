"""Benchmarks: ``make bench`` (small sizes) or ``make bench BENCH_SIZE=large``. Each prints one JSON object per
figure on stdout. Targets are stated beside each figure; they are never asserted in tests."""
