"""qplane-repeaters: quantum-repeater generations beyond the first (issue 16)."""
