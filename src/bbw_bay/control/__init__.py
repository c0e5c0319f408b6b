"""Load control: response coefficients and apportionment, allowable loads (capacity), scenarios,
Monte Carlo ensembles and their executors."""
