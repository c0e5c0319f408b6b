"""The shipped default configs (package data): `bbw-bay run beibu_gulf` finds them by name."""
