"""`placement-webhook preview`: what a policy set would do to many pods at once.

Reads Pods, Lists of them (`kubectl get pods -A -o yaml`) and workloads (their pods built as
their controllers build them), runs the policy set on each pod, and prints a table or the pods.
"""
