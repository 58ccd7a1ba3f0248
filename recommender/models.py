"""Tables of the recommender app; filled by its own issue."""
