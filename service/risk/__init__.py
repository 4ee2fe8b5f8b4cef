"""risk domain."""
