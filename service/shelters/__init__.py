"""Assembly points, shelters and posko of a community (participatory mapping)."""
