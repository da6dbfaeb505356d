"""`python -m bench [--quick] [--only SUITES]`: run the benchmarks from a checkout."""

from bench.harness import main

main()
