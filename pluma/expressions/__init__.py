"""The safe expression language for gate checks and queries.

Text is tokenized (lexer.py), parsed by recursive descent into a tree of small
dataclasses (parser.py, nodes.py) and evaluated by walking that tree
(evaluator.py, functions.py, values.py). Python's eval/exec/compile are never used.

>>> from pluma.units import ureg
>>> parse("span > 100 ft").evaluate(MappingResolver({"span": 36 * ureg.m})).passed
True
"""

from .evaluator import MAX_EXPONENT
from .expression import Evaluation, Expression, parse
from .functions import ALLOWED as FUNCTIONS
from .parser import MAX_DEPTH, MAX_LENGTH, MAX_NESTING
from .resolver import MappingResolver, MissingValue, Resolver
from .values import format_value

__all__ = [
    "Evaluation",
    "Expression",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_NESTING",
    "MappingResolver",
    "MissingValue",
    "Resolver",
    "format_value",
    "parse",
]
