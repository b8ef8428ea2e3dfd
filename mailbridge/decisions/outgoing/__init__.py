"""outgoing."""
