"""SunSpec discovery and decoding with scale factors, in integers.

Register decoding only: functions take register lists and return values, so
they are tested without a bus. Offsets are from the SunSpec information
models (the same JSON definitions pysunspec2 ships), counted from a model's
ID register. Scale factors are applied in integer arithmetic (a value
times 10**sf, rounded to nearest with ties away from zero for negative sf,
the rule the edge uses too: docs/firmware.md says why) because what we
derive from them is hashed and cleared.
"""

BASES = (40000, 0, 50000)
SUNS = (0x5375, 0x6E53)
END = 0xFFFF

# model id -> {point: (offset, type, sf point or None)}
_METER = {"W": (18, "int16", "W_SF"), "W_SF": (22, "sunssf", None),
          "TotWhExp": (38, "acc32", "TotWh_SF"), "TotWhImp": (46, "acc32", "TotWh_SF"),
          "TotWh_SF": (54, "sunssf", None)}
_INVERTER = {"W": (14, "int16", "W_SF"), "W_SF": (15, "sunssf", None),
             "WH": (24, "acc32", "WH_SF"), "WH_SF": (26, "sunssf", None)}
POINTS = {
    201: _METER, 202: _METER, 203: _METER, 204: _METER,
    101: _INVERTER, 102: _INVERTER, 103: _INVERTER,
    124: {"InOutWRte_RvrtTms": (15, "uint16", None), "WChaMax": (2, "uint16", "WChaMax_SF"), "StorCtl_Mod": (5, "bitfield16", None),
          "ChaState": (8, "uint16", "ChaState_SF"), "OutWRte": (12, "int16", "InOutWRte_SF"),
          "InWRte": (13, "int16", "InOutWRte_SF"), "WChaMax_SF": (18, "sunssf", None),
          "ChaState_SF": (22, "sunssf", None), "InOutWRte_SF": (25, "sunssf", None)},
    802: {"SoCMax": (7, "uint16", "SoC_SF"), "SoCMin": (8, "uint16", "SoC_SF"),
          "SoC": (11, "uint16", "SoC_SF"), "W": (47, "int16", "W_SF"),
          "SoC_SF": (56, "sunssf", None), "W_SF": (63, "sunssf", None)},
}
#: points returned in per-mille instead of percent (one more decimal)
PER_MILLE = ("ChaState", "SoC", "SoCMax", "SoCMin")
_NI = {"int16": 0x8000, "uint16": 0xFFFF, "sunssf": 0x8000, "bitfield16": 0xFFFF}


class SunSpecError(Exception):
    pass


def raw_point(regs, offset, ptype):
    """The raw integer of one point (None = SunSpec "not implemented")."""
    if ptype == "acc32":
        return (regs[offset] << 16) | regs[offset + 1]  # 0 is a real reading for a counter
    v = regs[offset]
    if v == _NI[ptype]:
        return None
    if ptype in ("int16", "sunssf") and v & 0x8000:
        v -= 0x10000
    return v


def scale(raw, sf):
    """raw * 10**sf in integers, rounded half away from zero (as unscale, and the edge)."""
    if sf >= 0:
        return raw * 10 ** sf
    d = 10 ** (-sf)
    q = (abs(raw) + d // 2) // d
    return -q if raw < 0 else q


def decode_model(model_id, regs):
    """Registers from the model's ID register -> {point: scaled integer} (missing = absent)."""
    table = POINTS[model_id]
    if regs[0] != model_id:
        raise SunSpecError("expected model %d, found %d" % (model_id, regs[0]))
    out = {}
    for name, (off, ptype, sfp) in table.items():
        if ptype == "sunssf":
            continue
        if off >= len(regs):
            raise SunSpecError("model %d truncated before %s" % (model_id, name))
        raw = raw_point(regs, off, ptype)
        if raw is None:
            continue
        if sfp is not None:
            sf = raw_point(regs, table[sfp][0], "sunssf")
            if sf is None or not -10 <= sf <= 10:
                continue  # a value without a valid scale factor is no value
            raw = scale(raw, sf + 1 if name in PER_MILLE else sf)
        out[name] = raw
    return out


def sf_of(model_id, regs, sf_point):
    return raw_point(regs, POINTS[model_id][sf_point][0], "sunssf")


def unscale(value, sf):
    """Physical integer -> register integer for writes (rounded half away from zero)."""
    if sf <= 0:
        return value * 10 ** (-sf)
    d = 10 ** sf
    q = (abs(value) + d // 2) // d
    return -q if value < 0 else q


async def discover(read, wanted=None):
    """Walk the model chain: {model_id: (address of ID register, length L)}.

    `read(address, count)` is the transport's read of holding registers.
    """
    last = None
    for base in BASES:
        try:
            regs = await read(base, 2)
        except Exception as e:  # noqa - try the next base, report the last failure
            last = e
            if getattr(e, "kind", "") == "timeout":
                raise
            continue
        if tuple(regs) == SUNS:
            break
    else:
        raise SunSpecError("no SunS marker at 40000, 0 or 50000 (%r)" % (last,))
    models = {}
    addr = base + 2
    for _ in range(32):
        mid, length = await read(addr, 2)
        if mid == END:
            return models
        if wanted is None or mid in wanted:
            models[mid] = (addr, length)
        addr += 2 + length
    raise SunSpecError("model chain longer than 32 models")
