"""A local GenieACS 1.2 NBI test double: store, CWMP sessions and a simulated CPE."""
