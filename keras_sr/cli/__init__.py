"""The ``keras-sr`` command line: a thin layer over library calls."""
