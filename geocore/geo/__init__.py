"""Geography of the method: S2 and semantic partitionings, their hierarchy, distances and accuracy tables."""
