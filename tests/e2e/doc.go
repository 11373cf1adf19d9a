// Package e2e is the end-to-end suite of the GBA bootstrapping of TS 33.220 §4.5: Ub
// (TS 24.109), Zh and Zn (TS 29.109) and Ua, run against the real nodes in-process
// (internal/testbed) and as processes (cmd/bsf, cmd/hss-sim, redis-server), with every
// captured log searched for key material and the wire decoded by tshark.
package e2e
