"""deploy-board: services x environments/clusters from the config repository, Argo CD and ECR, as one
self-contained HTML page and a markdown summary. ``view`` shapes the cells; ``html`` and ``markdown`` render."""
