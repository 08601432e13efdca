"""The `mtrain` command line. Importing it must stay light: no torch, ray or matplotlib."""
