"""Every Numba kernel of bbw_bay (the only place numba is imported); NumPy twins live in
`bbw_bay.core.reference`."""
