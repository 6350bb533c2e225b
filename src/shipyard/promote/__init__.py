"""promote: open one pull request (or one per wave) that sets the target environment's overlays to the exact
digests running Healthy in the source environment. ``config`` reads promotion.yaml, ``plan`` applies the gates,
``edit`` rewrites the overlays byte for byte, ``body`` writes the PR text and ``publish`` pushes and opens it."""
