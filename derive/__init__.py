"""Backpropagation derived symbolically with SymPy: equations, proofs, tables and sheets."""
