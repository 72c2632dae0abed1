"""The history a realistic failover leaves: who believed it led, and when; writes cut from logs; degraded acks.

Recorded by replab.replication.terms, read by replab.analysis.split_brain (the damage, and
an independent check of it) and the leadership charts. Labels join the shared codes when
this module is imported (always, through the strategy registry), so their numbers never move.
"""

from __future__ import annotations

from replab.core.codes import LOST_REASONS, REASONS, Codes
from replab.core.recorder import NODE, Column, Table

SPLIT_BRAIN = LOST_REASONS.add("accepted by a deposed leader (split brain)")
TOO_FEW_REPLICAS = REASONS.add("too few replicas")

LEAD_CAUSES = Codes("why a node began or stopped leading", "start of the run", "promoted", "elected", "newer term",
                    "lease expired", "told to follow", "restarted as a follower")
START, PROMOTED, ELECTED, NEWER_TERM, LEASE_EXPIRED, TOLD, RESTARTED = range(7)

LEADERSHIP = Table("leadership", (
    Column("t_ms", "d", "when"),
    Column("node", "h", "the node", NODE),
    Column("term", "i", "the term it leads, or the newer term it learnt of"),
    Column("leading", "b", "1: it began to believe it leads; 0: it stopped"),
    Column("cause", "b", "why", LEAD_CAUSES),
), "realistic failover: a row each time a node began or stopped believing it leads")

DISCARDS = Table("discards", (
    Column("write_id", "q", "the write cut"),
    Column("node", "h", "the node whose log it was cut from", NODE),
    Column("t_ms", "d", "when"),
    Column("receipts_before", "q", "receipt rows recorded before it (orders it among the receipts of its instant)"),
), "realistic failover: a row per (write, node) cut from that node's log when it rejoined a leader whose log went another way")

DEGRADED = Table("degraded", (
    Column("write_id", "q", "the write"),
    Column("t_ms", "d", "when its leader acknowledged it without the receipts its ack mode waits for"),
), "realistic failover: writes acknowledged by semi-sync's fallback to async")
