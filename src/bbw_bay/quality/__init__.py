"""Water quality judged against GB 3097-1997: the standard as data, evaluation zones and the
per-zone class shares and pass/fail."""
