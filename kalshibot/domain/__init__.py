"""Pure domain types and functions: no I/O, no clock, no float money."""
