"""One module per stage declaring its inputs and outputs (see :mod:`shipyard.spec`); ``pipeline`` declares the
root action (the whole pipeline) on top of them."""
