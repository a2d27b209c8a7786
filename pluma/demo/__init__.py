"""Demo aircraft programs and deterministic phase-gate data (see :mod:`pluma.demo.datasets`)."""
