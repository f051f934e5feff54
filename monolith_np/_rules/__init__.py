"""The rule layer: plain formulas and jitable helpers, compiled for the CPU by the public modules and for the GPU by monolith_np.cuda. Imports nothing but the core modules."""
