"""Deciding whether a policy applies to a pod: clauses compiled once per policy set (`clauses`),
what they read from the pod (`facts`), and the index that skips most policies (`index`)."""
