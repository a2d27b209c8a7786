"""The syntax tree: small frozen dataclasses, plus walking helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "Node", "Number", "String", "Bool", "Name", "DatasetVar", "Unary", "Binary",
    "Compare", "BoolOp", "Not", "Call", "children", "walk", "depth", "is_bare",
]


@dataclass(frozen=True, slots=True)
class Node:
    pos: int  # 0-based offset in the expression text, for error carets


@dataclass(frozen=True, slots=True)
class Number(Node):
    value: int | float
    unit: str | None = None  # unit text as written ("m", "kg/m**2"); None for a bare number


@dataclass(frozen=True, slots=True)
class String(Node):
    value: str


@dataclass(frozen=True, slots=True)
class Bool(Node):
    value: bool


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str


@dataclass(frozen=True, slots=True)
class DatasetVar(Node):
    dataset: str
    var: str

    @property
    def label(self) -> str:
        return f"datasets.{self.dataset}.{self.var}"


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "-" or "+"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str  # + - * / % **
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Compare(Node):
    operands: tuple[Node, ...]  # n+1 operands for n operators: a < b <= c
    ops: tuple[str, ...]
    op_pos: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BoolOp(Node):
    op: str  # "and" or "or"
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


def children(node: Node) -> tuple[Node, ...]:
    match node:
        case Unary(operand=o) | Not(operand=o):
            return (o,)
        case Binary(left=left, right=right):
            return (left, right)
        case Compare(operands=ops) | BoolOp(operands=ops):
            return ops
        case Call(args=args):
            return args
    return ()


def walk(root: Node) -> Iterator[Node]:
    """Yield every node, parents before children, left to right (iterative, no recursion)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def depth(root: Node) -> int:
    """Height of the tree (a lone literal has depth 1), computed without recursion."""
    best, stack = 0, [(root, 1)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        stack.extend((c, d + 1) for c in children(node))
    return best


def is_bare(node: Node) -> bool:
    """True for a unitless number literal or arithmetic made only of them (``-2``, ``3 * 4``).

    Bare numbers take the unit of the quantity they are added to, compared with or
    passed to min/max with ("span > 30" means 30 in span's unit).
    """
    match node:
        case Number(unit=None):
            return True
        case Unary(operand=o):
            return is_bare(o)
        case Binary(left=left, right=right):
            return is_bare(left) and is_bare(right)
        case Call(func="min" | "max" | "abs", args=args):
            return all(is_bare(a) for a in args)
    return False
