"""Where things are: switch layouts within a data centre, data centres and their WAN."""
