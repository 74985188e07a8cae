"""Pure rules of the notifier: no I/O, no clocks read (time is always passed in)."""
