"""ArgoCD: wait until applications are Synced at (a descendant of) our config-repo commit and Healthy."""
