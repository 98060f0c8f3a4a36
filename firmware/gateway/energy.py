"""Interval energy from cumulative counters, robust to resets and glitches.

A counter that goes backwards is a reset (a meter reboot restarts at 0):
the energy since the reset is the new value when that is physically
possible, else nothing. A counter that jumps further than the device's
rated power allows in the elapsed time is a glitch: it adds nothing and the
old base is kept, so when the counter comes back the energy in between is
counted once; three glitches in a row at consistent values mean the counter
really moved (a replaced meter) and we rebase. Interval energy can thus
never be negative, and never more than rating x time.
"""

REBASE_AFTER = 3


def limit_wh(max_w, dt_ms, resolution_wh):
    """Most energy a device rated `max_w` can move in dt_ms, with 2x margin and counter steps."""
    return (2 * max_w * max(dt_ms, 0)) // 3600000 + 2 * resolution_wh + 1


class CounterTrack:
    def __init__(self):
        self.last = None
        self.last_ts = 0
        self.glitches = 0

    def feed(self, value, ts_ms, max_w, resolution_wh=1):
        """New reading -> (energy Wh to book, event or None); event is "reset" or "glitch"."""
        if self.last is None:
            self.last, self.last_ts = value, ts_ms
            return 0, None
        lim = limit_wh(max_w, ts_ms - self.last_ts, resolution_wh)
        d = value - self.last
        if d < 0:
            self.last, self.last_ts, self.glitches = value, ts_ms, 0
            return (value if value <= lim else 0), "reset"
        if d > lim:
            self.glitches += 1
            if self.glitches >= REBASE_AFTER:
                self.last, self.last_ts, self.glitches = value, ts_ms, 0
            return 0, "glitch"
        self.last, self.last_ts, self.glitches = value, ts_ms, 0
        return d, None

    def plausible(self, value, ts_ms, max_w, resolution_wh=1):
        """Would `value` be booked without a glitch? (Resets count as plausible.)"""
        if self.last is None:
            return True
        return value - self.last <= limit_wh(max_w, ts_ms - self.last_ts, resolution_wh)


FIELDS = ("imp_wh", "exp_wh", "gen_wh", "chg_wh", "dis_wh")


def booking(kind, counter):
    """Which interval field a device's counter feeds: (kind, counter) -> field."""
    if kind == "meter":
        return "imp_wh" if counter == "e_imp_wh" else "exp_wh"
    if kind == "pv":
        return "gen_wh" if counter == "e_exp_wh" else None
    if kind == "battery":
        return "chg_wh" if counter == "e_imp_wh" else "dis_wh"
    return None


class IntervalAccount:
    """Sums booked energy per market interval of `length_s` seconds."""

    def __init__(self, length_s, now_ms):
        self.length_s = length_s
        self.start = self.start_of(now_ms)
        self.sums = dict((f, 0) for f in FIELDS)
        self.first = True  # the interval we started in is partial

    def start_of(self, ts_ms):
        s = ts_ms // 1000
        return s - s % self.length_s

    def add(self, field, wh):
        if field is not None and wh > 0:
            self.sums[field] += wh

    def roll(self, now_ms):
        """Close every interval that ended before now: list of (energy dict, partial?)."""
        out = []
        while self.start_of(now_ms) > self.start:
            e = dict(self.sums)
            e["interval"] = self.start
            out.append((e, self.first))
            self.first = False
            self.start += self.length_s
            for f in FIELDS:
                self.sums[f] = 0
        return out
