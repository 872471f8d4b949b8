"""The rule filter language: YAML mappings compiled once into fast predicates.

A filter is a mapping; every entry must hold (AND). Entries are either combinators::

    all: [filter, ...]      any: [filter, ...]      not: filter

or a field, addressed by dotted path on the pydantic event (`action`, `actor.kind`,
`resource.tenant_id`, `data_categories`...), with a condition::

    action: login_failure                    # equality
    operation: [read, export]                # a list is `in`
    records: {gte: 500}                      # eq ne in not_in lt lte gt gte
    resource.tenant_id: {ne_field: tenant_id}   # field-to-field: eq_field ne_field
    source_ip: {cidr: [10.0.0.0/8]}          # cidr / not_cidr
    country: {exists: true}
    data_categories: {contains: security}    # contains / contains_any (set fields)
    actor.kind: {staff: true}                # staff_support, staff_maintenance, staff_admin
    occurred_at: {outside_hours: {start: "08:00", end: "19:00",
                                  weekdays: [mon, tue, wed, thu, fri], tz: Europe/Paris}}

Several operators in one mapping all must hold. A string value `$name` is replaced by the
catalogue parameter `name` (e.g. `$eu_eea_countries`). Literal values are checked against the
field's type at load (an unknown `action` is an error, not a silent never-match).
"""

from __future__ import annotations

import ipaddress
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time
from enum import Enum
from functools import partial
from operator import attrgetter
from typing import Any, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel

from consumers.conventions import DEFAULT_TIMEZONE
from consumers.events import ActorKind, IpField, canonical_ip, ip_object
from detectors.errors import FilterError

Predicate = Callable[[Any], bool]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STAFF_KINDS = frozenset(k for k in ActorKind if k.is_staff)


def _true(_: Any) -> bool:
    return True


TRUE: Predicate = _true


class FieldType:
    """What the filter compiler needs to know about one event field."""

    __slots__ = ("enum", "is_set", "optional", "path", "py")

    def __init__(
        self, path: str, py: type, *, enum: type[Enum] | None, is_set: bool, optional: bool
    ) -> None:
        self.path = path
        self.py = py
        self.enum = enum
        self.is_set = is_set
        self.optional = optional

    @property
    def is_ip(self) -> bool:
        return self.py is IpField

    @property
    def is_number(self) -> bool:
        return self.py in (int, float)

    @property
    def domain(self) -> tuple[Any, ...] | None:
        """Every value a scalar enumeration or boolean field can take (None included when
        optional); None for other fields."""
        if self.is_set:
            return None
        if self.enum is not None:
            values: tuple[Any, ...] = tuple(self.enum)
        elif self.py is bool:
            values = (True, False)
        else:
            return None
        return (*values, None) if self.optional else values


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Strip Annotated/Optional; returns (inner, optional). IP address fields (text marked
    with `IP_FIELD`) come back as the `IpField` type."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            inner, *metadata = typing.get_args(annotation)
            if any(isinstance(m, IpField) for m in metadata):
                return IpField, optional
            annotation = inner
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) < len(typing.get_args(annotation)):
                optional = True
            if len(args) == 1:
                annotation = args[0]
                continue
            return object, optional
        if annotation is AwareDatetime:
            return datetime, optional
        return annotation, optional


def field_type(model: type[BaseModel], path: str) -> FieldType:
    """The type of `path` on `model`; raises FilterError(path) when there is no such field."""
    current: Any = model
    optional = False
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            raise FilterError(path, f"'{'.'.join(parts[:i])}' has no sub-fields")
        info = current.model_fields.get(part)
        if info is None or (i == 0 and part == "type"):
            raise FilterError(path, f"no field '{part}' on {current.__name__} events")
        if any(isinstance(m, IpField) for m in info.metadata):
            current, opt = IpField, False
        else:
            current, opt = _unwrap(info.annotation)
        optional = optional or opt
    origin = typing.get_origin(current)
    if origin in (frozenset, set):
        (elem,) = typing.get_args(current)
        elem, _ = _unwrap(elem)
        enum = elem if isinstance(elem, type) and issubclass(elem, Enum) else None
        return FieldType(path, elem, enum=enum, is_set=True, optional=optional)
    if isinstance(current, type) and issubclass(current, BaseModel):
        raise FilterError(path, "is an object: address one of its fields (e.g. actor.kind)")
    enum = current if isinstance(current, type) and issubclass(current, Enum) else None
    py = current if isinstance(current, type) else object
    return FieldType(path, py, enum=enum, is_set=False, optional=optional)


def getter(path: str) -> Callable[[Any], Any]:
    """A fast accessor for a dotted path (C-level `attrgetter`)."""
    return attrgetter(path)


_SET_OPERATORS = frozenset({"contains", "contains_any", "exists", "not_contains"})


class _Operand:
    """One operator applied to one field, as the compiler's operator methods receive it."""

    __slots__ = ("arg", "ft", "get", "leaf", "op", "where")

    def __init__(self, ft: FieldType, op: str, arg: Any, where: str) -> None:
        self.ft = ft
        self.op = op
        self.arg = arg
        self.where = where
        self.get = getter(ft.path)
        self.leaf = partial(Leaf, ft.path, self.get, domain=ft.domain)


class _Compiler:
    def __init__(
        self, model: type[BaseModel], *, timezone: str, parameters: Mapping[str, Any]
    ) -> None:
        self.model = model
        self.timezone = timezone
        self.parameters = parameters

    # -- values -------------------------------------------------------------------------

    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in self.parameters:
                raise FilterError(where, f"unknown parameter '${name}'")
            return self.parameters[name]
        return value

    def scalar(self, ft: FieldType, value: Any, where: str) -> Any:
        value = self.resolve(value, where)
        if value is None:
            return None
        if ft.enum is not None:
            allowed: list[str] = [str(m.value) for m in ft.enum]
            if value not in allowed:
                raise FilterError(
                    where, f"{value!r} is not a valid {ft.path} (one of {', '.join(allowed)})"
                )
            return ft.enum(value)
        if ft.is_ip:
            try:
                return canonical_ip(str(value))
            except ValueError:
                raise FilterError(where, f"{value!r} is not an IP address") from None
        if ft.py is bool:
            if not isinstance(value, bool):
                raise FilterError(where, f"{value!r} is not true/false")
            return value
        if ft.is_number:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FilterError(where, f"{value!r} is not a number")
            return value
        if ft.py is str:
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise FilterError(where, f"{value!r} is not a string")
            return str(value)
        raise FilterError(where, f"cannot compare {ft.path} with a literal value")

    def values(self, ft: FieldType, value: Any, where: str) -> frozenset[Any]:
        value = self.resolve(value, where)
        if isinstance(value, str) or not isinstance(value, Sequence | set | frozenset):
            raise FilterError(where, "expects a list")
        return frozenset(self.scalar(ft, v, where) for v in value)

    # -- filters ------------------------------------------------------------------------

    def compile(self, spec: Any, where: str) -> Node:
        spec = self.resolve(spec, where)
        if spec is None:
            return ALWAYS
        if not isinstance(spec, Mapping) or not spec:
            raise FilterError(where, "a filter is a non-empty mapping of field: condition")
        parts: list[Node] = []
        for key, cond in spec.items():
            if not isinstance(key, str):
                raise FilterError(where, f"filter keys are strings, got {key!r}")
            sub = f"{where}.{key}"
            if key in ("all", "any"):
                if not isinstance(cond, list) or not cond:
                    raise FilterError(sub, "expects a non-empty list of filters")
                nodes = tuple(self.compile(c, f"{sub}[{i}]") for i, c in enumerate(cond))
                parts.append(AllOf(nodes) if key == "all" else AnyOf(nodes))
            elif key == "not":
                parts.append(NotOf(self.compile(cond, sub)))
            else:
                try:
                    ft = field_type(self.model, key)
                except FilterError as exc:
                    raise FilterError(sub, exc.detail) from None
                parts.extend(self.condition(ft, cond, sub))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def condition(self, ft: FieldType, cond: Any, where: str) -> list[Leaf]:
        cond = self.resolve(cond, where)
        if not isinstance(cond, Mapping):
            if isinstance(cond, list):
                return [self.op(ft, "in", cond, where)]
            return [self.op(ft, "eq", cond, where)]
        if not cond:
            raise FilterError(where, "empty condition")
        return [self.op(ft, str(op), arg, f"{where}.{op}") for op, arg in cond.items()]

    def op(self, ft: FieldType, op: str, arg: Any, where: str) -> Leaf:
        """One condition on one field: a test of the field's value (`Leaf.test`), and the
        same test on an event (`Leaf.pred`, written out for the common operators)."""
        if ft.is_set and op not in _SET_OPERATORS:
            raise FilterError(where, f"{ft.path} is a set: use contains / contains_any")
        handler = _OPERATORS.get(op)
        if handler is None:
            raise FilterError(where, f"unknown operator '{op}'")
        return handler(self, _Operand(ft, op, arg, where))

    # -- one method a family of operators (`_OPERATORS`) ----------------------------------

    def op_equality(self, o: _Operand) -> Leaf:
        value = self.scalar(o.ft, o.arg, o.where)
        get = o.get
        if o.op == "eq":
            return o.leaf(lambda v: v == value, lambda ev: get(ev) == value)
        return o.leaf(lambda v: v != value, lambda ev: get(ev) != value)

    def op_membership(self, o: _Operand) -> Leaf:
        vals = self.values(o.ft, o.arg, o.where)
        get = o.get
        if o.op == "in":
            return o.leaf(lambda v: v in vals, lambda ev: get(ev) in vals)
        return o.leaf(lambda v: v not in vals, lambda ev: get(ev) not in vals)

    def op_numeric(self, o: _Operand) -> Leaf:
        if not o.ft.is_number:
            raise FilterError(o.where, f"{o.ft.path} is not numeric")
        num = self.scalar(o.ft, o.arg, o.where)
        if num is None:
            raise FilterError(o.where, "expects a number")
        return o.leaf(_numeric(o.op, num))

    def op_field(self, o: _Operand) -> Leaf:
        ft, where = o.ft, o.where
        other_path = self.resolve(o.arg, where)
        if not isinstance(other_path, str):
            raise FilterError(where, "expects a field path")
        try:
            other_ft = field_type(self.model, other_path)
        except FilterError as exc:
            raise FilterError(where, exc.detail) from None
        if other_ft.is_set or other_ft.py is not ft.py and not (ft.is_ip and other_ft.is_ip):
            raise FilterError(where, f"{ft.path} and {other_path} have different types")
        get, other = o.get, getter(other_path)
        # two fields: never decided by one field's value (`path` None)
        if o.op == "eq_field":
            return Leaf(None, get, _never, lambda ev: get(ev) == other(ev))
        return Leaf(None, get, _never, lambda ev: get(ev) != other(ev))

    def op_cidr(self, o: _Operand) -> Leaf:
        if not o.ft.is_ip:
            raise FilterError(o.where, f"{o.ft.path} is not an IP address")
        nets = self.networks(o.arg, o.where)
        if o.op == "cidr":
            return o.leaf(lambda v: _in_nets(v, nets))
        return o.leaf(lambda v: not _in_nets(v, nets))

    def op_exists(self, o: _Operand) -> Leaf:
        flag = self.resolve(o.arg, o.where)
        if not isinstance(flag, bool):
            raise FilterError(o.where, "expects true or false")
        get = o.get
        if flag:
            return o.leaf(lambda v: v is not None, lambda ev: get(ev) is not None)
        return o.leaf(lambda v: v is None, lambda ev: get(ev) is None)

    def op_contains(self, o: _Operand) -> Leaf:
        if not o.ft.is_set:
            raise FilterError(o.where, f"{o.ft.path} is not a set field")
        if o.op == "contains_any":
            vals = self.values(o.ft, o.arg, o.where)
            return o.leaf(lambda v: not vals.isdisjoint(v))
        value = self.scalar(o.ft, o.arg, o.where)
        get = o.get
        if o.op == "contains":
            return o.leaf(lambda v: value in v, lambda ev: value in get(ev))
        return o.leaf(lambda v: value not in v, lambda ev: value not in get(ev))

    def op_staff(self, o: _Operand) -> Leaf:
        flag = self.resolve(o.arg, o.where)
        if o.ft.enum is not ActorKind:
            raise FilterError(o.where, "'staff' applies to actor.kind")
        if not isinstance(flag, bool):
            raise FilterError(o.where, "expects true or false")
        get = o.get
        if flag:
            return o.leaf(lambda v: v in STAFF_KINDS, lambda ev: get(ev) in STAFF_KINDS)
        return o.leaf(lambda v: v not in STAFF_KINDS, lambda ev: get(ev) not in STAFF_KINDS)

    def op_hours(self, o: _Operand) -> Leaf:
        if o.ft.py is not datetime:
            raise FilterError(o.where, f"{o.ft.path} is not a timestamp")
        inside = self.hours(o.arg, o.where)
        # cheap tests first: time-of-day tests (time zone conversion) are the costliest
        if o.op == "business_hours":
            return o.leaf(inside, cost=10)
        return o.leaf(lambda v: not inside(v), cost=10)

    def networks(
        self, arg: Any, where: str
    ) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        arg = self.resolve(arg, where)
        items = [arg] if isinstance(arg, str) else arg
        if not isinstance(items, list) or not items:
            raise FilterError(where, "expects a CIDR or a list of CIDRs")
        nets = []
        for item in items:
            try:
                nets.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError:
                raise FilterError(where, f"{item!r} is not a CIDR network") from None
        return tuple(nets)

    def hours(self, arg: Any, where: str) -> Callable[[datetime], bool]:
        spec = self.resolve(arg, where)
        if not isinstance(spec, Mapping):
            raise FilterError(where, "expects {start, end, weekdays, tz}")
        unknown = set(spec) - {"start", "end", "weekdays", "tz"}
        if unknown:
            raise FilterError(f"{where}.{sorted(unknown)[0]}", "unknown key")
        start = _clock(self.resolve(spec.get("start", "08:00"), where), f"{where}.start")
        end = _clock(self.resolve(spec.get("end", "19:00"), where), f"{where}.end")
        if end <= start:
            raise FilterError(f"{where}.end", "must be after start")
        days_raw = self.resolve(spec.get("weekdays", list(WEEKDAYS[:5])), f"{where}.weekdays")
        if not isinstance(days_raw, list) or not days_raw:
            raise FilterError(f"{where}.weekdays", "expects a list such as [mon, tue]")
        days = set()
        for d in days_raw:
            if str(d).lower()[:3] not in WEEKDAYS:
                raise FilterError(f"{where}.weekdays", f"{d!r} is not a weekday")
            days.add(WEEKDAYS.index(str(d).lower()[:3]))
        tz_name = self.resolve(spec.get("tz", self.timezone), f"{where}.tz")
        try:
            tz = ZoneInfo(str(tz_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise FilterError(f"{where}.tz", f"unknown time zone {tz_name!r}") from None
        frozen_days = frozenset(days)

        def inside(moment: datetime) -> bool:
            local = moment.astimezone(tz)
            return local.weekday() in frozen_days and start <= local.time() < end

        return inside


# operator → the `_Compiler` method that compiles it
_OPERATORS: dict[str, Callable[[_Compiler, _Operand], Leaf]] = {
    **dict.fromkeys(("eq", "ne"), _Compiler.op_equality),
    **dict.fromkeys(("in", "not_in"), _Compiler.op_membership),
    **dict.fromkeys(("lt", "lte", "gt", "gte"), _Compiler.op_numeric),
    **dict.fromkeys(("eq_field", "ne_field"), _Compiler.op_field),
    **dict.fromkeys(("cidr", "not_cidr"), _Compiler.op_cidr),
    "exists": _Compiler.op_exists,
    **dict.fromkeys(("contains", "not_contains", "contains_any"), _Compiler.op_contains),
    "staff": _Compiler.op_staff,
    **dict.fromkeys(("business_hours", "outside_hours"), _Compiler.op_hours),
}


def _clock(value: Any, where: str) -> time:
    try:
        hh, mm = str(value).split(":")
        if hh == "24" and mm == "00":
            return time.max
        return time(int(hh), int(mm))
    except ValueError:
        raise FilterError(where, f"{value!r} is not a HH:MM time") from None


def _in_nets(
    text: str | None, nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    if text is None:
        return False
    ip = ip_object(text)
    return any(ip.version == n.version and ip in n for n in nets)


def _numeric(op: str, num: float) -> Callable[[Any], bool]:
    if op == "lt":
        return lambda v: v is not None and v < num
    if op == "lte":
        return lambda v: v is not None and v <= num
    if op == "gt":
        return lambda v: v is not None and v > num
    return lambda v: v is not None and v >= num


def _never(_: Any) -> bool:
    return False


def _and(preds: list[Predicate]) -> Predicate:
    if not preds:
        return TRUE
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda ev: a(ev) and b(ev)
    if len(preds) == 3:
        a, b, c = preds
        return lambda ev: a(ev) and b(ev) and c(ev)
    first, rest = preds[0], _and(preds[1:])
    return lambda ev: first(ev) and rest(ev)


def _or(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    tup = tuple(preds)
    return lambda ev: any(p(ev) for p in tup)


def _not(pred: Predicate) -> Predicate:
    return lambda ev: not pred(ev)


# -- compiled filters -------------------------------------------------------------------
#
# A filter compiles to a small tree (`Node`) before it becomes a predicate, so that it can
# be *specialised*: given the values of some fields (`specialize(node, {"action": …})`), the
# conditions on those fields are decided once, at load, and only the rest is left to test
# per event. The detection engine does this for every combination of the enumerated fields
# its rules test (`action`, `outcome`, `operation`, `actor.kind`, `tls`…): an event then
# reaches only the rules it can match, through what is left of their filters.


class Node:
    """A compiled filter (or part of one)."""

    __slots__ = ()

    def cost(self) -> int:
        return 0


class Const(Node):
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value


ALWAYS = Const(True)
NEVER = Const(False)


class Leaf(Node):
    """One condition on one field (`path`; None when it reads two fields): `test` takes the
    field's value, `pred` the event. `domain` lists every value the field can take when it is
    an enumeration or a boolean (None otherwise)."""

    __slots__ = ("domain", "get", "path", "pred", "test", "weight")

    def __init__(
        self,
        path: str | None,
        get: Callable[[Any], Any],
        test: Callable[[Any], bool],
        pred: Predicate | None = None,
        *,
        domain: tuple[Any, ...] | None = None,
        cost: int = 0,
    ) -> None:
        self.path = path
        self.get = get
        self.test = test
        self.pred: Predicate = pred if pred is not None else (lambda ev: test(get(ev)))
        self.domain = domain if path is not None else None
        self.weight = cost

    def cost(self) -> int:
        return self.weight


class _Combination(Node):
    __slots__ = ("parts",)

    def __init__(self, parts: tuple[Node, ...]) -> None:
        self.parts = parts

    def cost(self) -> int:
        return max((p.cost() for p in self.parts), default=0)


class AllOf(_Combination):
    __slots__ = ()


class AnyOf(_Combination):
    __slots__ = ()


class NotOf(Node):
    __slots__ = ("part",)

    def __init__(self, part: Node) -> None:
        self.part = part

    def cost(self) -> int:
        return self.part.cost()


def predicate(node: Node) -> Predicate:
    """The event predicate of a compiled filter (cheap conditions tested first)."""
    if isinstance(node, Const):
        return TRUE if node.value else _never
    if isinstance(node, Leaf):
        return node.pred
    if isinstance(node, NotOf):
        return _not(predicate(node.part))
    assert isinstance(node, _Combination)  # noqa: S101 - the node kinds are closed
    parts = sorted(node.parts, key=lambda p: p.cost())
    preds = [predicate(p) for p in parts]
    return _and(preds) if isinstance(node, AllOf) else _or(preds)


def specialize(node: Node, known: Mapping[str, Any]) -> Node:
    """`node` with every condition on a field of `known` replaced by its outcome."""
    if isinstance(node, Const):
        return node
    if isinstance(node, Leaf):
        if node.path is not None and node.path in known:
            return ALWAYS if node.test(known[node.path]) else NEVER
        return node
    if isinstance(node, NotOf):
        inner = specialize(node.part, known)
        if isinstance(inner, Const):
            return NEVER if inner.value else ALWAYS
        return NotOf(inner)
    assert isinstance(node, _Combination)  # noqa: S101 - the node kinds are closed
    is_all = isinstance(node, AllOf)
    decisive = NEVER if is_all else ALWAYS  # what ends an AllOf / an AnyOf
    kept = []
    for part in node.parts:
        s = specialize(part, known)
        if isinstance(s, Const):
            if s.value is decisive.value:
                return decisive
            continue
        kept.append(s)
    if not kept:
        return ALWAYS if is_all else NEVER
    if len(kept) == 1:
        return kept[0]
    return AllOf(tuple(kept)) if is_all else AnyOf(tuple(kept))


def leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    if isinstance(node, NotOf):
        return leaves(node.part)
    if isinstance(node, _Combination):
        return [leaf for part in node.parts for leaf in leaves(part)]
    return []


def compile_node(
    spec: Any,
    *,
    model: type[BaseModel],
    where: str = "filter",
    timezone: str = DEFAULT_TIMEZONE,
    parameters: Mapping[str, Any] | None = None,
) -> Node:
    """Compile a filter for events of `model` into a `Node`. Raises `FilterError` naming the
    field path."""
    return _Compiler(model, timezone=timezone, parameters=parameters or {}).compile(spec, where)


def check_field(model: type[BaseModel], path: str, where: str) -> FieldType:
    """Validate a dotted field path used outside filters (group_by, field, sum)."""
    try:
        return field_type(model, path)
    except FilterError as exc:
        raise FilterError(where, exc.detail) from None
