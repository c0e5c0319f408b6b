"""The shipped forcing files of the embedded Beibu Gulf (package data; provenance in the
README-style .md files beside them). Read them through `bbw_bay.gulf.data`."""
