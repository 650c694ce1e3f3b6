"""Where the parent history replayed into a forked or subagent rollout ends.

A child rollout starts with its own ``session_meta``, then Codex copies the
parent's rollout into it, the parent's ``session_meta`` and ``token_count``
events included, then the child's own turns follow. The copy is one burst
written when the child is created; depending on the version its lines keep
their original timestamps (all before the fork) or are stamped when written
(all within milliseconds after it). No marker closes it, so the first of these
ends it:

* the child's own ``session_meta`` written again;
* a turn whose id (a UUIDv7, minted when the turn began) is not older than the
  child thread itself: replayed turns all predate the fork;
* with original timestamps, the first line stamped at or after the fork;
* with rewritten timestamps, the first line more than a second after the line
  before it: the burst is over.

While it lasts, only the model and the cumulative total are followed, so that
the child's first call is measured from the parent's last total.
"""

from __future__ import annotations

from analyzer.api import parse_iso

BURST_GAP_SECONDS = 1.0


def uuid7_ms(value) -> float | None:
    """The creation time (epoch ms) inside a UUIDv7, or None for any other id."""
    if not isinstance(value, str):
        return None
    digits = value.replace("-", "")
    if len(digits) != 32 or digits[12] != "7":
        return None
    try:
        return float(int(digits[:12], 16))
    except ValueError:
        return None


def _ms(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        return parse_iso(ts).timestamp() * 1000.0
    except ValueError:
        return None


def remember_fork_instant(sid: str, ts: str | None, state: dict) -> None:
    """The child thread's creation: its id's time when it is a UUIDv7, else its header's."""
    if ts:
        state["fts"] = ts
    fork_ms = uuid7_ms(sid) or _ms(ts)
    if fork_ms is not None:
        state["fms"] = fork_ms


def begin(ts: str | None, state: dict) -> None:
    """A foreign ``session_meta``: the replay starts; its timestamp says which kind."""
    fork_ts = state.get("fts")
    state["rp"] = "p" if ts and fork_ts and ts < fork_ts else "r"
    state["rprev"] = ts


def ends(kind: str, payload: dict, ts: str | None, state: dict) -> bool:
    """Does this line end the replay? (If not, it is remembered as the burst's last.)"""
    done = False
    if kind == "session_meta" and payload.get("id") and payload.get("id") == state.get("sid"):
        done = True
    elif _own_turn(kind, payload, state):
        done = True
    elif ts and state.get("rp") == "p":
        done = bool(state.get("fts")) and ts >= state["fts"]
    elif ts and state.get("rprev"):
        now, before = _ms(ts), _ms(state["rprev"])
        done = now is not None and before is not None and now - before > BURST_GAP_SECONDS * 1000
    if done:
        state.pop("rp", None)
        state.pop("rprev", None)
    elif ts:
        state["rprev"] = ts
    return done


def _own_turn(kind: str, payload: dict, state: dict) -> bool:
    if kind == "turn_context":
        turn = payload.get("turn_id")
    elif kind == "event_msg" and payload.get("type") in ("task_started", "turn_started"):
        turn = payload.get("turn_id")
    else:
        return False
    minted = uuid7_ms(turn)
    return minted is not None and state.get("fms") is not None and minted >= state["fms"]
