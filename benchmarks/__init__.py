"""Side-by-side benchmarks: eventledger, the `eventsourcing` library and the raw database driver.

Run ``python -m benchmarks`` (``make bench``) for the full suite or ``--quick`` for a short run.
Every workload runs for the three contenders interleaved in the same process, each figure is the
median of several repeats, and the report gives ratios, never bare claims. See docs/benchmarks.md.
"""
