"""One JSON object per line on stdout: what happened, when (clock ms), with numbers.

Lines are bounded (long texts are cut) so a flood of errors costs time but
no memory. The firmware fixture and the benchmarks parse these lines.
"""

import json

_clock = None
MAX_TEXT = 200


def set_clock(clock):
    global _clock
    _clock = clock


def log(ev, **kw):
    kw["ev"] = ev
    kw["t"] = _clock.now_ms() if _clock is not None else 0
    for k, v in kw.items():
        if isinstance(v, str) and len(v) > MAX_TEXT:
            kw[k] = v[:MAX_TEXT] + "..."
    try:
        print(json.dumps(kw))
    except Exception:
        print('{"ev":"log_error"}')
