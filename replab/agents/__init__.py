"""The Mesa agents of a replab model: data nodes, switches, the DB load balancer,
client sessions and the failover controller (peer nodes and a controller that promotes
nobody for leader-leader)."""

from replab.agents.balancer import LoadBalancer
from replab.agents.controller import BuddyController, FailoverController, PeerController
from replab.agents.node import DataNode
from replab.agents.peer import PeerNode
from replab.agents.session import ClientSession
from replab.agents.switch import Switch
from replab.core.operation import Op

__all__ = ["BuddyController", "ClientSession", "DataNode", "FailoverController", "LoadBalancer", "Op", "PeerController", "PeerNode",
           "Switch"]
