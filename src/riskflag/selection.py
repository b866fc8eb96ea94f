"""The one capacity selection: who each team is given, used by the nightly run and by evaluation,
so that an evaluation's precision at capacity is the precision of the list a caseworker receives."""
