"""The end-to-end demo (:func:`run_demo`) and its deterministic engineering data (:mod:`pluma.demo.datasets`)."""

from .builder import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
