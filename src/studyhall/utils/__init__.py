"""Small utilities shared by every layer."""
