"""The terminal screens: shared keys and layout (`terminal`), review, drill and mock."""
