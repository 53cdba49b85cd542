"""The placement proof: run a policy set on representative pods and check, against the set's
NodePools, that every pod it places can run and that pods kept off spot are."""

from webhook.proof.prove import Proof, compile_proven, prove_placement

__all__ = ["Proof", "compile_proven", "prove_placement"]
