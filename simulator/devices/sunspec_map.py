"""SunSpec register maps built from pysunspec2's own model definitions.

Why this module exists: the firmware and the edge decode our devices with
their own SunSpec code, so the map we serve must be exactly what the SunSpec
model files say. We therefore never retype a point: names, types, sizes,
scale-factor links, access rights and symbols all come from the JSON models
shipped in pysunspec2 (``sunspec2.device.get_model_def``), and the byte
encoding of each type (including the "not implemented" sentinels) comes from
``sunspec2.mb``. This module is pure: values in, registers out, and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

from sunspec2 import device as ss_device
from sunspec2 import mb as ss_mb
from sunspec2 import mdef as ss_mdef

#: Modbus (0-based PDU) address of the "SunS" marker; mbpoll calls it 40001.
BASE_ADDRESS = 40000
#: The two marker registers, "SunS" in ASCII.
SUNS_MARKER = (0x5375, 0x6E53)
END_MODEL_ID = ss_mb.SUNS_END_MODEL_ID

#: A raw point value: an int for numeric types, a str for strings, None = not implemented.
RawValue = int | str | None

_INT_RANGES = {
    # type: (min, max) of valid values; the "not implemented" sentinel is excluded.
    ss_mdef.TYPE_INT16: (-32767, 32767),
    ss_mdef.TYPE_UINT16: (0, 0xFFFE),
    ss_mdef.TYPE_COUNT: (0, 0xFFFE),
    ss_mdef.TYPE_ACC16: (0, 0xFFFF),
    ss_mdef.TYPE_ENUM16: (0, 0xFFFE),
    ss_mdef.TYPE_BITFIELD16: (0, 0x7FFF),
    ss_mdef.TYPE_SUNSSF: (-10, 10),
    ss_mdef.TYPE_INT32: (-(2**31) + 1, 2**31 - 1),
    ss_mdef.TYPE_UINT32: (0, 0xFFFFFFFE),
    ss_mdef.TYPE_ACC32: (0, 0xFFFFFFFF),
    ss_mdef.TYPE_ENUM32: (0, 0xFFFFFFFE),
    ss_mdef.TYPE_BITFIELD32: (0, 0x7FFFFFFF),
    ss_mdef.TYPE_INT64: (-(2**63) + 1, 2**63 - 1),
    ss_mdef.TYPE_UINT64: (0, 2**64 - 2),
    ss_mdef.TYPE_ACC64: (0, 2**64 - 1),
    ss_mdef.TYPE_PAD: (0, 0),
}


_ACC_TYPES = (ss_mdef.TYPE_ACC16, ss_mdef.TYPE_ACC32, ss_mdef.TYPE_ACC64)


class MapError(ValueError):
    """A value or model that cannot be put into a SunSpec map."""


@dataclass(frozen=True)
class PointDef:
    """One point of a model, as pysunspec2 defines it."""

    name: str
    type: str
    size: int  # registers
    offset: int  # registers from the model's ID register (ID is offset 0, L is 1)
    sf: str | int | None = None  # name of the scale-factor point, or a fixed integer
    access: str = "R"
    mandatory: bool = False
    units: str | None = None
    symbols: tuple[tuple[str, int], ...] = ()

    @property
    def writable(self) -> bool:
        return self.access == "RW"


@dataclass(frozen=True)
class ModelDef:
    """A fixed-length SunSpec model: its id, length L and points in order."""

    id: int
    name: str
    length: int  # the L register: registers after ID and L
    points: tuple[PointDef, ...]
    _by_name: dict[str, PointDef] = field(default_factory=dict, compare=False, repr=False)

    def point(self, name: str) -> PointDef:
        try:
            return self._by_name[name]
        except KeyError:
            raise MapError(f"model {self.id} has no point {name!r}") from None


@cache
def model_def(model_id: int) -> ModelDef:
    """Load model ``model_id`` from pysunspec2's JSON model files.

    Only fixed-length models (no repeating groups) are supported: that is what
    models 1, 124, 201, 203 and 802 are, and it keeps offsets static so the
    firmware can poll fixed addresses.
    """
    try:
        raw = ss_device.get_model_def(model_id)
    except ss_mdef.ModelDefinitionError as exc:
        raise MapError(f"pysunspec2 has no model {model_id}: {exc}") from None
    group = raw[ss_mdef.GROUP]
    if group.get(ss_mdef.GROUPS):
        raise MapError(f"model {model_id} has repeating groups; only fixed models are served")
    points: list[PointDef] = []
    offset = 0
    for p in group[ss_mdef.POINTS]:
        ptype = p[ss_mdef.TYPE]
        size = ss_mb.point_type_info[ptype].len or int(p[ss_mdef.SIZE])
        symbols = tuple((s["name"], int(s["value"])) for s in p.get(ss_mdef.SYMBOLS, []))
        points.append(
            PointDef(
                name=p[ss_mdef.NAME],
                type=ptype,
                size=int(size),
                offset=offset,
                sf=p.get(ss_mdef.SF),
                access=p.get(ss_mdef.ACCESS, "R"),
                mandatory=p.get(ss_mdef.MANDATORY) == "M",
                units=p.get(ss_mdef.UNITS),
                symbols=symbols,
            )
        )
        offset += int(size)
    md = ModelDef(
        id=int(raw[ss_mdef.ID]),
        name=group[ss_mdef.NAME],
        length=offset - 2,
        points=tuple(points),
    )
    md._by_name.update({p.name: p for p in points})
    return md


# ---------------------------------------------------------------- values


def scale_factor_of(model: ModelDef, point: PointDef, raw: dict[str, RawValue]) -> int:
    """The scale factor that applies to ``point`` given the model's raw values."""
    if point.sf is None:
        return 0
    if isinstance(point.sf, int) or str(point.sf).lstrip("-").isdigit():
        return int(point.sf)
    sf = raw.get(str(point.sf))
    if not isinstance(sf, int):
        raise MapError(f"model {model.id} point {point.name}: scale factor {point.sf} is not set")
    return sf


def to_raw(value: float | int, sf: int, ptype: str, clip: bool = True) -> int:
    """Physical value -> register integer for a point with scale factor ``sf``.

    Rounds half away from zero; with ``clip`` the result is held inside the
    type's valid range (never the not-implemented sentinel), else a value out
    of range raises MapError.
    """
    scaled = value / (10.0**sf) if sf else value
    if isinstance(scaled, float):
        if math.isnan(scaled):
            raise MapError("NaN has no SunSpec encoding")
        scaled = int(math.copysign(math.floor(abs(scaled) + 0.5), scaled))
    lo, hi = _INT_RANGES[ptype]
    if scaled < lo or scaled > hi:
        if not clip:
            raise MapError(f"value {value} (raw {scaled}) outside {ptype} range {lo}..{hi}")
        scaled = min(max(scaled, lo), hi)
    return int(scaled)


def from_raw(raw: int, sf: int) -> float | int:
    """Register integer -> physical value (an int when sf >= 0)."""
    return raw * 10**sf if sf >= 0 else raw / 10 ** (-sf)


def is_implemented(point: PointDef, raw: RawValue) -> bool:
    """False for the SunSpec "not implemented" sentinel of the point's type."""
    if raw is None:
        return False
    if point.type == ss_mdef.TYPE_STRING:
        return bool(str(raw).strip("\0"))
    return bool(ss_mb.point_type_info[point.type].is_impl(raw))


# ---------------------------------------------------------------- encoding


def _bytes_to_regs(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _regs_to_bytes(regs: list[int]) -> bytes:
    return b"".join(int(r).to_bytes(2, "big") for r in regs)


def encode_point(point: PointDef, raw: RawValue) -> list[int]:
    """One point's raw value -> its registers (pysunspec2's byte encoding)."""
    info = ss_mb.point_type_info[point.type]
    if raw is None:
        data = ss_mb.create_unimpl_value(point.type, point.size * 2)
    elif point.type == ss_mdef.TYPE_STRING:
        text = str(raw)
        if len(text.encode("utf-8")) > point.size * 2:
            raise MapError(f"point {point.name}: {text!r} longer than {point.size * 2} bytes")
        data = info.to_data(text, point.size * 2)
    else:
        lo, hi = _INT_RANGES.get(point.type, (None, None))
        value = int(raw)
        if point.type in _ACC_TYPES:
            value %= 2 ** (16 * point.size)  # accumulators roll over
        elif lo is not None and not lo - 1 <= value <= hi + 1:
            raise MapError(f"point {point.name}: raw {value} outside {point.type} range")
        data = info.to_data(value, point.size * 2)
    regs = _bytes_to_regs(data)
    if len(regs) != point.size:
        raise MapError(f"point {point.name}: encoded {len(regs)} registers, expected {point.size}")
    return regs


def encode_model(model: ModelDef, raw: dict[str, RawValue]) -> list[int]:
    """A model's registers: ID, L, then every point (missing ones not implemented)."""
    unknown = set(raw) - set(model._by_name)
    if unknown:
        raise MapError(f"model {model.id} has no point(s) {sorted(unknown)}")
    regs: list[int] = []
    for p in model.points:
        if p.name == "ID":
            regs.append(model.id)
        elif p.name == "L":
            regs.append(model.length)
        else:
            regs.extend(encode_point(p, raw.get(p.name)))
    return regs


def decode_point(point: PointDef, regs: list[int]) -> RawValue:
    """Registers -> raw value; None for the not-implemented sentinel."""
    info = ss_mb.point_type_info[point.type]
    value = info.data_to(_regs_to_bytes(regs[: point.size]))
    if point.type == ss_mdef.TYPE_STRING:
        value = str(value).rstrip("\0")
        return value or None
    if point.type in _ACC_TYPES:
        # SunSpec reads an accumulator of 0 as "not implemented", but a meter
        # just rebooted (or new) legitimately reads 0 Wh: keep the number.
        return int(value)
    return value if is_implemented(point, value) else None


def decode_model(model: ModelDef, regs: list[int]) -> dict[str, RawValue]:
    """A model's registers (starting at its ID) -> raw values by point name."""
    if len(regs) < model.length + 2:
        raise MapError(f"model {model.id} needs {model.length + 2} registers, got {len(regs)}")
    if regs[0] != model.id or regs[1] != model.length:
        raise MapError(f"registers start with {regs[0]}/{regs[1]}, not model {model.id}")
    return {p.name: decode_point(p, regs[p.offset : p.offset + p.size]) for p in model.points}


def scaled_values(model: ModelDef, raw: dict[str, RawValue]) -> dict[str, float | int | str]:
    """Raw values -> physical values (scale factors applied; sentinels dropped)."""
    out: dict[str, float | int | str] = {}
    for p in model.points:
        value = raw.get(p.name)
        if value is None or p.type in (ss_mdef.TYPE_SUNSSF, ss_mdef.TYPE_PAD):
            continue
        if isinstance(value, str) or p.sf is None:
            out[p.name] = value
            continue
        sf_raw = raw.get(str(p.sf))
        if sf_raw is None:
            continue
        out[p.name] = from_raw(int(value), int(sf_raw))
    return out


# ---------------------------------------------------------------- device maps


@dataclass(frozen=True)
class DeviceLayout:
    """Where every model of one device sits, from BASE_ADDRESS to the end model."""

    model_ids: tuple[int, ...]

    @property
    def models(self) -> tuple[ModelDef, ...]:
        return tuple(model_def(m) for m in self.model_ids)

    def model_address(self, model_id: int) -> int:
        """Address of the model's ID register."""
        addr = BASE_ADDRESS + 2
        for m in self.models:
            if m.id == model_id:
                return addr
            addr += m.length + 2
        raise MapError(f"device has no model {model_id}")

    def point_address(self, model_id: int, point: str) -> int:
        return self.model_address(model_id) + model_def(model_id).point(point).offset

    @property
    def end_address(self) -> int:
        """Address of the end model's 0xFFFF register."""
        return BASE_ADDRESS + 2 + sum(m.length + 2 for m in self.models)

    @property
    def size(self) -> int:
        """Registers from BASE_ADDRESS through the end model's length register."""
        return self.end_address + 2 - BASE_ADDRESS

    def point_at(self, address: int) -> tuple[ModelDef, PointDef] | None:
        """The point whose registers include ``address`` (None for ID/L and markers)."""
        for m in self.models:
            start = self.model_address(m.id)
            if start <= address < start + m.length + 2:
                for p in m.points:
                    if start + p.offset <= address < start + p.offset + p.size:
                        return m, p
        return None

    def encode(self, raw: dict[int, dict[str, RawValue]]) -> list[int]:
        """The device's whole register image from BASE_ADDRESS."""
        regs = list(SUNS_MARKER)
        for m in self.models:
            regs.extend(encode_model(m, raw.get(m.id, {})))
        regs.extend([END_MODEL_ID, 0])
        return regs

    def decode(self, regs: list[int]) -> dict[int, dict[str, RawValue]]:
        """A register image from BASE_ADDRESS -> raw values per model id."""
        if tuple(regs[:2]) != SUNS_MARKER:
            raise MapError("no SunS marker at the base address")
        out: dict[int, dict[str, RawValue]] = {}
        for m in self.models:
            start = self.model_address(m.id) - BASE_ADDRESS
            out[m.id] = decode_model(m, regs[start : start + m.length + 2])
        end = self.end_address - BASE_ADDRESS
        if regs[end : end + 2] != [END_MODEL_ID, 0]:
            raise MapError("end model missing")
        return out
