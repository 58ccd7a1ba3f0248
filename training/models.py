"""Tables of the training app; filled by its own issue."""
