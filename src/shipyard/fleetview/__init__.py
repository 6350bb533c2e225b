"""What runs where: the config repository's overlays, Argo CD's live state and ECR, read once for a fleet.

Calls go one way: ``layout`` -> ``configrepo`` -> ``overlays``; ``argo``; ``registry``; ``fleet`` joins them.
The deploy board and the promote stage both read the fleet through :mod:`shipyard.fleetview.fleet`.
"""
