"""The Weir operator: CRDs, rendering Flows into workloads, reconciling them with kopf."""
