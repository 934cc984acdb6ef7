"""Response ids. A response is a segment of a turn's event log, so its id names the turn and
the event sequence number after which the segment starts: `resp_<turn>_<seq>`. Conversation
ids are thread ids (`thr_...`); item ids are threadline item ids."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TURN = re.compile(r"^turn_([0-9a-z]{26})$")
_RESPONSE = re.compile(r"^resp_([0-9a-z]{26})_(0|[1-9][0-9]{0,17})$")


@dataclass(frozen=True, kw_only=True)
class ResponseRef:
    turn_id: str
    after_seq: int  # the segment is the turn's events after this thread event seq

    @property
    def response_id(self) -> str:
        match = _TURN.match(self.turn_id)
        if match is None:
            raise ValueError(f"not a threadline turn id: {self.turn_id!r}")
        return f"resp_{match.group(1)}_{self.after_seq}"


def parse_response_id(response_id: str) -> ResponseRef | None:
    """The turn and segment a response id names, or None if it is not one of ours."""
    match = _RESPONSE.match(response_id)
    if match is None:
        return None
    return ResponseRef(turn_id="turn_" + match.group(1), after_seq=int(match.group(2)))
