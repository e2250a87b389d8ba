"""Thin command-line layers: parse options, call one library function, print the summary."""
