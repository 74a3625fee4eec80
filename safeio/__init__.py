"""Input and output that hostile files and environments cannot turn into tracebacks, hangs or
half-written files; shared by `derive` and `mnist`, so it depends on neither."""
