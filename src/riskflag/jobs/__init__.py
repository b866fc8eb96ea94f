"""Jobs: the only modules that compose several stages (the nightly run, training, the linkage
replay, the demo). Each takes a config and an explicit as-of date and returns a typed result the
CLI renders."""
