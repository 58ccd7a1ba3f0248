"""Tables of the nlp app; filled by its own issue."""
