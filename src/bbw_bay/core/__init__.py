"""The numerical core: grids, flows, sources, the transport kernels and solver, steady solves,
the model (state and one step), the simulation (run loop), output files and verification cases.

Nothing here knows about the Beibu Gulf: every module works on any grid a user builds.
"""
