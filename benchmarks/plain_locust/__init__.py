"""The "usual way" Locust baseline that ``benchmarks/generator_cost.py`` compares the harness generator with."""
