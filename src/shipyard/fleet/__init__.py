"""Fleet: every service repository of an organisation on the current Shipyard pipeline.

Calls go one way: stage -> (inventory, plan, apply, checks, report) -> client -> shipyard.http.
"""
