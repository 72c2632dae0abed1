"""The Mesa agents of a replab model: data nodes, switches, the DB load balancer,
client sessions and the failure detector (and the peer nodes of leader-leader)."""

from replab.agents.balancer import LoadBalancer
from replab.agents.controller import FailoverController
from replab.agents.node import DataNode
from replab.agents.peer import PeerNode
from replab.agents.session import ClientSession
from replab.agents.switch import Switch

__all__ = ["ClientSession", "DataNode", "FailoverController", "LoadBalancer", "PeerNode", "Switch"]
